// Package reprocess turns stored raw deliveries into corrected events after
// a provider's mapping changed, without rewriting the log.
//
// A run reads the selected events of a fixed range of the log (up to its
// last sequence when the run starts, so it never reads its own output), and
// asks Remap what the current mapping makes of each one's raw delivery (the
// delivery's signature was verified when it was received). Where the output
// differs from the event, or from its latest correction, it appends a
// corrected event: derived, naming the event it supersedes, with an id
// derived from the original event's id and the mapping version, so that a
// second run appends nothing and an interrupted run can resume anywhere.
// Runs are paced to a rate, so webhooks keep their latency.
//
// The package knows nothing of adapters, gRPC or HTTP: the server gives it
// Remap and translates its errors.
package reprocess

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/fanout"
	"github.com/hookline/hookline/internal/index"
	"github.com/hookline/hookline/internal/pipeline"
	"github.com/hookline/hookline/internal/subscription"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Defaults and bounds.
const (
	// DefaultMaxRate is the most events a run processes per second when
	// the gateway is given no limit.
	DefaultMaxRate = 1000
	// DefaultMaxDiffs and MaxDiffs bound the before/after pairs a run
	// reports.
	DefaultMaxDiffs = 5
	MaxDiffs        = 100
	// maxFailureFrames bounds the failures a run reports one by one (all
	// are counted).
	maxFailureFrames = 100
	// progressEvery is how often a run reports its progress.
	progressEvery = 500 * time.Millisecond
)

// ErrNoRemap means a run found an event whose source or provider the
// gateway has no mapping for (its source is no longer configured).
var ErrNoRemap = errors.New("no mapping for the event's source")

// Log is what a run needs of the event log. *eventlog.Log implements it.
type Log interface {
	Bounds(ctx context.Context) (first, last uint64, err error)
	Get(ctx context.Context, seq uint64) (*hooklinev1.Event, error)
	Read(ctx context.Context, start eventlog.Start, filters []string, upTo uint64, fn func(*hooklinev1.Event) error) (uint64, error)
	SubjectPrefix() string
}

// Index is what a run needs of the local index. *index.Index implements
// it.
type Index interface {
	Lookup(id string) (index.Entry, error)
}

// Store appends corrected events. *pipeline.Pipeline implements it.
type Store interface {
	Accepting() error
	Store(ctx context.Context, ev *hooklinev1.Event) (pipeline.Stored, error)
}

// RemapFunc returns what the current mapping makes of a stored event's raw
// delivery: the event it yields now, with its MappingVersion set, or an
// error (wrapping ErrNoRemap when no mapping applies). current is the
// provider's current mapping version, returned also with an error when it
// is known.
type RemapFunc func(ev *hooklinev1.Event) (now *hooklinev1.Event, current uint32, err error)

var (
	_ Log   = (*eventlog.Log)(nil)
	_ Index = (*index.Index)(nil)
	_ Store = (*pipeline.Pipeline)(nil)
)

// Config configures a Runner.
type Config struct {
	Log   Log
	Index Index
	Store Store
	Remap RemapFunc
	// MaxRate caps the events a run processes per second; a request may
	// ask for less. Default DefaultMaxRate.
	MaxRate int
}

// Runner runs reprocess requests. It is safe for concurrent use.
type Runner struct {
	cfg Config
}

// New returns a Runner.
func New(cfg Config) *Runner {
	if cfg.MaxRate <= 0 {
		cfg.MaxRate = DefaultMaxRate
	}
	return &Runner{cfg: cfg}
}

// CorrectionID is the id of the correction of the event with id original
// by mapping version v: the same inputs always give the same id, so a
// correction appended twice is stored once.
func CorrectionID(original string, v uint32) string {
	sum := sha256.Sum256([]byte(original + "\x00mapping-version\x00" + strconv.FormatUint(uint64(v), 10)))
	return "evt_" + hex.EncodeToString(sum[:16])
}

// Frame is one report of a run; exactly one field is set.
type Frame struct {
	Progress *hooklinev1.ReprocessProgress
	Diff     *hooklinev1.ReprocessDiff
	Failure  *hooklinev1.ReprocessFailure
}

