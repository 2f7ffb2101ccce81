package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"github.com/hookline/hookline/internal/testkit"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestShutdownEndsOpenStreams checks that open subscriptions (gRPC, REST and SSE)
// do not hold a graceful shutdown up: Run returns promptly and the gRPC
// subscriber is told to resume (UNAVAILABLE, SHUTTING_DOWN).
func TestShutdownEndsOpenStreams(t *testing.T) {
	e := newTestEnv(t, envOptions{cfg: func(c *Config) { c.ShutdownTimeout = 30 * time.Second }})
	stream, err := e.client.Subscribe(t.Context(), &hooklinev1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil { // the first bookmark: the stream is live
		t.Fatal(err)
	}
	resp, err := http.Get(e.httpURL + "/v1/events:sse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sse := bufio.NewReader(resp.Body)
	if _, err := sse.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	rest := e.open(t, http.MethodGet, "/v1/events:subscribe", nil, nil)
	defer rest.Body.Close()
	ndjson := bufio.NewReader(rest.Body)
	if _, err := ndjson.ReadString('\n'); err != nil { // the first bookmark line
		t.Fatal(err)
	}

	start := time.Now()
	e.cancel()
	e.waitRunReturned(t, "Run still waiting for open streams after 25s")
	t.Logf("shutdown took %s", time.Since(start))
	for {
		_, err := stream.Recv()
		if err == nil {
			continue
		}
		st := status.Convert(err)
		if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "shutting down") ||
			errorInfo(st).GetReason() != ReasonShuttingDown {
			t.Errorf("stream ended with %v, want UNAVAILABLE shutting down, reason %s", err, ReasonShuttingDown)
		}
		break
	}
	// The SSE and REST streams end with an error frame or line that says
	// the same.
	tail, _ := io.ReadAll(sse)
	if !strings.Contains(string(tail), "event: error\ndata: ") || !strings.Contains(string(tail), `"code":"shutting_down"`) {
		t.Errorf("SSE stream ended with %q, want an error frame with %s", tail, ReasonShuttingDown)
	}
	tail, _ = io.ReadAll(ndjson)
	if !strings.HasPrefix(string(tail), `{"error":`) || !strings.Contains(string(tail), `"code":"shutting_down"`) {
		t.Errorf("REST stream ended with %q, want an error line with %s", tail, ReasonShuttingDown)
	}
}

// waitRunReturned waits up to 25 s for Run to return nil after e.cancel,
// failing with stuck otherwise, and leaves the result for the cleanup.
func (e *testEnv) waitRunReturned(t *testing.T, stuck string) {
	t.Helper()
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		e.done <- nil
	case <-time.After(25 * time.Second):
		t.Fatal(stuck)
	}
}

// gatedLog holds every Append until release is closed, after telling
// entered that one is waiting.
type gatedLog struct {
	EventLog
	entered chan struct{}
	release chan struct{}
}

func (g *gatedLog) Append(ctx context.Context, ev *hooklinev1.Event) (eventlog.AppendResult, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.release
	return g.EventLog.Append(ctx, ev)
}

// TestShutdownFinishesInFlightDeliveries: a delivery whose append is under
// way when the shutdown starts is still stored and answered 200, Run waits
// for it, and no new delivery is accepted meanwhile.
func TestShutdownFinishesInFlightDeliveries(t *testing.T) {
	gate := &gatedLog{entered: make(chan struct{}, 1), release: make(chan struct{})}
	e := newTestEnv(t, envOptions{cfg: func(c *Config) {
		gate.EventLog = c.Log
		c.Log = gate
		c.ShutdownTimeout = 30 * time.Second
	}})
	body := orderBody("8aac461e7b774a38a72fd9c7c0eef8ee", "cde192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00")
	hdr := authHeaders("truv")
	type answer struct {
		code int
		body []byte
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, e.httpURL+"/webhooks/truv", bytes.NewReader(body))
		req.Header = hdr
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- answer{resp.StatusCode, b, err}
	}()
	<-gate.entered

	e.cancel()
	// The listener closes: a new delivery cannot get in.
	testkit.WaitFor(t, 10*time.Second, "the HTTP listener to close", func() bool {
		resp, err := http.Post(e.httpURL+"/webhooks/truv", "application/json", strings.NewReader("{}"))
		if err != nil {
			return true
		}
		resp.Body.Close()
		return false
	})
	select {
	case err := <-e.done:
		t.Fatalf("Run returned (%v) with a delivery still appending", err)
	case a := <-answered:
		t.Fatalf("the delivery was answered (%d, %v) before its append finished", a.code, a.err)
	default:
	}

	close(gate.release)
	a := <-answered
	var acc Accepted
	if a.err != nil || a.code != http.StatusOK || json.Unmarshal(a.body, &acc) != nil || len(acc.Events) != 1 {
		t.Fatalf("in-flight delivery: %d %s %v, want 200 with one event", a.code, a.body, a.err)
	}
	e.waitRunReturned(t, "Run did not return after the in-flight delivery finished")
	ev, err := e.log.Get(context.Background(), acc.Events[0].Sequence)
	if err != nil || ev.GetProviderEventId() != "8aac461e7b774a38a72fd9c7c0eef8ee" {
		t.Fatalf("stored event at %d = %v, %v", acc.Events[0].Sequence, ev, err)
	}
}
