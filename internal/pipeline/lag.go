package pipeline

import (
	"context"
	"sync/atomic"
	"time"
)

// Index lag guard.
//
// De-duplication has two tiers: JetStream's duplicate window (short, in
// memory, atomic) and the local index (the whole horizon, on disk), which
// the log follower fills a few milliseconds after each append. A retry is
// caught as long as the index has applied every event older than the
// window; if the index fell further behind than that (a stalled follower,
// a store outage and the backlog after it, another replica appending faster
// than this one reads), a retry could slip between the two tiers and be
// stored twice. The guard closes that gap: while the index lags the log by
// more than MaxIndexLag, webhooks get 503 (the provider retries later) and
// /readyz says not ready.
//
// The lag is the age of the oldest event known to be in the log and not yet
// applied to the index. Events become known from this process's own append
// acknowledgements at once, and from the log's last sequence (which includes
// other replicas' appends) polled every lagPollInterval; the age is measured
// from when the event became known, sampled every lagTick, so the guard may
// see the lag up to lagPollInterval + lagTick late. MaxIndexLag must leave
// that much (and the append timeout) inside the duplicate window:
// SafeIndexLag derives it.

// SafeIndexLag is the longest index lag de-duplication covers: what
// JetStream's duplicate window leaves after the append timeout and the 2s
// the lag guard may need to notice it.
func SafeIndexLag(duplicateWindow, appendTimeout time.Duration) time.Duration {
	return duplicateWindow - appendTimeout - lagNoticeMargin
}

const (
	// lagNoticeMargin covers lagPollInterval + lagTick, with room to spare.
	lagNoticeMargin = 2 * time.Second
	lagTick         = 100 * time.Millisecond
	lagPollInterval = time.Second
	// maxLagMarks bounds the watcher's memory while the index is far
	// behind: past it, pairs of marks are merged into one with the later
	// sequence and the earlier time, which can only make the measured lag
	// larger.
	maxLagMarks = 4096
)

// lagMark records that the log held at least seq events at time at.
type lagMark struct {
	seq uint64
	at  time.Time
}

// lagWatch measures how far the index lags the log. known is written by
// ingest (atomic, no lock on the hot path); marks belong to the watcher
// goroutine alone.
type lagWatch struct {
	known   atomic.Uint64 // highest log sequence known to exist
	lag     atomic.Int64  // last measured lag, nanoseconds
	lagging atomic.Bool   // lag > limit
	marks   []lagMark
}

// saw records that the log holds sequence seq.
func (w *lagWatch) saw(seq uint64) {
	for {
		cur := w.known.Load()
		if seq <= cur || w.known.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// measure returns the lag at now, given the index's applied sequence.
func (w *lagWatch) measure(now time.Time, applied uint64) time.Duration {
	if k := w.known.Load(); k > applied && (len(w.marks) == 0 || w.marks[len(w.marks)-1].seq < k) {
		if len(w.marks) == maxLagMarks {
			for i := range len(w.marks) / 2 {
				w.marks[i] = lagMark{seq: w.marks[2*i+1].seq, at: w.marks[2*i].at}
			}
			w.marks = w.marks[:len(w.marks)/2]
		}
		w.marks = append(w.marks, lagMark{seq: k, at: now})
	}
	i := 0
	for i < len(w.marks) && w.marks[i].seq <= applied {
		i++
	}
	w.marks = append(w.marks[:0], w.marks[i:]...)
	if len(w.marks) == 0 {
		return 0
	}
	return now.Sub(w.marks[0].at)
}

// watchLag updates the lag every lagTick and the log's last sequence every
// lagPollInterval until ctx ends, flipping p.lag.lagging (and logging) when
// the lag crosses the limit.
func (p *Pipeline) watchLag(ctx context.Context) error {
	tick := time.NewTicker(lagTick)
	defer tick.Stop()
	var lastPoll time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			if now.Sub(lastPoll) >= lagPollInterval {
				lastPoll = now
				pctx, cancel := context.WithTimeout(ctx, lagPollInterval)
				if _, last, err := p.log.Bounds(pctx); err == nil {
					p.lag.saw(last)
				}
				cancel()
			}
			lag := p.lag.measure(now, p.applied.Load())
			p.lag.lag.Store(int64(lag))
			over := lag > p.cfg.MaxIndexLag
			if over != p.lag.lagging.Swap(over) {
				if over {
					p.logger.Warn("index_lagging", "lag", lag.Round(time.Millisecond), "limit", p.cfg.MaxIndexLag,
						"action", "webhooks get 503 until the index catches up")
				} else {
					p.logger.Info("index_caught_up", "applied_sequence", p.applied.Load())
				}
			}
		}
	}
}
