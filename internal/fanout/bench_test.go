package fanout_test

import (
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/fanout"
)

// BenchmarkHubIdleSubscribers measures the hub's own memory per idle
// subscriber: 10 000 subscribers, each filtered on its own order id (the
// shape of a client watching one order), registered on a new hub; live heap
// after a full GC, before and after. The subscriber's buffer (BufferSize
// pointers) is allocated up front, so this is also what it costs when busy.
// A gRPC subscription costs more (goroutines, stream state): see
// BenchmarkIdleSubscribers in package server.
//
// Metrics: bytes/sub (live heap; the goal for a whole subscription is
// ≤ 20 KiB = 20480).
func BenchmarkHubIdleSubscribers(b *testing.B) {
	const n = 10_000
	filters := make([]fanout.Filter, n)
	for i := range filters {
		filters[i] = fanout.NewFilter(&hooklinev1.EventFilter{OrderIds: []string{"order-" + strconv.Itoa(i)}})
	}
	var total int64
	for b.Loop() {
		before := liveHeap()
		h := fanout.NewHub(0)
		subs := make([]*fanout.Subscriber, n)
		for i, f := range filters {
			subs[i] = h.Subscribe(f)
		}
		total += int64(liveHeap()) - int64(before)
		runtime.KeepAlive(h)
		runtime.KeepAlive(subs)
	}
	b.ReportMetric(float64(total)/float64(b.N*n), "bytes/sub")
}

// BenchmarkHubFanout publishes one event at a time to 1 000 subscribers
// that all match it, each drained by its own goroutine, and measures for
// every subscriber the time from the start of Publish until its goroutine
// has the event. One iteration is one event, delivered to all.
//
// Metrics: p50-ms, p99-ms (the goal for the whole path, through gRPC, is
// ≤ 50 ms; see BenchmarkFanout in package server), max-ms.
func BenchmarkHubFanout(b *testing.B) {
	const n = 1_000
	h := fanout.NewHub(0)
	f := fanout.NewFilter(&hooklinev1.EventFilter{OrderIds: []string{"hot-order"}})
	var start atomic.Int64 // unix nanos of the current Publish
	// Every subscriber reports one latency per event; the buffer holds one
	// event's worth so that no subscriber waits for the collector.
	got := make(chan time.Duration, n)
	var wg sync.WaitGroup
	subs := make([]*fanout.Subscriber, n)
	for i := range subs {
		s := h.Subscribe(f)
		subs[i] = s
		wg.Go(func() {
			for range s.C {
				got <- time.Since(time.Unix(0, start.Load()))
			}
		})
	}
	lat := make([]time.Duration, 0, n)
	var seq uint64
	for b.Loop() {
		seq++
		ev := hubEvent(seq, "hot-order")
		start.Store(time.Now().UnixNano())
		h.Publish([]*hooklinev1.Event{ev})
		for range n {
			lat = append(lat, <-got)
		}
	}
	for _, s := range subs {
		h.Unsubscribe(s)
	}
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(ms(quantile(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

// BenchmarkHubPublishSelective measures what 10 000 idle subscribers, each
// filtered on its own order, add to publishing an event none of them
// matches: the same Publish is timed on a hub with no subscribers in the
// same run. The index by subject should make the two nearly equal.
//
// Metrics: ns/op (Publish with 10 000 subscribers), ratio-vs-empty-hub.
func BenchmarkHubPublishSelective(b *testing.B) {
	const n = 10_000
	busy, empty := fanout.NewHub(0), fanout.NewHub(0)
	for i := range n {
		busy.Subscribe(fanout.NewFilter(&hooklinev1.EventFilter{OrderIds: []string{"order-" + strconv.Itoa(i)}}))
	}
	batch := []*hooklinev1.Event{hubEvent(1, "unwatched-order")}
	for b.Loop() {
		busy.Publish(batch)
	}
	perOp := float64(b.Elapsed()) / float64(b.N)
	m := max(b.N, 1000)
	start := time.Now()
	for range m {
		empty.Publish(batch)
	}
	base := float64(time.Since(start)) / float64(m)
	b.ReportMetric(perOp/base, "ratio-vs-empty-hub")
}

func hubEvent(seq uint64, order string) *hooklinev1.Event {
	return &hooklinev1.Event{
		Sequence: seq, Provider: hooklinev1.Provider_PROVIDER_TRUV, Subject: order,
		Type: hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED,
		Body: &hooklinev1.Event_Order{Order: &hooklinev1.OrderEvent{OrderId: order}},
	}
}

// liveHeap returns the live heap after a full GC.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// quantile returns the q-quantile of sorted by the nearest-rank method.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ms converts d to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
