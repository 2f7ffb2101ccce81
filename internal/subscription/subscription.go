// Package subscription reads the event log for subscribers: filters and
// their limits, start positions and cursor checks, the catch-up from the
// log and its seam with the live fan-out hub, bookmarks, and pages.
//
// Guarantees: within one subscription events arrive in log order with no
// gaps and no duplicates, across the seam between the catch-up and the live
// feed, and again when a subscriber that fell behind the hub catches up
// from the log; a bookmark for sequence N means every matching event up to
// N was sent; a cursor outside the retained log is a *CursorError, never a
// silent gap. A Service is safe for concurrent use. Close ends every open
// subscription with ErrShuttingDown and refuses new ones.
//
// The package knows nothing of gRPC or HTTP: transports translate its
// errors (server/errors.go).
package subscription

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/fanout"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Defaults and bounds.
const (
	// DefaultBookmarkInterval is the bookmark interval of a subscription
	// that asks for none.
	DefaultBookmarkInterval = 15 * time.Second
	// MinBookmarkInterval and MaxBookmarkInterval clamp what a
	// subscription asks for.
	MinBookmarkInterval = time.Second
	MaxBookmarkInterval = 5 * time.Minute
	// DefaultMaxSubscriptions caps open subscriptions: at about 19 KiB each
	// (BenchmarkIdleSubscribers) it bounds them to some 200 MiB.
	DefaultMaxSubscriptions = 10000
)

// Errors.
var (
	// ErrShuttingDown ends the open subscriptions when the Service closes;
	// clients resume from their last sequence.
	ErrShuttingDown = errors.New("server shutting down; resume from the last sequence you received")
)

// CursorError is a start cursor outside the retained log.
type CursorError struct {
	// Expired is true when events after the cursor are no longer retained,
	// false when the cursor is beyond the end of the log.
	Expired bool
	// Earliest and Latest are the log's first and last sequences.
	Earliest, Latest uint64
}

func (e *CursorError) Error() string {
	if e.Expired {
		return fmt.Sprintf("cursor expired: events after it are no longer retained; earliest available sequence is %d", e.Earliest)
	}
	return fmt.Sprintf("cursor is beyond the end of the log (latest sequence %d)", e.Latest)
}

// InvalidArgumentError is a request the client must fix.
type InvalidArgumentError struct{ Msg string }

func (e *InvalidArgumentError) Error() string { return e.Msg }

func invalidArgument(format string, args ...any) error {
	return &InvalidArgumentError{Msg: fmt.Sprintf(format, args...)}
}

// LimitError refuses a subscription beyond the open-subscription cap.
type LimitError struct{ Limit int }

func (e *LimitError) Error() string {
	return fmt.Sprintf("too many open subscriptions (limit %d); retry later or close idle subscriptions", e.Limit)
}

// Log is what the Service needs of the event log. *eventlog.Log
// implements it.
type Log interface {
	Bounds(ctx context.Context) (first, last uint64, err error)
	Read(ctx context.Context, start eventlog.Start, filters []string, upTo uint64, fn func(*hooklinev1.Event) error) (uint64, error)
	SubjectPrefix() string
}

var _ Log = (*eventlog.Log)(nil)

// Config configures a Service.
type Config struct {
	// Log is the event log. Required.
	Log Log
	// Hub is the live fan-out the log follower publishes to. Required.
	Hub *fanout.Hub
	// BookmarkInterval is the default bookmark interval. Default
	// DefaultBookmarkInterval.
	BookmarkInterval time.Duration
	// MaxSubscriptions caps open subscriptions; one more is refused with a
	// *LimitError. Default DefaultMaxSubscriptions.
	MaxSubscriptions int
	// Superseded reports whether a corrected event supersedes the event id,
	// for filters with exclude_superseded. Nil: none is.
	Superseded func(id string) bool
	// OnLiveSend, when set, is called after each event sent from the live
	// feed (not while catching up from the log), for the end-to-end
	// latency metric. It must not block.
	OnLiveSend func(transport string, ev *hooklinev1.Event)
	// Now returns the current time, for the lag figures. Default time.Now.
	Now func() time.Time
}

