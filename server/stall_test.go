package server

import (
	"context"
	"fmt"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/testkit"
)

// TestStalledStreamsAreLetGo: a REST or SSE subscriber that stops reading
// holds its catch-up buffer in the gateway; once it has accepted nothing
// for the stall timeout its stream ends (it would resume from its last
// sequence), and its subscription slot is free again. A subscriber that
// reads is not affected.
func TestStalledStreamsAreLetGo(t *testing.T) {
	e := newTestEnv(t, envOptions{cfg: func(c *Config) { c.StreamStallTimeout = 300 * time.Millisecond }})
	// Enough stored bytes to fill the sockets' buffers between the gateway
	// and a client that reads nothing.
	e.postLarge(t, "stall", 400)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, path := range []string{"/v1/events:subscribe?position=START_POSITION_EARLIEST", "/v1/events:sse?position=earliest"} {
		e.openUnread(t, ctx, path)
	}
	live := e.subscribe(t, &hooklinev1.SubscribeRequest{})
	testkit.WaitFor(t, 10*time.Second, "three open subscriptions", func() bool { return e.srv.subs.Stats().Open == 3 })
	testkit.WaitFor(t, 30*time.Second, "the stalled streams to be let go", func() bool { return e.srv.subs.Stats().Open == 1 })
	if _, err := live.Recv(); err != nil {
		t.Errorf("the subscriber that reads: %v", err)
	}
}

// postLarge posts n Truv deliveries of about 60 KiB each, over seven
// orders, with ids prefix-0 … prefix-(n-1).
func (e *testEnv) postLarge(t *testing.T, prefix string, n int) {
	t.Helper()
	pad := strings.Repeat("p", 60<<10)
	for i := range n {
		b := orderBody(fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("o%d", i%7), "pending", "2024-07-11T21:40:48Z")
		e.post(t, "truv", []byte(strings.Replace(string(b), "{", `{"pad":"`+pad+`",`, 1)))
	}
}

// openUnread opens a REST or SSE stream on its own connection and never
// reads it; it ends with ctx or the test.
func (e *testEnv) openUnread(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.httpURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
}

// TestProfiling: Go's profiles are served only when asked for.
func TestProfiling(t *testing.T) {
	for _, on := range []bool{false, true} {
		e := newTestEnv(t, envOptions{cfg: func(c *Config) { c.Profiling = on }})
		code, _ := e.postRaw(t, http.MethodGet, "/debug/pprof/", nil, nil)
		if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[on]; code != want {
			t.Errorf("Profiling %v: GET /debug/pprof/ = %d, want %d", on, code, want)
		}
	}
}
