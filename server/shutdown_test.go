package server

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestShutdownEndsOpenStreams checks that open subscriptions (gRPC and SSE)
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
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		e.done <- nil // for the cleanup
	case <-time.After(25 * time.Second):
		t.Fatal("Run still waiting for open streams after 25s")
	}
	t.Logf("shutdown took %s", time.Since(start))
	for {
		_, err := stream.Recv()
		if err == nil {
			continue
		}
		st := status.Convert(err)
		if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "shutting down") {
			t.Errorf("stream ended with %v, want UNAVAILABLE shutting down", err)
		}
		break
	}
}
