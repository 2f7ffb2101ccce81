package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/hookline/hookline/internal/testkit"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters/adaptertest"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// lastSeq returns the log's last sequence.
func (e *testEnv) lastSeq(t testing.TB) uint64 {
	t.Helper()
	_, last, err := e.log.Bounds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// rejection is a request the webhook endpoints must refuse: the status
// and error code it must get.
type rejection struct {
	name, method, path string
	body               []byte
	header             http.Header
	chunked            bool
	status             int
	code               string
}

// testRejections sends each request to e and checks its answer: the
// status, and an error body with the code, a message and a request id
// that holds none of leaks (secrets and payload values). None of them may
// store an event.
func testRejections(t *testing.T, e *testEnv, tests []rejection, leaks ...string) {
	t.Helper()
	before := e.lastSeq(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(bytes.NewReader(tt.body)) // unknown length: sent chunked
			}
			req, err := http.NewRequest(tt.method, e.httpURL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, tt.status, b)
			}
			if tt.code == "" {
				return
			}
			var eb errorBody
			if err := json.Unmarshal(b, &eb); err != nil {
				t.Fatalf("error body %q: %v", b, err)
			}
			if eb.Error.Code != tt.code || eb.Error.Message == "" || eb.Error.RequestID == "" {
				t.Errorf("error = %+v, want code %q with a message and request id", eb.Error, tt.code)
			}
			for _, leak := range leaks {
				if strings.Contains(string(b), leak) {
					t.Errorf("error body leaks a secret or payload value: %s", b)
				}
			}
		})
	}
	if got := e.lastSeq(t); got != before {
		t.Errorf("rejected requests stored events: last sequence %d → %d", before, got)
	}
}

// TestIngestRejectsBadInput: what the server refuses whatever the
// provider (routes, methods, sizes, encodings), and how it answers the
// errors an adapter reports. Each provider's own signature and payload
// cases are TestProviderRejections.
func TestIngestRejectsBadInput(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	valid := orderBody("0aac461e7b774a38a72fd9c7c0eef8ee", "ddd192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00")
	auth := authHeaders("truv")
	with := func(k, v string) http.Header {
		h := authHeaders("truv")
		h.Set(k, v)
		return h
	}
	big := bytes.Repeat([]byte("x"), 65<<10)
	testRejections(t, e, []rejection{
		{"wrong token", "POST", "/webhooks/truv", valid, with(adaptertest.FakeTokenHeader, "guess"), false, 401, "unauthenticated"},
		{"missing token", "POST", "/webhooks/truv", valid, http.Header{"Content-Type": {"application/json"}}, false, 401, "unauthenticated"},
		{"another source's token", "POST", "/webhooks/truv", valid, with(adaptertest.FakeTokenHeader, tokenOf("truv", "sandbox")), false, 401, "unauthenticated"},
		{"another provider's token", "POST", "/webhooks/mastercard", valid, auth, false, 401, "unauthenticated"},
		{"unknown provider", "POST", "/webhooks/stripe", valid, auth, false, 404, "unknown_provider"},
		{"unknown source", "POST", "/webhooks/truv/production", valid, auth, false, 404, "unknown_source"},
		{"GET is not allowed", "GET", "/webhooks/truv", nil, nil, false, 405, "method_not_allowed"},
		{"PUT is not allowed", "PUT", "/webhooks/truv/sandbox", valid, auth, false, 405, "method_not_allowed"},
		{"oversized body with content length", "POST", "/webhooks/truv", big, auth, false, 413, "payload_too_large"},
		{"oversized chunked body", "POST", "/webhooks/truv", big, auth, true, 413, "payload_too_large"},
		{"truncated JSON", "POST", "/webhooks/truv", valid[:40], auth, false, 400, "malformed_payload"},
		{"empty body", "POST", "/webhooks/truv", []byte{}, auth, false, 400, "malformed_payload"},
		{"JSON array", "POST", "/webhooks/truv", []byte(`[1,2]`), auth, false, 400, "malformed_payload"},
		{"trailing data after the object", "POST", "/webhooks/truv", append(append([]byte{}, valid...), '{'), auth, false, 400, "malformed_payload"},
		{"not UTF-8 JSON", "POST", "/webhooks/truv", []byte{0xff, 0xfe, 0x00}, auth, false, 400, "malformed_payload"},
		{"wrong content type", "POST", "/webhooks/truv", valid, with("Content-Type", "text/plain"), false, 415, "unsupported_media_type"},
		{"form content type", "POST", "/webhooks/truv", valid, with("Content-Type", "application/x-www-form-urlencoded"), false, 415, "unsupported_media_type"},
		{"gzip content encoding", "POST", "/webhooks/truv", valid, with("Content-Encoding", "gzip"), false, 415, "unsupported_media_type"},
		{"trailing slash", "POST", "/webhooks/truv/", valid, auth, false, 404, "not_found"},
		{"extra path segment", "POST", "/webhooks/truv/sandbox/extra", valid, auth, false, 404, "not_found"},
	}, tokenOf("truv", "default"), "ddd192646b3c48be96651a0ff25cef85")
}