// Service runs subscriptions and lists; see the package documentation.
type Service struct {
	log              Log
	hub              *fanout.Hub
	superseded       func(id string) bool
	onLiveSend       func(transport string, ev *hooklinev1.Event)
	now              func() time.Time
	bookmarkInterval time.Duration
	maxSubscriptions int

	mu      sync.Mutex
	open    map[*progress]context.CancelCauseFunc // open subscriptions, for Close and Stats
	closed  bool
	refused int64
}

// progress is where one open subscription stands, for Stats: read by
// Stats while the subscription's own goroutine writes it.
type progress struct {
	transport string
	opened    time.Time
	// cursor is the last sequence sent or covered by a bookmark; target is
	// the join point while catching up from the log (0 when live).
	cursor, target atomic.Uint64
	// sentReceived is the receive time (Unix nanoseconds) of the last
	// event sent, 0 before the first.
	sentReceived atomic.Int64
	// hub is the subscriber registered with the live hub, whose buffer
	// holds the matching events not yet sent.
	hub atomic.Pointer[fanout.Subscriber]
}

// lag returns how many events the subscription has yet to send (an upper
// bound while it catches up: every event up to the join point counts,
// matching or not) and, when that is more than none, the age of the
// newest event it was sent (or of the subscription, before the first).
func (p *progress) lag(now time.Time) (events uint64, age time.Duration) {
	if target, cursor := p.target.Load(), p.cursor.Load(); target > cursor {
		events = target - cursor
	}
	if sub := p.hub.Load(); sub != nil {
		events += uint64(len(sub.C))
	}
	if events == 0 {
		return 0, 0
	}
	since := p.opened
	if ns := p.sentReceived.Load(); ns != 0 {
		since = time.Unix(0, ns)
	}
	return events, max(now.Sub(since), 0)
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.BookmarkInterval <= 0 {
		cfg.BookmarkInterval = DefaultBookmarkInterval
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if cfg.Superseded == nil {
		cfg.Superseded = func(string) bool { return false }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{
		log: cfg.Log, hub: cfg.Hub, bookmarkInterval: cfg.BookmarkInterval, maxSubscriptions: cfg.MaxSubscriptions,
		superseded: cfg.Superseded, onLiveSend: cfg.OnLiveSend, now: cfg.Now,
		open: map[*progress]context.CancelCauseFunc{},
	}
}

// Stats are the Service's gauges.
type Stats struct {
	// Open is the number of open subscriptions.
	Open int
	// Refused counts subscriptions refused at the cap.
	Refused int64
	// Lagged counts subscribers moved to catching up from the log because
	// they fell behind the live feed.
	Lagged int64
	// OpenBy is the number of open subscriptions by transport (the name
	// given to Open).
	OpenBy map[string]int
	// MaxLagEvents is the largest number of events an open subscription
	// has yet to send (see MaxLagAge).
	MaxLagEvents uint64
	// MaxLagAge is the largest age, among the open subscriptions with
	// events yet to send, of the newest event each was sent: how far
	// behind the live edge the most lagging subscriber reads.
	MaxLagAge time.Duration
}

// Stats returns the current gauges.
func (s *Service) Stats() Stats {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Open: len(s.open), Refused: s.refused, Lagged: s.hub.LaggedTotal(), OpenBy: map[string]int{}}
	for p := range s.open {
		st.OpenBy[p.transport]++
		events, age := p.lag(now)
		st.MaxLagEvents = max(st.MaxLagEvents, events)
		st.MaxLagAge = max(st.MaxLagAge, age)
	}
	return st
}

// Close ends every open subscription with ErrShuttingDown and makes new
// ones fail with it. It does not wait for them to return.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, cancel := range s.open {
		cancel(ErrShuttingDown)
	}
}

// admit takes one of the open-subscription slots for a subscription whose
// context cancel ends, or refuses it. The caller calls release when the
// subscription ends.
func (s *Service) admit(p *progress, cancel context.CancelCauseFunc) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, ErrShuttingDown
	case len(s.open) >= s.maxSubscriptions:
		s.refused++
		return nil, &LimitError{Limit: s.maxSubscriptions}
	}
	s.open[p] = cancel
	return func() {
		s.mu.Lock()
		delete(s.open, p)
		s.mu.Unlock()
	}, nil
}

