package server

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/finicity"
	"github.com/hookline/hookline/adapters/registry"
	"github.com/hookline/hookline/adapters/swyft"
	"github.com/hookline/hookline/adapters/truv"
)

// This file holds the server tests whose point is a real provider's
// behaviour through the webhook handler: each provider's authentication
// and payload errors, its deliveries accepted end to end, and FuzzIngest
// over the providers' recorded fixtures. They, and the ingest benchmarks
// (bench_test.go), are the only server tests that know a provider's wire
// format; every other test runs on fake sources (env_test.go).

// Secrets of the real-provider sources.
const (
	testTruvSecret     = "truv-test-secret"
	testFinicitySecret = "finicity-test-secret"
	testSwyftAuth      = "Bearer swyft-test"
)

// providerSources returns the default source of every real provider, with
// the secrets above.
func providerSources(t testing.TB) []*Source {
	return []*Source{
		newSource(t, truv.Factory, "default", testTruvSecret),
		newSource(t, finicity.Factory, "default", testFinicitySecret),
		newSource(t, swyft.Factory, "default", testSwyftAuth),
	}
}

// newProviderEnv is newTestEnv with the real providers' adapters
// (adapters/registry) as sources, in place of the fakes.
func newProviderEnv(t testing.TB, eo envOptions) *testEnv {
	t.Helper()
	cfg := eo.cfg
	eo.cfg = func(c *Config) {
		c.Sources = providerSources(t)
		c.Ingest.Providers = registry.Factories()
		if cfg != nil {
			cfg(c)
		}
	}
	return newTestEnv(t, eo)
}

// truvOrderBody returns a Truv order-status-updated body.
func truvOrderBody(webhookID, orderID, status, updatedAt string) []byte {
	return fmt.Appendf(nil, `{"webhook_id":%q,"event_type":"order-status-updated","event_created_at":%q,"updated_at":%q,`+
		`"product":"income","order_id":%q,"order_number":"4138538","status":%q,"user_id":"adbe707dddee4334bffaeb5866272740"}`,
		webhookID, updatedAt, updatedAt, orderID, status)
}

// finicityBody returns a Finicity Connect event body.
func finicityBody(eventType, customerID string, millis int64, hex24 string) []byte {
	return fmt.Appendf(nil, `{"customerId":%q,"eventType":%q,"eventId":"%d-%s","payload":{"institutionId":"102176"}}`,
		customerID, eventType, millis, hex24)
}