func TestIngestAcceptsAndAnswers(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	body := orderBody("1aac461e7b774a38a72fd9c7c0eef8ee", "ddd192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00")
	acc := e.post(t, "truv", body)
	if acc.Duplicate || len(acc.Events) != 1 || acc.Events[0].Sequence == 0 || !strings.HasPrefix(acc.Events[0].ID, "evt_") ||
		acc.Events[0].Type != "EVENT_TYPE_ORDER_STATUS_CHANGED" || acc.RequestID == "" {
		t.Fatalf("answer = %+v", acc)
	}
	again := e.post(t, "truv", body)
	if !again.Duplicate || again.Events[0].Sequence != acc.Events[0].Sequence || again.Events[0].ID != acc.Events[0].ID {
		t.Fatalf("retry answer = %+v, want duplicate of %+v", again, acc)
	}

	// Unknown event type: accepted, stored as unmapped, counted.
	unknown := adaptertest.FakeBody(adaptertest.FakeEvent{ID: "2aac461e7b774a38a72fd9c7c0eef8ee", Kind: "payroll-report-ready", Subject: "o1"})
	u := e.post(t, "truv", unknown)
	if len(u.Events) != 1 || u.Events[0].Type != "EVENT_TYPE_UNMAPPED" || u.Duplicate {
		t.Fatalf("unknown event answer = %+v", u)
	}

	// A ping (to Finicity, under its alias): 200, nothing stored.
	before := e.lastSeq(t)
	ping := adaptertest.FakeBody(adaptertest.FakeEvent{Kind: adaptertest.FakeKindPing})
	code, b := e.postRaw(t, "POST", "/webhooks/mastercard", ping, authHeaders("finicity"))
	if code != 200 || !strings.Contains(string(b), `"ping":true`) {
		t.Fatalf("ping: %d %s", code, b)
	}
	if e.lastSeq(t) != before {
		t.Error("ping stored an event")
	}

	// The caller's request id is echoed; a hostile one is replaced.
	hdr := authHeaders("truv")
	hdr.Set("X-Request-Id", "abc-123")
	code, b = e.postRaw(t, "POST", "/webhooks/truv", body, hdr)
	if code != 200 || !strings.Contains(string(b), `"request_id":"abc-123"`) {
		t.Errorf("request id not echoed: %d %s", code, b)
	}

	last := e.lastSeq(t)
	e.waitApplied(t, last)
	code, b = e.postRaw(t, "GET", "/metrics", nil, nil)
	for _, want := range []string{
		fmt.Sprintf("hookline_index_ids_in_memory %d\n", last), // one id per stored event, none written out yet
		"hookline_index_id_runs 0\n",
		"hookline_index_id_merge_failures_total 0\n",
		"hookline_index_lagging 0\n",
		`hookline_events_unmapped_total{provider="truv",source="default"} 1`,
		`hookline_deliveries_ping_total{provider="finicity",source="default"} 1`,
		`hookline_deliveries_duplicate_total{provider="truv",source="default"} 2`,
		`hookline_events_stored_total{provider="truv",source="default"} 2`,
	} {
		if code != 200 || !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestIngestConcurrentCopies posts one delivery three times at once: one
// event is stored and all three answers name it.
func TestIngestConcurrentCopies(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	for round := range 20 {
		body := sessionBody("3aac461e7b774a38a72fd9c7c0ee"+string(rune('a'+round))+"000", "521442a087604e599c637db310d07402", "done", "2022-08-24T13:55:12.845666+00:00")
		before := e.lastSeq(t)
		var wg sync.WaitGroup
		answers := make([]Accepted, 3)
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = e.post(t, "truv", body)
			}()
		}
		wg.Wait()
		checkStoredOnce(t, round, before, e.lastSeq(t), answers)
	}
}

