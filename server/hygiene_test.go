package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsHoldNoSecretsOrPayload drives accepted and rejected deliveries
// with debug logging on and checks that no secret, signature or payload
// value reaches the log.
func TestLogsHoldNoSecretsOrPayload(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newTestEnv(t, envOptions{cfg: func(c *Config) { c.Logger = logger }})

	const email, phone, orderID = "owner@example.com", "5550100000", "aaa192646b3c48be96651a0ff25cef85"
	swyft := []byte(`{"event_id":"77","event":{"name":"order_status_change","old_status":"Active","new_status":"Cancelled"},` +
		`"order":{"id":9,"uuid":"` + orderID + `","first_name":"Example","last_name":"Owner","email":"` + email + `","phone_number":"` + phone + `","updated_at":"2025-08-07 08:49:37"}}`)
	truv := truvOrderBody("7aac461e7b774a38a72fd9c7c0eef8ee", orderID, "completed", "2024-07-11T21:40:48.424655+00:00")
	goodSig := signTruv(testTruvSecret, truv)
	badSig := signTruv("not-the-secret", truv)

	e.postTruv(t, truv)
	e.postRaw(t, "POST", "/webhooks/truv", truv, http.Header{"X-Webhook-Sign": {badSig}})
	e.postRaw(t, "POST", "/webhooks/truv", truv[:30], http.Header{"X-Webhook-Sign": {signTruv(testTruvSecret, truv[:30])}})
	e.postRaw(t, "POST", "/webhooks/swyft", swyft, http.Header{"Authorization": {testSwyftAuth}})
	e.postRaw(t, "POST", "/webhooks/swyft", swyft, http.Header{"Authorization": {"Bearer wrong-guess"}})

	out := logs.String()
	if !strings.Contains(out, "webhook_rejected") || !strings.Contains(out, "webhook_accepted") {
		t.Fatalf("expected both accepted and rejected log lines; got:\n%s", out)
	}
	for _, secret := range []string{testTruvSecret, testSwyftAuth, "swyft-test", "wrong-guess", goodSig[3:], badSig[3:], email, phone, "Owner", orderID} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}

// TestNotReadyRefusesWebhooks: before the index has caught up with the log
// (here: the server is not running its follower at all), webhooks get 503
// and /readyz says why.
func TestNotReadyRefusesWebhooks(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	s, err := New(Config{Log: e.log, Index: e.idx, Sources: sourceList(e.srv.ingest), OpenAPI: []byte(`{"swagger":"2.0"}`)})
	if err != nil {
		t.Fatal(err)
	}
	h := s.HTTPHandler(nil)
	body := truvOrderBody("8aac461e7b774a38a72fd9c7c0eef8ee", "bbb192646b3c48be96651a0ff25cef85", "pending", "2024-07-11T21:40:48.424655+00:00")
	req := httptest.NewRequest("POST", "/webhooks/truv", bytes.NewReader(body))
	req.Header.Set("X-Webhook-Sign", signTruv(testTruvSecret, body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("webhook before ready: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "catching up") {
		t.Errorf("/readyz before ready: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/healthz: %d", rec.Code)
	}
}

// TestOpenAPIServed: the gateway serves the OpenAPI document it was given.
func TestOpenAPIServed(t *testing.T) {
	e := newTestEnv(t, envOptions{cfg: func(c *Config) { c.OpenAPI = []byte(`{"swagger":"2.0","paths":{"/v1/events":{}}}`) }})
	code, b := e.postRaw(t, "GET", "/openapi.json", nil, nil)
	var doc map[string]any
	if code != http.StatusOK || json.Unmarshal(b, &doc) != nil || doc["swagger"] != "2.0" {
		t.Errorf("/openapi.json: %d %s", code, b)
	}
}

func sourceList(in *Ingest) []*Source {
	out := make([]*Source, 0, len(in.sources))
	for _, s := range in.sources {
		out = append(out, s)
	}
	return out
}
