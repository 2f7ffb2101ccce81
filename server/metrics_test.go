package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters/adaptertest"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/testkit"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestMetricsAfterKnownDeliveries opens one live subscriber on each
// transport, posts three new deliveries, a retry of one and one with a bad
// signature, and checks every figure /metrics derives from them: the old
// counters, the histograms' counts, and the gauges of the subscriptions,
// the index, the id set and the stream; and that the Go and process
// collectors are there.
func TestMetricsAfterKnownDeliveries(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	grpcSub := e.subscribe(t, &hooklinev1.SubscribeRequest{BookmarkInterval: durationpb.New(time.Second)})
	restSub := e.openStream(t, "GET", "/v1/events:subscribe?bookmark_interval=1s", nil)
	sseSub, _ := e.openSSE(t, "bookmark_interval=1s", "")
	// The first bookmark of each: registered with the live feed.
	for _, s := range []frameReader{grpcSub, restSub, sseSub} {
		recvUntil(t, s, 0)
	}

	var bodies [][]byte
	for i := range 3 {
		bodies = append(bodies, orderBody(fmt.Sprintf("evt%031d", i), fmt.Sprintf("ord%029d", i), "completed", "2024-07-11T21:40:48Z"))
		e.post(t, "truv", bodies[i])
	}
	e.waitApplied(t, 3)
	if got := e.post(t, "truv", bodies[0]); !got.Duplicate {
		t.Fatalf("retry: %+v, want a duplicate", got)
	}
	if code, _ := e.postRaw(t, "POST", "/webhooks/truv", bodies[1], http.Header{adaptertest.FakeTokenHeader: {"wrong"}}); code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d, want 401", code)
	}
	for name, s := range map[string]frameReader{"grpc": grpcSub, "rest": restSub, "sse": sseSub} {
		if evs, _ := recvUntil(t, s, 3); len(evs) != 3 {
			t.Fatalf("%s subscriber got %d events, want 3", name, len(evs))
		}
	}
	// The index commits in groups: wait until every event is in a commit
	// the histogram has seen.
	var m map[string]string
	testkit.WaitFor(t, 10*time.Second, "three events in index commits", func() bool {
		m = e.scrape(t)
		return m["hookline_index_apply_batch_events_sum"] == "3"
	})

	truv := func(labels string) string { return "{" + labels + `provider="truv",source="default"}` }
	want := map[string]string{
		// The counters /metrics had before, moving as before.
		"hookline_deliveries_accepted_total" + truv(""):                        "4",
		"hookline_deliveries_duplicate_total" + truv(""):                       "1",
		"hookline_events_stored_total" + truv(""):                              "3",
		"hookline_deliveries_rejected_total" + truv(`code="unauthenticated",`): "1",
		"hookline_index_applied_sequence":                                      "3",
		"hookline_index_ids_in_memory":                                         "3",
		"hookline_index_id_records":                                            "0",
		// Histograms: one observation per delivery, per Store call, per
		// live send.
		"hookline_webhook_duration_seconds_count" + truv(`outcome="accepted",`):        "3",
		"hookline_webhook_duration_seconds_count" + truv(`outcome="duplicate",`):       "1",
		"hookline_webhook_duration_seconds_count" + truv(`outcome="unauthenticated",`): "1",
		"hookline_webhook_duration_seconds_count" + truv(`outcome="ping",`):            "0",
		`hookline_append_duration_seconds_count{outcome="stored"}`:                     "3",
		`hookline_append_duration_seconds_count{outcome="duplicate"}`:                  "1",
		`hookline_append_duration_seconds_count{outcome="failed"}`:                     "0",
		`hookline_event_delivery_seconds_count{transport="grpc"}`:                      "3",
		`hookline_event_delivery_seconds_count{transport="rest"}`:                      "3",
		`hookline_event_delivery_seconds_count{transport="sse"}`:                       "3",
		// Gauges.
		`hookline_subscribers{transport="grpc"}`: "1",
		`hookline_subscribers{transport="rest"}`: "1",
		`hookline_subscribers{transport="sse"}`:  "1",
		"hookline_subscriber_max_lag_events":     "0",
		"hookline_subscriber_max_lag_seconds":    "0",
		"hookline_store_up":                      "1",
		"hookline_stream_messages":               "3",
		"hookline_stream_first_sequence":         "1",
		"hookline_stream_last_sequence":          "3",
		"hookline_index_lagging":                 "0",
	}
	for series, w := range want {
		if got, ok := m[series]; !ok || got != w {
			t.Errorf("%s = %q (present %v), want %s", series, got, ok, w)
		}
	}
	if n, _ := strconv.Atoi(m["hookline_index_apply_duration_seconds_count"]); n < 1 {
		t.Errorf("hookline_index_apply_duration_seconds_count = %q, want at least one commit", m["hookline_index_apply_duration_seconds_count"])
	}
	// Every observed latency is positive and below the test's own length.
	for _, sum := range []string{
		"hookline_webhook_duration_seconds_sum" + truv(`outcome="accepted",`), `hookline_append_duration_seconds_sum{outcome="stored"}`,
		`hookline_event_delivery_seconds_sum{transport="grpc"}`,
	} {
		if v, err := strconv.ParseFloat(m[sum], 64); err != nil || v <= 0 || v > guard.Seconds() {
			t.Errorf("%s = %q, want a positive duration", sum, m[sum])
		}
	}
	for _, name := range []string{"hookline_stream_bytes", "hookline_stream_subjects", "go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if v, ok := m[name]; !ok || v == "0" {
			t.Errorf("%s = %q (present %v), want a figure", name, v, ok)
		}
	}
}