// checkStoredOnce checks the answers to concurrent copies of one delivery:
// the log grew from before to last by one event, every answer names it,
// and exactly one answer says it was new.
func checkStoredOnce(t *testing.T, round int, before, last uint64, answers []Accepted) {
	t.Helper()
	if last != before+1 {
		t.Fatalf("round %d: %d events stored, want 1", round, last-before)
	}
	fresh := 0
	for _, a := range answers {
		if a.Events[0].Sequence != before+1 {
			t.Errorf("round %d: answer names sequence %d, want %d", round, a.Events[0].Sequence, before+1)
		}
		if !a.Duplicate {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("round %d: %d answers were not duplicates, want 1", round, fresh)
	}
}

// TestIngestDedupBeyondJetStreamWindow checks the long horizon: a retry
// after JetStream's duplicate window has passed is still recognized through
// the index, and one after the horizon is stored anew.
func TestIngestDedupBeyondJetStreamWindow(t *testing.T) {
	var now time.Time
	var mu sync.Mutex
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		if now.IsZero() {
			return time.Now()
		}
		return now
	}
	e := newTestEnv(t, envOptions{
		logOpts: eventlog.Options{DuplicateWindow: 100 * time.Millisecond},
		cfg:     func(c *Config) { c.Now = clock; c.DedupHorizon = 72 * time.Hour },
	})
	body := orderBody("4aac461e7b774a38a72fd9c7c0eef8ee", "eee192646b3c48be96651a0ff25cef85", "pending", "2024-07-11T21:40:48.424655+00:00")
	first := e.post(t, "truv", body)
	e.waitApplied(t, first.Events[0].Sequence)
	time.Sleep(300 * time.Millisecond) // let JetStream's 100 ms window pass
	mu.Lock()
	now = time.Now().Add(71 * time.Hour)
	mu.Unlock()
	retry := e.post(t, "truv", body)
	if !retry.Duplicate || retry.Events[0].Sequence != first.Events[0].Sequence {
		t.Fatalf("retry within the horizon = %+v, want duplicate of %d", retry, first.Events[0].Sequence)
	}
	mu.Lock()
	now = time.Now().Add(73 * time.Hour)
	mu.Unlock()
	late := e.post(t, "truv", body)
	if late.Duplicate || late.Events[0].Sequence == first.Events[0].Sequence {
		t.Fatalf("retry beyond the horizon = %+v, want a new event", late)
	}
}

// startNATS starts a standalone NATS server with JetStream on a loopback
// port (port 0: random), storing in dir. Tests use it as an "external"
// store they can stop and restart.
func startNATS(t testing.TB, dir string, port int) *natsserver.Server {
	t.Helper()
	return testkit.StartNATS(t, port, func(o *natsserver.Options) { o.StoreDir = dir })
}

