// Package pipeline is the gateway's projection of the event log and the
// de-duplicating store in front of it.
//
// One Pipeline per process runs the single log follower: every batch it
// reads goes at once to the live fan-out hub (internal/fanout) and, in
// group commits, to the local index (internal/index). Store appends an
// event unless one of the two de-duplication tiers already holds it: the
// local index over the whole horizon, then JetStream's own short duplicate
// window, which also settles concurrent copies atomically. Accepting says
// whether Store may be used at all: not before the index has caught up
// with the log as it was at start, and not while the index lags the log by
// more than the duplicate window covers (the lag guard, lag.go), because a
// retry could then pass both tiers and be stored twice.
//
// Lifecycle: New builds a Pipeline; Run follows the log until its context
// ends and then commits what it had queued for the index. The caller owns
// the log and the index and closes them after Run returns. A Pipeline is
// safe for concurrent use.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/fanout"
	"github.com/hookline/hookline/internal/index"
	"golang.org/x/sync/errgroup"
)

// Defaults.
const (
	// DefaultDedupHorizon is how long a provider event id is remembered:
	// Mastercard retries daily for three days, so a last retry can land
	// just after 72h; the margin covers it.
	DefaultDedupHorizon = 96 * time.Hour
	// DefaultAppendTimeout is how long a delivery waits for the event store
	// before it gets 503 and its provider retries.
	DefaultAppendTimeout = 5 * time.Second
	// DefaultMaxIndexLag is the lag guard's limit with the default duplicate
	// window and append timeout: SafeIndexLag of them, 23s.
	DefaultMaxIndexLag = eventlog.DefaultDuplicateWindow - DefaultAppendTimeout - lagNoticeMargin
)

// Errors Accepting and Store return.
var (
	// ErrStarting means the index has not yet applied the log as it was at
	// start: de-duplication could miss a retry, so nothing is stored yet.
	ErrStarting = errors.New("starting: index catching up with the log; retry later")
	// ErrIndexLagging means the index lags the log by more than the
	// duplicate window covers: a retry could slip between the two tiers.
	ErrIndexLagging = errors.New("index lagging behind the log; retry later")
)

// Log is what the pipeline needs of the event log. *eventlog.Log
// implements it.
type Log interface {
	Append(ctx context.Context, ev *hooklinev1.Event) (eventlog.AppendResult, error)
	Bounds(ctx context.Context) (first, last uint64, err error)
	Follow(ctx context.Context, after uint64, fn func([]*hooklinev1.Event) error) error
	Check() error
}

// Index is what the pipeline needs of the local index. *index.Index
// implements it.
type Index interface {
	Recent(id string, since time.Time) (index.Entry, error)
	Applied() (uint64, error)
	Apply(evs []*hooklinev1.Event) error
	Sweep(firstSeq uint64) error
	IDStats() index.IDStats
}

var (
	_ Log   = (*eventlog.Log)(nil)
	_ Index = (*index.Index)(nil)
)

// Config configures a Pipeline.
type Config struct {
	// Log is the event log. Required.
	Log Log
	// Index is the local index. Required.
	Index Index
	// DedupHorizon is how long Store remembers an event id. Default
	// DefaultDedupHorizon.
	DedupHorizon time.Duration
	// MaxIndexLag is how far the index may lag the log before Accepting
	// fails with ErrIndexLagging; see SafeIndexLag. Default
	// DefaultMaxIndexLag.
	MaxIndexLag time.Duration
	// OnIndexApply, when set, is called after each index commit with the
	// number of events it applied and how long it took (for metrics).
	OnIndexApply func(events int, took time.Duration)
	// Logger receives the pipeline's warnings. Default: discard.
	Logger *slog.Logger
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Pipeline follows the log into the hub and the index; see the package
// documentation.
type Pipeline struct {
	log    Log
	index  Index
	hub    *fanout.Hub
	logger *slog.Logger
	cfg    Config

	ready     atomic.Bool
	readyCh   chan struct{} // closed when ready first becomes true
	readyOnce sync.Once
	readyAt   atomic.Uint64 // the log's last sequence at start
	applied   atomic.Uint64 // last sequence applied to the index
	lag       lagWatch

	// Index queue (see queueIndex): pending is guarded by pendingMu;
	// applyMu serializes commits.
	pendingMu sync.Mutex
	pending   []*hooklinev1.Event
	applyMu   sync.Mutex
	indexKick chan struct{} // capacity 1: a wake-up, not a queue
}

// New builds a Pipeline whose hub starts after the index's last applied
// sequence.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Log == nil || cfg.Index == nil {
		return nil, errors.New("pipeline: Log and Index are required")
	}
	if cfg.DedupHorizon <= 0 {
		cfg.DedupHorizon = DefaultDedupHorizon
	}
	if cfg.MaxIndexLag <= 0 {
		cfg.MaxIndexLag = DefaultMaxIndexLag
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	applied, err := cfg.Index.Applied()
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p := &Pipeline{
		log: cfg.Log, index: cfg.Index, logger: cfg.Logger, cfg: cfg,
		hub:       fanout.NewHub(applied),
		readyCh:   make(chan struct{}),
		indexKick: make(chan struct{}, 1),
	}
	p.applied.Store(applied)
	return p, nil
}

