package eventlog_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/eventlog/eventlogtest"
)

// BenchmarkDistinctSubjects measures what distinct orders cost the embedded
// store: it appends one event each for N distinct order ids (N from
// BENCH_SUBJECTS, default 1 000 000), each its own order id as Truv's are,
// and reports the live heap they add per distinct order at rest, once
// JetStream's duplicate window has passed (the embedded server runs in this
// process, so its per-subject state is counted), and the append
// rate of the last 50 000 against the first 50 000 (an empty stream). It
// runs its workload once, whatever b.N.
//
// Metrics: heap-bytes/subject, rate-first-events/s, rate-last-events/s,
// ratio-last-vs-first.
func BenchmarkDistinctSubjects(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_SUBJECTS")); err == nil && v > 100_000 {
		n = v
	}
	const window = 50_000
	for b.Loop() {
		// A short duplicate window, expired before the heap is read: what is
		// measured is what stays for the retention, not the window's ids.
		lg := eventlogtest.Open(b, eventlog.Options{DuplicateWindow: time.Second})
		ctx := context.Background()
		appendRange := func(from, to int) time.Duration {
			start := time.Now()
			err := forEach(64, to-from, func(i int) error {
				ev := benchEvent("s", from+i)
				id := fmt.Sprintf("%032x", from+i)
				ev.Subject, ev.GetOrder().OrderId = id, id
				_, err := lg.Append(ctx, ev)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		heap := func() uint64 {
			runtime.GC()
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapAlloc
		}
		before := heap()
		first := appendRange(0, window)
		appendRange(window, n-window)
		last := appendRange(n-window, n)
		time.Sleep(3 * time.Second) // past the window and its sweep
		after := heap()
		b.ReportMetric(float64(after-before)/float64(n), "heap-bytes/subject")
		b.ReportMetric(window/first.Seconds(), "rate-first-events/s")
		b.ReportMetric(window/last.Seconds(), "rate-last-events/s")
		b.ReportMetric(first.Seconds()/last.Seconds(), "ratio-last-vs-first")
		lg.Close()
	}
}