// TestMetricsWithoutStore: when the event store does not answer, the scrape
// still succeeds and says so with hookline_store_up 0, without stream
// figures.
func TestMetricsWithoutStore(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	e.log.NATS.Shutdown()
	var m map[string]string
	testkit.WaitFor(t, 20*time.Second, "hookline_store_up 0", func() bool {
		m = e.scrape(t)
		return m["hookline_store_up"] == "0"
	})
	if v, ok := m["hookline_stream_messages"]; ok {
		t.Errorf("hookline_stream_messages = %s with the store down, want none", v)
	}
	if _, ok := m["hookline_index_applied_sequence"]; !ok {
		t.Error("the other figures are missing with the store down")
	}
}

// TestSubscriberLagGauges: a REST subscriber that reads from the start and
// then stops reading shows as the most lagging subscriber, with events yet
// to send and an age that grows while it stays stuck; once it leaves, the
// lag is gone.
func TestSubscriberLagGauges(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	const n = 200 // 12 MB: more than the gateway's windows and the sockets hold
	e.postLarge(t, "lag", n)
	e.waitApplied(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.openUnread(t, ctx, "/v1/events:subscribe?position=START_POSITION_EARLIEST")

	lag := func() (events, seconds float64) {
		m := e.scrape(t)
		events, _ = strconv.ParseFloat(m["hookline_subscriber_max_lag_events"], 64)
		seconds, _ = strconv.ParseFloat(m["hookline_subscriber_max_lag_seconds"], 64)
		return events, seconds
	}
	var events, first float64
	testkit.WaitFor(t, 10*time.Second, "a lagging subscriber", func() bool {
		events, first = lag()
		return events > 0 && first > 0
	})
	if events > n {
		t.Errorf("max lag %v events, more than the %d in the log", events, n)
	}
	testkit.WaitFor(t, 10*time.Second, "its lag to grow while it is stuck", func() bool {
		_, s := lag()
		return s >= first+0.5
	})
	cancel()
	testkit.WaitFor(t, 10*time.Second, "no lag once it left", func() bool {
		events, s := lag()
		return events == 0 && s == 0 && e.srv.subs.Stats().Open == 0
	})
}