// Hub returns the live fan-out hub the pipeline publishes to.
func (p *Pipeline) Hub() *fanout.Hub { return p.hub }

// Run follows the log, commits the index, sweeps it and watches its lag
// until ctx ends; it then commits what is queued and returns. It returns
// an error only when the index cannot be written.
func (p *Pipeline) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.follow(gctx) })
	g.Go(func() error { return p.runIndexer(gctx) })
	g.Go(func() error { return p.sweep(gctx) })
	g.Go(func() error { return p.watchLag(gctx) })
	return g.Wait()
}

// Ready returns a channel closed once the index has caught up with the log
// as it was at start (the first time Accepting can succeed).
func (p *Pipeline) Ready() <-chan struct{} { return p.readyCh }

// Accepting returns nil when Store may be used: the index has caught up
// with the log as it was at start and does not lag it by more than
// MaxIndexLag. Otherwise ErrStarting or an error wrapping ErrIndexLagging.
func (p *Pipeline) Accepting() error {
	switch {
	case !p.ready.Load():
		return ErrStarting
	case p.lag.lagging.Load():
		return ErrIndexLagging
	}
	return nil
}

// Check is Accepting, then whether the event log answers: what /readyz
// reports.
func (p *Pipeline) Check(ctx context.Context) error {
	if err := p.log.Check(); err != nil {
		return err
	}
	if err := p.Accepting(); err != nil {
		return err
	}
	_, _, err := p.log.Bounds(ctx)
	return err
}

// Stored says where Store put an event.
type Stored struct {
	// Sequence is the event's position in the log (the earlier position for
	// a duplicate).
	Sequence uint64
	// Duplicate is true when the event was already stored.
	Duplicate bool
}

// Store appends ev unless it is already stored: first the index over the
// de-duplication horizon, then JetStream's duplicate window, which also
// settles concurrent copies atomically. The caller checks Accepting first.
func (p *Pipeline) Store(ctx context.Context, ev *hooklinev1.Event) (Stored, error) {
	entry, err := p.index.Recent(ev.GetId(), p.cfg.Now().Add(-p.cfg.DedupHorizon))
	switch {
	case err == nil:
		return Stored{Sequence: entry.Sequence, Duplicate: true}, nil
	case !errors.Is(err, index.ErrNotFound):
		return Stored{}, fmt.Errorf("dedup lookup: %w", err)
	}
	res, err := p.log.Append(ctx, ev)
	if err != nil {
		return Stored{}, err
	}
	p.lag.saw(res.Sequence)
	return Stored{Sequence: res.Sequence, Duplicate: res.Duplicate}, nil
}

// Stats are the pipeline's gauges.
type Stats struct {
	// Applied is the last log sequence applied to the index.
	Applied uint64
	// IndexLag is the last measured lag of the index behind the log.
	IndexLag time.Duration
	// Lagging is true while Accepting fails with ErrIndexLagging.
	Lagging bool
	// IDs are the index's id-set statistics.
	IDs index.IDStats
}

// Stats returns the current gauges.
func (p *Pipeline) Stats() Stats {
	return Stats{
		Applied:  p.applied.Load(),
		IndexLag: time.Duration(p.lag.lag.Load()),
		Lagging:  p.lag.lagging.Load(),
		IDs:      p.index.IDStats(),
	}
}