// TestIngestStoreUnavailable stops the (external) NATS server: deliveries
// get 503 and nothing is acknowledged, and /readyz says the store is
// unavailable; once it is back, they are accepted again, the follower
// resumes and /readyz is 200.
func TestIngestStoreUnavailable(t *testing.T) {
	natsDir := t.TempDir()
	ns := startNATS(t, natsDir, 0)
	port := ns.Addr().(*net.TCPAddr).Port
	e := newTestEnv(t, envOptions{
		logOpts: eventlog.Options{URL: ns.ClientURL()},
		cfg:     func(c *Config) { c.Ingest.AppendTimeout = 500 * time.Millisecond },
	})
	ok := e.post(t, "truv", orderBody("5aac461e7b774a38a72fd9c7c0eef8e0", "fff192646b3c48be96651a0ff25cef85", "pending", "2024-07-11T21:40:48.424655+00:00"))
	e.waitApplied(t, ok.Events[0].Sequence)
	ns.Shutdown()
	ns.WaitForShutdown()

	body := orderBody("5aac461e7b774a38a72fd9c7c0eef8e1", "fff192646b3c48be96651a0ff25cef85", "sent", "2024-07-11T21:41:48.424655+00:00")
	hdr := authHeaders("truv")
	code, b := e.postRaw(t, "POST", "/webhooks/truv", body, hdr)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(b), "store_unavailable") {
		t.Fatalf("with the store down: %d %s, want 503 %s", code, b, "store_unavailable")
	}
	if got, _ := e.idx.Lookup(ok.Events[0].ID); got.Sequence != ok.Events[0].Sequence {
		t.Errorf("index lost the acknowledged event")
	}
	if code, b := e.postRaw(t, "GET", "/readyz", nil, nil); code != http.StatusServiceUnavailable || !strings.Contains(string(b), "event store unavailable") {
		t.Errorf("/readyz with the store down: %d %s, want 503 event store unavailable", code, b)
	}

	ns = startNATS(t, natsDir, port)
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	var acc Accepted
	testkit.WaitFor(t, 30*time.Second, "the store to accept again", func() bool {
		code, b := e.postRaw(t, "POST", "/webhooks/truv", body, hdr)
		return code == http.StatusOK && json.Unmarshal(b, &acc) == nil
	})
	if acc.Events[0].Sequence != ok.Events[0].Sequence+1 {
		t.Errorf("after recovery the event is at %d, want %d", acc.Events[0].Sequence, ok.Events[0].Sequence+1)
	}
	testkit.WaitFor(t, 30*time.Second, "the follower to resume", func() bool { return e.srv.pipeline.Hub().Last() >= acc.Events[0].Sequence })
	if code, b := e.postRaw(t, "GET", "/readyz", nil, nil); code != http.StatusOK {
		t.Errorf("/readyz after recovery: %d %s", code, b)
	}
}

func TestCheckIdentityEncoding(t *testing.T) {
	for _, tc := range []struct {
		values []string
		ok     bool
	}{
		{nil, true},
		{[]string{"identity"}, true},
		{[]string{"Identity"}, true},
		{[]string{""}, true},
		{[]string{"gzip"}, false},
		{[]string{"identity, gzip"}, false},
		{[]string{"identity", "br"}, false},
	} {
		err := checkIdentityEncoding(http.Header{"Content-Encoding": tc.values})
		if (err == nil) != tc.ok {
			t.Errorf("Content-Encoding %q: %v, want ok=%v", tc.values, err, tc.ok)
		}
		if err != nil && translate(err).http != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Encoding %q answers %d, want 415", tc.values, translate(err).http)
		}
	}
}

// stuckLog is a store that never answers an append: like the real log, it
// gives up with ErrUnavailable when the caller's deadline passes.
type stuckLog struct{ EventLog }

func (stuckLog) Append(ctx context.Context, _ *hooklinev1.Event) (eventlog.AppendResult, error) {
	<-ctx.Done()
	return eventlog.AppendResult{}, fmt.Errorf("%w: append: %w", eventlog.ErrUnavailable, ctx.Err())
}

// TestIngestAppendTimeout: a store that does not answer within
// AppendTimeout gets the delivery a 503 with Retry-After: 5, counted as
// store_unavailable and logged at error level; nothing is stored.
func TestIngestAppendTimeout(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := newTestEnv(t, envOptions{cfg: func(c *Config) {
		c.Log = stuckLog{c.Log}
		c.Ingest.AppendTimeout = 200 * time.Millisecond
		c.Logger = logger
	}})
	before := e.lastSeq(t)
	body := orderBody("aaac461e7b774a38a72fd9c7c0eef8ee", "efa192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00")
	req, err := http.NewRequest(http.MethodPost, e.httpURL+"/webhooks/truv", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(adaptertest.FakeTokenHeader, tokenOf("truv", "default"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var eb errorBody
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" ||
		json.Unmarshal(b, &eb) != nil || eb.Error.Code != "store_unavailable" {
		t.Fatalf("answer %d, Retry-After %q, body %s; want 503 store_unavailable with Retry-After: 5",
			resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if got := e.scrape(t)[`hookline_deliveries_rejected_total{code="store_unavailable",provider="truv",source="default"}`]; got != "1" {
		t.Errorf("store_unavailable rejections counted %q, want 1", got)
	}
	if l := logLines(t, &logs, "webhook_rejected"); len(l) != 1 || l[0]["level"] != "ERROR" || l[0]["status"] != float64(503) {
		t.Errorf("webhook_rejected lines %v, want one at ERROR with status 503", l)
	}
	if last := e.lastSeq(t); last != before {
		t.Errorf("log grew from %d to %d", before, last)
	}
}