// CheckRequest returns the error Subscribe would fail with before sending
// anything (an invalid filter or start, a cursor outside the log), so that
// a transport can answer it with an error status instead of an empty
// stream.
func (s *Service) CheckRequest(ctx context.Context, req *hooklinev1.SubscribeRequest) error {
	if err := ValidateFilter(req.GetFilter()); err != nil {
		return err
	}
	switch st := req.GetStart().(type) {
	case *hooklinev1.SubscribeRequest_AfterSequence:
		return s.checkCursor(ctx, st.AfterSequence)
	case *hooklinev1.SubscribeRequest_StartTime:
		if err := st.StartTime.CheckValid(); err != nil {
			return invalidArgument("start_time: %v", err)
		}
	}
	return nil
}

// Subscription is one admitted subscription; Run sends its frames and
// Close releases its slot.
type Subscription struct {
	s       *Service
	ctx     context.Context
	cancel  context.CancelCauseFunc
	release func()
	req     *hooklinev1.SubscribeRequest
	p       *progress
}

// Open checks req (CheckRequest) and takes one of the open-subscription
// slots for it, or refuses it with a *LimitError (or ErrShuttingDown).
// transport names the caller's transport (`grpc`, `rest`, `sse`) in Stats.
// The subscription lives until ctx ends or Close is called; Close must be
// called.
func (s *Service) Open(ctx context.Context, transport string, req *hooklinev1.SubscribeRequest) (*Subscription, error) {
	if err := s.CheckRequest(ctx, req); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	p := &progress{transport: transport, opened: s.now()}
	release, err := s.admit(p, cancel)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	return &Subscription{s: s, ctx: ctx, cancel: cancel, release: release, req: req, p: p}, nil
}

// Close releases the subscription's slot and ends a Run in progress.
func (sub *Subscription) Close() {
	sub.cancel(nil)
	sub.release()
}

// Run sends the subscription's frames until its context ends (nil), the
// Service closes (ErrShuttingDown) or send fails (its error): it resolves
// the start, catches up from the log to the point where it joined the live
// hub, then forwards live events, with bookmarks every interval. Events are
// sent in log order with no gaps or duplicates: at the seam between the
// log and the live buffer it skips what it already sent, and when the hub
// drops it for falling behind it catches up from the log again.
func (sub *Subscription) Run(send func(*hooklinev1.SubscribeResponse) error) error {
	err := sub.s.run(sub.ctx, sub.req, sub.p, send)
	if cause := context.Cause(sub.ctx); errors.Is(cause, ErrShuttingDown) {
		return ErrShuttingDown
	}
	if sub.ctx.Err() != nil {
		return nil
	}
	return err
}

// Subscribe opens a subscription, runs it and closes it.
func (s *Service) Subscribe(ctx context.Context, transport string, req *hooklinev1.SubscribeRequest, send func(*hooklinev1.SubscribeResponse) error) error {
	sub, err := s.Open(ctx, transport, req)
	if err != nil {
		return err
	}
	defer sub.Close()
	return sub.Run(send)
}

func bookmarkInterval(req *hooklinev1.SubscribeRequest, def time.Duration) time.Duration {
	d := def
	if bi := req.GetBookmarkInterval(); bi != nil {
		d = bi.AsDuration()
	}
	return min(max(d, MinBookmarkInterval), MaxBookmarkInterval)
}