// follow is the process's single log reader: it hands every batch to the
// live fan-out at once and queues it for the index, which the indexer
// commits in groups (see runIndexer). It resumes after the last published
// event when the store comes back after an outage.
func (p *Pipeline) follow(ctx context.Context) error {
	for {
		_, last, err := p.log.Bounds(ctx)
		if err == nil {
			p.readyAt.Store(last)
			break
		}
		p.logger.Warn("follow_waiting_for_store", "error", err.Error())
		if !sleepCtx(ctx, time.Second) {
			return nil
		}
	}
	if p.applied.Load() >= p.readyAt.Load() {
		p.markReady()
	}
	for {
		err := p.log.Follow(ctx, p.hub.Last(), func(batch []*hooklinev1.Event) error {
			full := p.queueIndex(batch)
			p.hub.Publish(batch)
			if full {
				// Backpressure: the indexer is behind by maxPendingIndex
				// events; commit now rather than let the queue grow.
				return p.flushIndex()
			}
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, eventlog.ErrUnavailable) {
			return fmt.Errorf("follow: %w", err)
		}
		// The store went away: resume after the last published event once
		// it is back. Appends that succeed meanwhile are de-duplicated by
		// JetStream's own window, and the lag guard (lag.go) stops ingest
		// before the index falls further behind than that window covers.
		p.logger.Warn("follow_interrupted", "error", err.Error())
		if !sleepCtx(ctx, time.Second) {
			return nil
		}
	}
}

// Index group commit: the indexer commits what the follower queued at most
// every indexCommitDelay, so one bbolt transaction (two fdatasyncs) covers
// many events under load. The index lags the live feed by about that much;
// JetStream's duplicate window covers the lag for de-duplication (and the
// lag guard refuses webhooks when the lag outgrows the window), and
// lookups see an event a few milliseconds after subscribers do. The queue
// is bounded by maxPendingIndex events.
const (
	indexCommitDelay = 10 * time.Millisecond
	maxPendingIndex  = 5000
)

// queueIndex adds a batch to the index queue, wakes the indexer and reports
// whether the queue is full.
func (p *Pipeline) queueIndex(batch []*hooklinev1.Event) bool {
	p.pendingMu.Lock()
	p.pending = append(p.pending, batch...)
	n := len(p.pending)
	p.pendingMu.Unlock()
	select {
	case p.indexKick <- struct{}{}:
	default:
	}
	return n >= maxPendingIndex
}

// runIndexer commits queued events to the index until ctx ends, then
// commits what is left.
func (p *Pipeline) runIndexer(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return p.flushIndex()
		case <-p.indexKick:
		}
		sleepCtx(ctx, indexCommitDelay)
		if err := p.flushIndex(); err != nil {
			return err
		}
	}
}

// flushIndex applies the queued events to the index in one transaction.
func (p *Pipeline) flushIndex() error {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	p.pendingMu.Lock()
	batch := p.pending
	p.pending = nil
	p.pendingMu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	start := time.Now()
	if err := p.index.Apply(batch); err != nil {
		return fmt.Errorf("index apply: %w", err)
	}
	if p.cfg.OnIndexApply != nil {
		p.cfg.OnIndexApply(len(batch), time.Since(start))
	}
	seq := batch[len(batch)-1].GetSequence()
	p.applied.Store(seq)
	if seq >= p.readyAt.Load() && !p.ready.Load() {
		p.markReady()
	}
	return nil
}

func (p *Pipeline) markReady() {
	p.ready.Store(true)
	p.readyOnce.Do(func() { close(p.readyCh) })
	p.logger.Info("index_ready", "applied_sequence", p.applied.Load())
}

// sweep forgets index ids of events the log no longer holds: once at start
// (the index does not keep the log's first sequence across restarts), then
// every minute, when it also reports failed merges of id runs.
func (p *Pipeline) sweep(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var mergeFailures uint64
	for {
		if first, _, err := p.log.Bounds(ctx); err == nil {
			if err := p.index.Sweep(first); err != nil {
				p.logger.Warn("index_sweep_failed", "error", err.Error())
			}
		}
		// A failed merge of id runs is retried by the id set; say so once
		// per minute at most.
		if st := p.index.IDStats(); st.MergeFailures > mergeFailures {
			mergeFailures = st.MergeFailures
			p.logger.Warn("index_merge_failed", "failures", st.MergeFailures, "runs", st.Runs, "error", fmt.Sprint(st.LastMergeError))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sleepCtx waits d or until ctx ends; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