// Run processes the events req selects, calling send with progress,
// diffs and failures, until the range is done (a last progress frame with
// Done), ctx ends or send fails. Errors: *subscription.InvalidArgumentError
// for a bad request, *subscription.CursorError for after_sequence outside
// the log, or what the log or store fail with.
func (r *Runner) Run(ctx context.Context, req *hooklinev1.ReprocessRequest, send func(Frame) error) error {
	if err := subscription.ValidateFilter(req.GetFilter()); err != nil {
		return err
	}
	for name, t := range map[string]*timestamppb.Timestamp{"start_time": req.GetStartTime(), "end_time": req.GetEndTime()} {
		if t == nil {
			continue
		}
		if err := t.CheckValid(); err != nil {
			return &subscription.InvalidArgumentError{Msg: name + ": " + err.Error()}
		}
	}
	maxRate := r.cfg.MaxRate
	if n := int(req.GetMaxRate()); n < 0 {
		return &subscription.InvalidArgumentError{Msg: "max_rate must not be negative"}
	} else if n > 0 {
		maxRate = min(n, maxRate)
	}
	maxDiffs := int(req.GetMaxDiffs())
	switch {
	case maxDiffs < 0:
		return &subscription.InvalidArgumentError{Msg: "max_diffs must not be negative"}
	case maxDiffs == 0:
		maxDiffs = DefaultMaxDiffs
	case maxDiffs > MaxDiffs:
		maxDiffs = MaxDiffs
	}
	if !req.GetDryRun() {
		if err := r.cfg.Store.Accepting(); err != nil {
			return err
		}
	}
	first, last, err := r.cfg.Log.Bounds(ctx)
	if err != nil {
		return err
	}
	after := req.GetAfterSequence()
	if after > last {
		return &subscription.CursorError{Earliest: first, Latest: last}
	}
	upTo := last
	if u := req.GetUpToSequence(); u > 0 && u < upTo {
		upTo = u
	}
	p := &hooklinev1.ReprocessProgress{FirstSequence: max(after+1, first), LastSequence: upTo, SequenceReached: after, DryRun: req.GetDryRun()}
	run := &run{r: r, req: req, send: send, p: p, maxDiffs: maxDiffs, sources: map[string]bool{},
		limiter: rate.NewLimiter(rate.Limit(maxRate), max(1, maxRate/10))}
	for _, s := range req.GetSources() {
		run.sources[s] = true
	}
	filter := fanout.NewFilter(req.GetFilter())
	lastReport := time.Now()
	_, err = r.cfg.Log.Read(ctx, eventlog.Start{AfterSequence: after}, subscription.FilterSubjects(r.cfg.Log.SubjectPrefix(), req.GetFilter()), upTo,
		func(ev *hooklinev1.Event) error {
			if run.selects(ev, filter) {
				if err := run.limiter.Wait(ctx); err != nil {
					return err
				}
				if err := run.one(ctx, ev); err != nil {
					return err
				}
			}
			p.SequenceReached = ev.GetSequence()
			if time.Since(lastReport) >= progressEvery {
				lastReport = time.Now()
				return send(Frame{Progress: proto.Clone(p).(*hooklinev1.ReprocessProgress)})
			}
			return nil
		})
	if err != nil {
		if ctx.Err() == nil {
			return err
		}
		return ctx.Err()
	}
	p.SequenceReached, p.Done = max(p.GetSequenceReached(), upTo), true
	return send(Frame{Progress: p})
}

// run is one Run's state; it belongs to the Run's goroutine.
type run struct {
	r        *Runner
	req      *hooklinev1.ReprocessRequest
	send     func(Frame) error
	p        *hooklinev1.ReprocessProgress
	maxDiffs int
	diffs    int
	sources  map[string]bool
	limiter  *rate.Limiter
}

