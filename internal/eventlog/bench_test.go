package eventlog_test

import (
	"context"
	"fmt"
	"github.com/hookline/hookline/internal/eventlog/eventlogtest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// BenchmarkAppend measures Append, which returns once JetStream has
// acknowledged the event, on an embedded server with the default options,
// from one writer and from 64 concurrent writers (the shape of the webhook
// handler under load). b.N events go through Append (timed); in the same
// run, b.N other events, marshaled beforehand, are published straight to
// the stream with a Nats-Msg-Id from a second in-process connection by as
// many writers, as the baseline: the ratio shows what the log adds (proto
// marshaling, the subject, its one shared connection).
//
// Metrics: events/s (Append), raw-events/s (baseline), ratio-vs-raw.
func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			ctx := context.Background()
			lg := eventlogtest.Open(b, eventlog.Options{})
			js := lg.JetStream(b)
			var err error
			evs := make([]*hooklinev1.Event, b.N)
			raw := make([][]byte, b.N)
			for i := range b.N {
				evs[i] = benchEvent("a", i)
				if raw[i], err = proto.Marshal(benchEvent("r", i)); err != nil {
					b.Fatal(err)
				}
			}
			subject := eventlog.Subject(lg.SubjectPrefix(), evs[0])

			b.ResetTimer()
			err = forEach(writers, b.N, func(i int) error {
				_, err := lg.Append(ctx, evs[i])
				return err
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			appendRate := float64(b.N) / b.Elapsed().Seconds()
			start := time.Now()
			err = forEach(writers, b.N, func(i int) error {
				_, err := js.Publish(ctx, subject, raw[i], jetstream.WithMsgID(fmt.Sprintf("raw_%d", i)))
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			rawRate := float64(b.N) / time.Since(start).Seconds()
			b.ReportMetric(appendRate, "events/s")
			b.ReportMetric(rawRate, "raw-events/s")
			b.ReportMetric(appendRate/rawRate, "ratio-vs-raw")
		})
	}
}

// benchEvent returns a small order event with an id shaped like the
// adapters' ("evt_" and 32 hex digits), made distinct by kind and i.
func benchEvent(kind string, i int) *hooklinev1.Event {
	return &hooklinev1.Event{
		Id:          fmt.Sprintf("evt_%s%031x", kind, i),
		Provider:    hooklinev1.Provider_PROVIDER_TRUV,
		Source:      "default",
		Type:        hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED,
		Subject:     "bench-order",
		ReceiveTime: timestamppb.Now(),
		Body: &hooklinev1.Event_Order{Order: &hooklinev1.OrderEvent{
			OrderId: "bench-order", Status: hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED, RawStatus: "completed",
		}},
	}
}

// forEach calls fn(i) for every i in [0, n) from workers goroutines and
// returns the first error; after an error the remaining calls are skipped.
func forEach(workers, n int, fn func(i int) error) error {
	var (
		next   atomic.Int64
		failed atomic.Bool
		once   sync.Once
		first  error
		wg     sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return first
}

// BenchmarkAppendFsync compares the two fsync policies of the embedded
// store in one run, 64 writers each: b.N appends with an fsync every second
// (the default, timed) and b.N appends with an fsync per append
// (--fsync=always, the baseline; at most 10 000 appends). It backs docs/durability.md's statement that
// --fsync=always costs much throughput.
//
// Metrics: events/s (interval), always-events/s, ratio-always-vs-interval.
func BenchmarkAppendFsync(b *testing.B) {
	ctx := context.Background()
	run := func(opts eventlog.Options, n int) (float64, error) {
		opts.DataDir = b.TempDir()
		lg, err := eventlog.Open(ctx, opts)
		if err != nil {
			return 0, err
		}
		defer lg.Close()
		start := time.Now()
		err = forEach(64, n, func(i int) error {
			_, err := lg.Append(ctx, benchEvent("f", i))
			return err
		})
		return float64(n) / time.Since(start).Seconds(), err
	}
	interval, err := run(eventlog.Options{}, b.N) // timed: sets b.N
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	// The per-append fsync phase is ~10x slower: cap it so a run stays short.
	always, err := run(eventlog.Options{SyncAlways: true}, min(b.N, 10_000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(interval, "events/s")
	b.ReportMetric(always, "always-events/s")
	b.ReportMetric(always/interval, "ratio-always-vs-interval")
}

// BenchmarkAppendDuringCatchUp measures Append latency while a reader
// catches up: the log holds 50 000 events, one goroutine reads all of them
// with Read again and again (a subscriber catching up from the start), and
// appends go at a steady 5 000 per second (open loop, 16 writers; one
// iteration is one append). The baseline, in the same run, repeats it on
// a log whose reads share the append connection, as they did before each
// got its own.
//
// Metrics: p50-ms, p99-ms (own connections), shared-p50-ms,
// shared-p99-ms (baseline), ratio-p50-vs-shared, ratio-p99-vs-shared
// (below 1: the split helps).
func BenchmarkAppendDuringCatchUp(b *testing.B) {
	const (
		stored = 50_000
		rate   = 5000
	)
	ctx := context.Background()
	// run appends n events to a fresh log opened with opts, reading the
	// whole log in a loop meanwhile, and returns the sorted latencies.
	run := func(opts eventlog.Options, n int, loop func(yield func(i int)) int) ([]time.Duration, error) {
		opts.DataDir = b.TempDir()
		lg, err := eventlog.Open(ctx, opts)
		if err != nil {
			return nil, err
		}
		defer lg.Close()
		if err := forEach(64, stored, func(i int) error {
			_, err := lg.Append(ctx, benchEvent("s", i))
			return err
		}); err != nil {
			return nil, err
		}
		rctx, stop := context.WithCancel(ctx)
		reading := make(chan struct{})
		go func() {
			defer close(reading)
			for rctx.Err() == nil {
				_, _ = lg.Read(rctx, eventlog.Start{}, nil, stored, func(*hooklinev1.Event) error { return nil })
			}
		}()
		defer func() { stop(); <-reading }()

		lat := make([]time.Duration, 0, n)
		var mu sync.Mutex
		var wg sync.WaitGroup
		var failed atomic.Pointer[error]
		jobs := make(chan time.Time, 16)
		for range 16 {
			wg.Go(func() {
				for due := range jobs {
					_, err := lg.Append(ctx, benchEvent("a", int(due.UnixNano())))
					d := time.Since(due)
					if err != nil {
						failed.CompareAndSwap(nil, &err)
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
		}
		start := time.Now()
		interval := time.Second / rate
		sent := loop(func(i int) {
			due := start.Add(time.Duration(i) * interval)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			jobs <- due
		})
		close(jobs)
		wg.Wait()
		if p := failed.Load(); p != nil {
			return nil, *p
		}
		if len(lat) != sent {
			return nil, fmt.Errorf("%d latencies for %d appends", len(lat), sent)
		}
		slices.Sort(lat)
		return lat, nil
	}
	lat, err := run(eventlog.Options{}, 0, func(yield func(int)) int {
		n := 0
		for b.Loop() {
			yield(n)
			n++
		}
		return n
	})
	if err != nil {
		b.Fatal(err)
	}
	n := len(lat)
	shared, err := run(eventlog.WithSharedConnection(eventlog.Options{}), n, func(yield func(int)) int {
		for i := range n {
			yield(i)
		}
		return n
	})
	if err != nil {
		b.Fatal(err)
	}
	q := func(l []time.Duration, p float64) float64 {
		return float64(l[min(len(l)-1, int(p*float64(len(l))))]) / 1e6
	}
	b.ReportMetric(q(lat, 0.50), "p50-ms")
	b.ReportMetric(q(lat, 0.99), "p99-ms")
	b.ReportMetric(q(shared, 0.50), "shared-p50-ms")
	b.ReportMetric(q(shared, 0.99), "shared-p99-ms")
	b.ReportMetric(q(lat, 0.50)/q(shared, 0.50), "ratio-p50-vs-shared")
	b.ReportMetric(q(lat, 0.99)/q(shared, 0.99), "ratio-p99-vs-shared")
}
