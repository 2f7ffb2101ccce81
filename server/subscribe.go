package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/fanout"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Bookmark interval bounds and default.
const (
	defaultBookmarkInterval = 15 * time.Second
	minBookmarkInterval     = time.Second
	maxBookmarkInterval     = 5 * time.Minute
)

// defaultMaxSubscriptions is the default cap on open subscriptions: at
// about 19 KiB each (BenchmarkIdleSubscribers) it bounds them to some
// 200 MiB.
const defaultMaxSubscriptions = 10000

// tooManySubscriptionsError refuses a subscription beyond the cap.
type tooManySubscriptionsError struct{ limit int64 }

func (e *tooManySubscriptionsError) Error() string {
	return fmt.Sprintf("too many open subscriptions (limit %d)", e.limit)
}

// admit takes one of the open-subscription slots, or refuses with
// tooManySubscriptionsError. The caller calls release when the subscription
// ends.
func (s *Server) admit() (release func(), err error) {
	if n := s.gauges.subscribers.Add(1); n > s.maxSubscriptions {
		s.gauges.subscribers.Add(-1)
		s.gauges.refused.Add(1)
		return nil, &tooManySubscriptionsError{s.maxSubscriptions}
	}
	return func() { s.gauges.subscribers.Add(-1) }, nil
}

// maxFilterSubjects caps the NATS filter subjects built from one filter;
// beyond it the read uses broader subjects and filters in process.
const maxFilterSubjects = 64

func bookmarkInterval(req *hooklinev1.SubscribeRequest, def time.Duration) time.Duration {
	d := def
	if bi := req.GetBookmarkInterval(); bi != nil {
		d = bi.AsDuration()
	}
	return min(max(d, minBookmarkInterval), maxBookmarkInterval)
}

// subscribe runs one subscription, admitted by the caller (admit), until
// ctx ends or send fails: it resolves
// the start, catches up from the log to the point where it joined the live
// hub, then forwards live events, with bookmarks every interval. Events are
// sent in log order with no gaps or duplicates: at the seam between the log
// and the live buffer it skips what it already sent, and when the hub drops
// it for falling behind it catches up from the log again.
func (s *Server) subscribe(ctx context.Context, req *hooklinev1.SubscribeRequest, send func(*hooklinev1.SubscribeResponse) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.streams, cancel)()
	err := s.runSubscription(ctx, req, send)
	if s.streams.Err() != nil {
		return errShuttingDown
	}
	return err
}

// errShuttingDown ends subscriptions when the server stops.
var errShuttingDown = errors.New("server shutting down")

func (s *Server) runSubscription(ctx context.Context, req *hooklinev1.SubscribeRequest, send func(*hooklinev1.SubscribeResponse) error) error {
	filter := fanout.NewFilter(req.GetFilter())
	subjects := filterSubjects(s.log.SubjectPrefix(), req.GetFilter())
	interval := bookmarkInterval(req, s.bookmarkInterval)

	var cursor uint64
	var startTime time.Time
	latest := false
	switch st := req.GetStart().(type) {
	case *hooklinev1.SubscribeRequest_AfterSequence:
		if err := s.checkCursor(ctx, st.AfterSequence); err != nil {
			return err
		}
		cursor = st.AfterSequence
	case *hooklinev1.SubscribeRequest_StartTime:
		if err := st.StartTime.CheckValid(); err != nil {
			return invalidArgument("start_time: " + err.Error())
		}
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

	emit := func(ev *hooklinev1.Event) error {
		if ev.GetSequence() <= cursor || !filter.Match(ev) {
			return nil
		}
		if err := send(&hooklinev1.SubscribeResponse{Frame: &hooklinev1.SubscribeResponse_Event{Event: ev}}); err != nil {
			return err
		}
		cursor = ev.GetSequence()
		return nil
	}
	bookmark := func(seq uint64) error {
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
			return err
		}
		// Live.
		lagged, err := s.live(ctx, sub, ticker, emit, bookmark, &cursor)
		s.hub.Unsubscribe(sub)
		if err != nil || !lagged {
			return err
		}
	}
}

// live forwards events from the hub until ctx ends, sending fails or the
// hub drops the subscriber (lagged = true).
func (s *Server) live(ctx context.Context, sub *fanout.Subscriber, ticker *time.Ticker,
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

// checkCursor fails with a typed error when events after cursor are no
// longer retained, or when cursor is beyond the end of the log.
func (s *Server) checkCursor(ctx context.Context, cursor uint64) error {
	first, last, err := s.log.Bounds(ctx)
	if err != nil {
		return err
	}
	if cursor+1 < first {
		return &cursorError{expired: true, earliest: first, latest: last}
	}
	if cursor > last {
		return &cursorError{earliest: first, latest: last}
	}
	return nil
}

// cursorError is a start cursor outside the retained log.
type cursorError struct {
	expired          bool // true: older than retention; false: beyond the end
	earliest, latest uint64
}

func (e *cursorError) Error() string {
	if e.expired {
		return "cursor expired"
	}
	return "cursor is beyond the end of the log"
}

// filterSubjects turns an API filter into NATS filter subjects, so the log
// sends only candidate events. Too many combinations fall back to broader
// subjects; the caller always re-checks with fanout.Filter.Match.
func filterSubjects(prefix string, f *hooklinev1.EventFilter) []string {
	provs := []string{""}
	if ps := f.GetProviders(); len(ps) > 0 {
		provs = provs[:0]
		for _, p := range dedupe(ps) {
			provs = append(provs, eventlog.ProviderToken(p))
		}
	}
	types := []string{""}
	if ts := f.GetEventTypes(); len(ts) > 0 {
		types = types[:0]
		for _, t := range dedupe(ts) {
			types = append(types, eventlog.TypeToken(t))
		}
	}
	type kk struct{ kind, key string }
	keys := []kk{{}}
	if len(f.GetOrderIds())+len(f.GetSessionKeys()) > 0 {
		keys = keys[:0]
		for _, k := range dedupe(f.GetOrderIds()) {
			keys = append(keys, kk{"order", k})
		}
		for _, k := range dedupe(f.GetSessionKeys()) {
			keys = append(keys, kk{"session", k})
		}
	}
	for len(provs)*len(types)*len(keys) > maxFilterSubjects {
		switch {
		case len(types) > 1:
			types = []string{""}
		case len(provs) > 1:
			provs = []string{""}
		default:
			return nil
		}
	}
	if len(provs) == 1 && provs[0] == "" && len(types) == 1 && types[0] == "" && len(keys) == 1 && keys[0].kind == "" {
		return nil
	}
	out := make([]string, 0, len(provs)*len(types)*len(keys))
	for _, p := range provs {
		for _, t := range types {
			for _, k := range keys {
				out = append(out, eventlog.FilterSubject(prefix, p, k.kind, t, k.key))
			}
		}
	}
	return out
}

func dedupe[T comparable](vs []T) []T {
	seen := make(map[T]struct{}, len(vs))
	out := vs[:0:0]
	for _, v := range vs {
		if _, ok := seen[v]; !ok {
			seen[v] = struct{}{}
			out = append(out, v)
		}
	}
	return out
}

var errPageFull = errors.New("page full")