// selects reports whether the request selects ev: an event received from
// the provider (corrections are compared, not reprocessed), of the
// filter, the sources, the time range and the version bound.
func (x *run) selects(ev *hooklinev1.Event, filter fanout.Filter) bool {
	if ev.GetDerived() || !filter.Match(ev) {
		return false
	}
	if len(x.sources) > 0 && !x.sources[ev.GetSource()] {
		return false
	}
	rt := ev.GetReceiveTime().AsTime()
	if st := x.req.GetStartTime(); st != nil && rt.Before(st.AsTime()) {
		return false
	}
	if et := x.req.GetEndTime(); et != nil && !rt.Before(et.AsTime()) {
		return false
	}
	if below := x.req.GetMappingVersionBelow(); below > 0 && version(ev) >= below {
		return false
	}
	return true
}

// version is an event's mapping version; events stored before versions
// were recorded count as version 1.
func version(ev *hooklinev1.Event) uint32 { return max(ev.GetMappingVersion(), 1) }

// one reprocesses one received event.
func (x *run) one(ctx context.Context, ev *hooklinev1.Event) error {
	x.p.Scanned++
	now, current, err := x.r.cfg.Remap(ev)
	if err != nil {
		return x.fail(ev, err.Error())
	}
	if version(ev) >= current {
		x.p.Unchanged++
		return nil
	}
	// The latest version of the event: its newest correction, if any.
	latest := ev
	for v := current; v > version(ev); v-- {
		entry, err := x.r.cfg.Index.Lookup(CorrectionID(ev.GetId(), v))
		if errors.Is(err, index.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if v == current {
			x.p.Unchanged++ // already corrected by this version
			return nil
		}
		if latest, err = x.r.cfg.Log.Get(ctx, entry.Sequence); err != nil {
			return err
		}
		break
	}
	if sameContent(latest, now) {
		x.p.Unchanged++
		return nil
	}
	fix := proto.Clone(now).(*hooklinev1.Event)
	fix.Id = CorrectionID(ev.GetId(), current)
	fix.Sequence = 0
	fix.MappingVersion = current
	fix.SupersedesId = latest.GetId()
	fix.Derived = true
	fix.ReceiveTime = ev.GetReceiveTime()
	fix.DeliveryId = ev.GetDeliveryId()
	fix.DedupKey = ev.GetDedupKey()
	fix.TraceParent = ev.GetTraceParent()
	if !x.req.GetDryRun() {
		st, err := x.r.cfg.Store.Store(ctx, fix)
		if err != nil {
			return err
		}
		fix.Sequence = st.Sequence
	}
	x.p.Corrected++
	if x.diffs < x.maxDiffs {
		x.diffs++
		return x.send(Frame{Diff: &hooklinev1.ReprocessDiff{Before: latest, After: fix}})
	}
	return nil
}

func (x *run) fail(ev *hooklinev1.Event, reason string) error {
	x.p.Failed++
	if x.p.Failed > maxFailureFrames {
		return nil
	}
	return x.send(Frame{Failure: &hooklinev1.ReprocessFailure{EventId: ev.GetId(), Sequence: ev.GetSequence(), Reason: reason}})
}

// sameContent reports whether two versions of an event say the same: equal
// but for what only places them (ids, sequence, versions, trace).
func sameContent(a, b *hooklinev1.Event) bool {
	strip := func(ev *hooklinev1.Event) *hooklinev1.Event {
		c := proto.Clone(ev).(*hooklinev1.Event)
		c.Id, c.Sequence, c.MappingVersion, c.SupersedesId, c.Derived, c.TraceParent = "", 0, 0, "", false, ""
		c.DeliveryId, c.DedupKey, c.ReceiveTime = "", "", nil
		return c
	}
	return proto.Equal(strip(a), strip(b))
}

// String describes a frame for logs and tests.
func (f Frame) String() string {
	switch {
	case f.Progress != nil:
		return fmt.Sprintf("progress %v", f.Progress)
	case f.Diff != nil:
		return fmt.Sprintf("diff %s → %s", f.Diff.GetBefore().GetId(), f.Diff.GetAfter().GetId())
	default:
		return fmt.Sprintf("failure %s: %s", f.Failure.GetEventId(), f.Failure.GetReason())
	}
}
