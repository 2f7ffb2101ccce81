package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestAPITokens: with tokens configured, the read API answers only calls
// that carry one of them (either, during a rotation), over gRPC, REST and
// SSE; everything else gets UNAUTHENTICATED / 401 and is counted. Health,
// readiness, metrics and webhooks are not affected.
func TestAPITokens(t *testing.T) {
	var logs syncBuffer
	e := newTestEnv(t, envOptions{cfg: func(c *Config) {
		c.APITokens = []string{"old-token", "new-token"}
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	acc := e.post(t, "truv", orderBody("baac461e7b774a38a72fd9c7c0eef8ee", "fab192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00"))
	e.waitApplied(t, acc.Events[0].Sequence)

	withAuth := func(v string) context.Context {
		return metadata.AppendToOutgoingContext(t.Context(), "authorization", v)
	}
	for name, ctx := range map[string]context.Context{
		"no token":      t.Context(),
		"wrong token":   withAuth("Bearer guess"),
		"not bearer":    withAuth("Basic b2xkLXRva2Vu"),
		"token alone":   withAuth("new-token"),
		"prefix of one": withAuth("Bearer new-tok"),
	} {
		_, err := e.client.GetEvent(ctx, &hooklinev1.GetEventRequest{Id: acc.Events[0].ID})
		if st := status.Convert(err); st.Code() != codes.Unauthenticated || errorInfo(st).GetReason() != ReasonUnauthenticated {
			t.Errorf("GetEvent, %s: %v, want UNAUTHENTICATED", name, err)
		}
		stream, err := e.client.Subscribe(ctx, &hooklinev1.SubscribeRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("Subscribe, %s: %v, want UNAUTHENTICATED", name, err)
		}
	}
	for _, tok := range []string{"old-token", "new-token"} {
		if _, err := e.client.GetEvent(withAuth("Bearer "+tok), &hooklinev1.GetEventRequest{Id: acc.Events[0].ID}); err != nil {
			t.Errorf("GetEvent with %s: %v", tok, err)
		}
	}
	stream, err := e.client.Subscribe(withAuth("bearer new-token"), &hooklinev1.SubscribeRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if err != nil {
		t.Errorf("Subscribe with a token: %v", err)
	}

	for _, path := range []string{"/v1/events/" + acc.Events[0].ID, "/v1/events:subscribe", "/v1/events:sse"} {
		resp := e.open(t, http.MethodGet, path, nil, nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without a token: %d, WWW-Authenticate %q; want 401 with a challenge", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		resp = e.open(t, http.MethodGet, path, nil, http.Header{"Authorization": {"Bearer old-token"}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with a token: %d", path, resp.StatusCode)
		}
	}

	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		if code, b := e.postRaw(t, http.MethodGet, path, nil, nil); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, b)
		}
	}
	if _, err := healthpb.NewHealthClient(e.conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("gRPC health without a token: %v", err)
	}
	if got := e.scrape(t)["hookline_api_unauthenticated_total"]; got != "13" {
		t.Errorf("refused calls counted %s, want 13", got)
	}
	for _, secret := range []string{"old-token", "new-token", "guess", "b2xkLXRva2Vu"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}