// swyftBody returns a Swyft order_status_change body.
func swyftBody(eventID, uuid, oldStatus, newStatus, updatedAt string) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"event":{"name":"order_status_change","changed_field":"status","old_status":%q,"new_status":%q},`+
		`"order":{"id":7,"uuid":%q,"service":"ein","status":%q,"processing_status":"Under Review","updated_at":%q}}`,
		eventID, oldStatus, newStatus, uuid, newStatus, updatedAt)
}

// signTruv returns the Truv signature header value of body.
func signTruv(secret string, body []byte) string {
	return "v1=" + hex.EncodeToString(adapters.HMACSHA256([]byte(secret), body))
}

// signFinicity returns the Finicity signature header value of body.
func signFinicity(secret string, body []byte) string {
	return hex.EncodeToString(adapters.HMACSHA256([]byte(secret), body))
}

// TestProviderRejections: each provider's own authentication failures and
// payload errors, through the handler, get the documented answer and store
// nothing. (What the server itself refuses is TestIngestRejectsBadInput.)
func TestProviderRejections(t *testing.T) {
	e := newProviderEnv(t, envOptions{})
	valid := truvOrderBody("0aac461e7b774a38a72fd9c7c0eef8ee", "ddd192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00")
	truvHeaders := func(body []byte) http.Header {
		return http.Header{"Content-Type": {"application/json"}, "X-Webhook-Sign": {signTruv(testTruvSecret, body)}}
	}
	fin := finicityBody("started", "6030781868", 1688829092668, "518e7b2cd7948bcdb968c433")
	sw := swyftBody("9001", "a746224f-d569-4aba-a271-4532259aba42", "Active", "Cancelled", "2025-08-07 08:49:37")
	testRejections(t, e, []rejection{
		{"truv bad signature", "POST", "/webhooks/truv", valid, http.Header{"X-Webhook-Sign": {"v1=" + strings.Repeat("ab", 32)}}, false, 401, "unauthenticated"},
		{"truv missing signature", "POST", "/webhooks/truv", valid, http.Header{"Content-Type": {"application/json"}}, false, 401, "unauthenticated"},
		{"truv signature of a different body", "POST", "/webhooks/truv", valid, truvHeaders([]byte(`{}`)), false, 401, "unauthenticated"},
		{"truv malformed signature header", "POST", "/webhooks/truv", valid, http.Header{"X-Webhook-Sign": {"v1=zz"}}, false, 401, "unauthenticated"},
		{"truv signature without v1 prefix", "POST", "/webhooks/truv", valid, http.Header{"X-Webhook-Sign": {strings.TrimPrefix(signTruv(testTruvSecret, valid), "v1=")}}, false, 401, "unauthenticated"},
		{"finicity missing signature", "POST", "/webhooks/finicity", fin, http.Header{"Content-Type": {"application/json"}}, false, 401, "unauthenticated"},
		{"finicity wrong signature", "POST", "/webhooks/mastercard", fin, http.Header{"X-Finicity-Signature": {signFinicity("nope", fin)}}, false, 401, "unauthenticated"},
		{"truv-signed body sent to finicity", "POST", "/webhooks/finicity", valid, truvHeaders(valid), false, 401, "unauthenticated"},
		{"swyft missing authorization", "POST", "/webhooks/swyft", sw, http.Header{"Content-Type": {"application/json"}}, false, 401, "unauthenticated"},
		{"swyft wrong authorization", "POST", "/webhooks/swyft", sw, http.Header{"Authorization": {"Bearer guess"}}, false, 401, "unauthenticated"},
		{"event_type is a number", "POST", "/webhooks/truv", []byte(`{"webhook_id":"x","event_type":7}`), truvHeaders([]byte(`{"webhook_id":"x","event_type":7}`)), false, 400, "malformed_payload"},
		{"swyft invalid JSON", "POST", "/webhooks/swyft", []byte(`{"event_id": "1",}`), http.Header{"Authorization": {testSwyftAuth}}, false, 400, "malformed_payload"},
	}, testTruvSecret, testSwyftAuth, "ddd192646b3c48be96651a0ff25cef85")
}

// TestProviderDeliveriesAccepted: a correctly signed delivery of each real
// provider is stored (a Finicity ping, under its alias, is answered and
// not stored).
func TestProviderDeliveriesAccepted(t *testing.T) {
	e := newProviderEnv(t, envOptions{})
	truvBody := truvOrderBody("1aac461e7b774a38a72fd9c7c0eef8ee", "ddd192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00")
	finBody := finicityBody("started", "6030781868", 1688829092668, "518e7b2cd7948bcdb968c433")
	swBody := swyftBody("9001", "a746224f-d569-4aba-a271-4532259aba42", "Active", "Cancelled", "2025-08-07 08:49:37")
	ping := []byte(`{"eventType":"ping","payload":{}}`)
	tests := []struct {
		name, path string
		body       []byte
		header     http.Header
		want       string // answerSummary of the answer
	}{
		{"truv order", "/webhooks/truv", truvBody, http.Header{"X-Webhook-Sign": {signTruv(testTruvSecret, truvBody)}}, "ping=false [EVENT_TYPE_ORDER_STATUS_CHANGED]"},
		{"finicity session", "/webhooks/finicity", finBody, http.Header{"X-Finicity-Signature": {signFinicity(testFinicitySecret, finBody)}}, "ping=false [EVENT_TYPE_SESSION_STARTED]"},
		{"finicity ping under its alias", "/webhooks/mastercard", ping, http.Header{"X-Finicity-Signature": {signFinicity(testFinicitySecret, ping)}}, "ping=true []"},
		{"swyft order", "/webhooks/swyft", swBody, http.Header{"Authorization": {testSwyftAuth}}, "ping=false [EVENT_TYPE_ORDER_STATUS_CHANGED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := e.postRaw(t, http.MethodPost, tt.path, tt.body, tt.header)
			var acc Accepted
			if code != http.StatusOK || json.Unmarshal(b, &acc) != nil {
				t.Fatalf("%d %s, want 200", code, b)
			}
			if got := answerSummary(acc); got != tt.want {
				t.Errorf("answer %s: %s, want %s", b, got, tt.want)
			}
		})
	}
}

// answerSummary renders whether an answer is a ping and the types of the
// events it stored anew.
func answerSummary(acc Accepted) string {
	types := []string{}
	for _, ev := range acc.Events {
		if ev.Sequence != 0 && !ev.Duplicate {
			types = append(types, ev.Type)
		}
	}
	return fmt.Sprintf("ping=%v %v", acc.Ping, types)
}

// fuzzProviders are the webhook paths FuzzIngest posts to, in the order of
// its provider argument.
var fuzzProviders = []string{"truv", "finicity", "swyft"}

// FuzzIngest sends arbitrary bodies and content types to every provider's
// endpoint, signed the way the provider signs (or not), through the whole
// handler with a store that keeps nothing. Whatever the input, the answer
// is a JSON body with a 200 (with events or a ping), or a 4xx error with a
// code, a message and a request id; never a 5xx, never a panic, and a
// correctly signed delivery is never refused as unauthenticated.
//
// go test ./server/ -run '^$' -fuzz '^FuzzIngest$' -fuzztime 60s -parallel 1
func FuzzIngest(f *testing.F) {
	in, err := NewIngest(providerSources(f), &discardStore{}, slog.New(slog.DiscardHandler), IngestOptions{MaxBodyBytes: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	in.Register(mux)

	for i, p := range fuzzProviders {
		files, err := filepath.Glob(filepath.Join("..", "adapters", p, "testdata", "fixtures", "*.json"))
		if err != nil || len(files) == 0 {
			f.Fatalf("no %s fixtures: %v", p, err)
		}
		for _, file := range files {
			body, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), body, "application/json", true)
		}
	}
	f.Add(uint8(0), []byte(`{"event_type":"order-status-updated"}`), "text/plain", true)
	f.Add(uint8(1), []byte(`{"eventType":"ping"}`), "", false)
	f.Add(uint8(2), []byte(`[]`), "application/json; charset=utf-8", true)

	f.Fuzz(func(t *testing.T, provider uint8, body []byte, contentType string, sign bool) {
		p := fuzzProviders[int(provider)%len(fuzzProviders)]
		req := httptest.NewRequest(http.MethodPost, "/webhooks/"+p, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if sign {
			switch p {
			case "truv":
				req.Header.Set("X-Webhook-Sign", signTruv(testTruvSecret, body))
			case "finicity":
				req.Header.Set("X-Finicity-Signature", signFinicity(testFinicitySecret, body))
			case "swyft":
				req.Header.Set("Authorization", testSwyftAuth)
			}
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)

		code := rec.Code
		if code >= 500 {
			t.Fatalf("%s: %d %s", p, code, rec.Body)
		}
		if sign && code == http.StatusUnauthorized {
			t.Fatalf("%s: a correctly signed delivery was refused: %s", p, rec.Body)
		}
		if code == http.StatusOK {
			var acc Accepted
			if err := json.Unmarshal(rec.Body.Bytes(), &acc); err != nil || acc.RequestID == "" || (len(acc.Events) == 0) != acc.Ping {
				t.Fatalf("%s: 200 with %s (%v)", p, rec.Body, err)
			}
			for _, ev := range acc.Events {
				if ev.ID == "" || ev.Type == "" || ev.Sequence == 0 {
					t.Fatalf("%s: accepted event %+v", p, ev)
				}
			}
			return
		}
		var eb errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" || eb.Error.RequestID == "" {
			t.Fatalf("%s: %d with %s (%v)", p, code, rec.Body, err)
		}
	})
}