func (s *Service) run(ctx context.Context, req *hooklinev1.SubscribeRequest, p *progress, send func(*hooklinev1.SubscribeResponse) error) error {
	filter := fanout.NewFilter(req.GetFilter())
	subjects := FilterSubjects(s.log.SubjectPrefix(), req.GetFilter())
	interval := bookmarkInterval(req, s.bookmarkInterval)

	var cursor uint64
	var startTime time.Time
	latest := false
	switch st := req.GetStart().(type) {
	case *hooklinev1.SubscribeRequest_AfterSequence:
		cursor = st.AfterSequence
	case *hooklinev1.SubscribeRequest_StartTime:
		startTime = st.StartTime.AsTime()
	case *hooklinev1.SubscribeRequest_Position:
		if st.Position == hooklinev1.StartPosition_START_POSITION_EARLIEST {
			first, _, err := s.log.Bounds(ctx)
			if err != nil {
				return err
			}
			// An empty stream reports first = 0.
			cursor = max(first, 1) - 1
		} else {
			latest = true
		}
	default:
		latest = true
	}

	// The log finds a start time by its own store times, which follow the
	// gateway's receive times by the append: an event received just before
	// the start time can be stored after it, and is left out here.
	received := startTime
	exclude := req.GetFilter().GetExcludeSuperseded()
	live := false
	emit := func(ev *hooklinev1.Event) error {
		if ev.GetSequence() <= cursor || !filter.Match(ev) {
			return nil
		}
		if !received.IsZero() && ev.GetReceiveTime().AsTime().Before(received) {
			return nil
		}
		if exclude && s.superseded(ev.GetId()) {
			return nil
		}
		if err := send(&hooklinev1.SubscribeResponse{Frame: &hooklinev1.SubscribeResponse_Event{Event: ev}}); err != nil {
			return err
		}
		cursor = ev.GetSequence()
		p.cursor.Store(cursor)
		p.sentReceived.Store(ev.GetReceiveTime().AsTime().UnixNano())
		if live && s.onLiveSend != nil {
			s.onLiveSend(p.transport, ev)
		}
		return nil
	}
	bookmark := func(seq uint64) error {
		p.cursor.Store(seq)
		return send(&hooklinev1.SubscribeResponse{Frame: &hooklinev1.SubscribeResponse_Bookmark{Bookmark: &hooklinev1.Bookmark{
			Sequence: seq, CreateTime: timestamppb.Now(),
		}}})
	}

	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		sub := s.hub.Subscribe(filter)
		if latest {
			cursor, latest = sub.JoinSeq, false
		}
		p.cursor.Store(cursor)
		p.target.Store(sub.JoinSeq)
		p.hub.Store(sub)
		live = false
		// Catch up from the log to the join point.
		var err error
		switch {
		case !startTime.IsZero():
			_, err = s.log.Read(ctx, eventlog.Start{Time: startTime}, subjects, sub.JoinSeq, emit)
			startTime = time.Time{}
		case cursor < sub.JoinSeq:
			if err = s.checkCursor(ctx, cursor); err == nil {
				_, err = s.log.Read(ctx, eventlog.Start{AfterSequence: cursor}, subjects, sub.JoinSeq, emit)
			}
		}
		if err == nil {
			cursor = max(cursor, sub.JoinSeq)
			err = bookmark(cursor)
		}
		if err != nil {
			s.hub.Unsubscribe(sub)
			p.hub.Store(nil)
			return err
		}
		// Live.
		p.target.Store(0)
		live = true
		lagged, err := s.live(ctx, sub, ticker, emit, bookmark, &cursor)
		s.hub.Unsubscribe(sub)
		p.hub.Store(nil)
		if err != nil || !lagged {
			return err
		}
	}
}

// live forwards events from the hub until ctx ends, sending fails or the
// hub drops the subscriber (lagged = true).
func (s *Service) live(ctx context.Context, sub *fanout.Subscriber, ticker *time.Ticker,
	emit func(*hooklinev1.Event) error, bookmark func(uint64) error, cursor *uint64) (lagged bool, err error) {
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case ev, ok := <-sub.C:
			if !ok {
				return s.hub.Lagged(sub), nil
			}
			if err := emit(ev); err != nil {
				return false, err
			}
		case <-ticker.C:
			// Every matching event up to last is already in the buffer:
			// drain it, then the bookmark covers last.
			last := s.hub.Last()
			for drained := false; !drained; {
				select {
				case ev, ok := <-sub.C:
					if !ok {
						return s.hub.Lagged(sub), nil
					}
					if err := emit(ev); err != nil {
						return false, err
					}
				default:
					drained = true
				}
			}
			*cursor = max(*cursor, last)
			if err := bookmark(*cursor); err != nil {
				return false, err
			}
		}
	}
}

// checkCursor fails with a *CursorError when events after cursor are no
// longer retained, or when cursor is beyond the end of the log.
func (s *Service) checkCursor(ctx context.Context, cursor uint64) error {
	first, last, err := s.log.Bounds(ctx)
	if err != nil {
		return err
	}
	if cursor+1 < first {
		return &CursorError{Expired: true, Earliest: first, Latest: last}
	}
	if cursor > last {
		return &CursorError{Earliest: first, Latest: last}
	}
	return nil
}
