package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters/adaptertest"
	"github.com/hookline/hookline/internal/index"
	"github.com/hookline/hookline/internal/testkit"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
	swyft := []byte(`{"id":"77","kind":"order","subject":"` + orderID + `","status":"Cancelled",` +
		`"first_name":"Example","last_name":"Owner","email":"` + email + `","phone_number":"` + phone + `","time":"2025-08-07T08:49:37Z"}`)
	truv := orderBody("7aac461e7b774a38a72fd9c7c0eef8ee", orderID, "completed", "2024-07-11T21:40:48.424655+00:00")
	badToken := "not-the-secret"

	e.post(t, "truv", truv)
	e.postRaw(t, "POST", "/webhooks/truv", truv, http.Header{adaptertest.FakeTokenHeader: {badToken}})
	e.postRaw(t, "POST", "/webhooks/truv", truv[:30], authHeaders("truv"))
	e.postRaw(t, "POST", "/webhooks/swyft", swyft, authHeaders("swyft"))
	e.postRaw(t, "POST", "/webhooks/swyft", swyft, http.Header{adaptertest.FakeTokenHeader: {"wrong-guess"}})

	out := logs.String()
	if !strings.Contains(out, "webhook_rejected") || !strings.Contains(out, "webhook_accepted") {
		t.Fatalf("expected both accepted and rejected log lines; got:\n%s", out)
	}
	for _, secret := range []string{tokenOf("truv", "default"), tokenOf("swyft", "default"), "wrong-guess", badToken, email, phone, "Owner", orderID} {
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
	body := orderBody("8aac461e7b774a38a72fd9c7c0eef8ee", "bbb192646b3c48be96651a0ff25cef85", "pending", "2024-07-11T21:40:48.424655+00:00")
	req := httptest.NewRequest("POST", "/webhooks/truv", bytes.NewReader(body))
	req.Header = authHeaders("truv")
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

// logLines parses the JSON log lines with message msg.
func logLines(t *testing.T, logs *syncBuffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// scrape returns the /metrics exposition, parsed by Prometheus' own text
// parser, as a map from series to value: the name, then the labels sorted
// by name (`name{a="1",b="2"}`); histograms give name_count and name_sum.
func (e *testEnv) scrape(t *testing.T) map[string]string {
	t.Helper()
	series := map[string]string{}
	for name, f := range e.parseMetrics(t) {
		for _, m := range f.GetMetric() {
			pairs := m.GetLabel()
			slices.SortFunc(pairs, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
			var labels []string
			for _, l := range pairs {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
			switch {
			case m.Counter != nil:
				series[key] = num(m.GetCounter().GetValue())
			case m.Gauge != nil:
				series[key] = num(m.GetGauge().GetValue())
			case m.Histogram != nil:
				k := strings.Replace(key, "{", "_count{", 1)
				if len(labels) == 0 {
					k = key + "_count"
				}
				series[k] = strconv.FormatUint(m.GetHistogram().GetSampleCount(), 10)
				series[strings.Replace(k, "_count", "_sum", 1)] = num(m.GetHistogram().GetSampleSum())
			case m.Untyped != nil:
				series[key] = num(m.GetUntyped().GetValue())
			}
		}
	}
	return series
}

// parseMetrics returns the /metrics exposition as Prometheus' own text
// parser reads it, by family name.
func (e *testEnv) parseMetrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(e.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("metrics content type %q", ct)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return families
}

// TestMetricsAndRejectionLogs drives accepted, duplicate, unauthenticated,
// misaddressed and wrong-method deliveries and checks what /metrics says
// and which of them the log reports, at which level.
func TestMetricsAndRejectionLogs(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := newTestEnv(t, envOptions{cfg: func(c *Config) { c.Logger = logger }})
	body := orderBody("9aac461e7b774a38a72fd9c7c0eef8ee", "def192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00")
	first := e.post(t, "truv", body)
	e.post(t, "truv", body) // a duplicate
	e.waitApplied(t, first.Events[0].Sequence)
	if code, _ := e.postRaw(t, "POST", "/webhooks/truv", body, http.Header{adaptertest.FakeTokenHeader: {"nope"}}); code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", code)
	}
	if code, _ := e.postRaw(t, "POST", "/webhooks/truv/production", body, authHeaders("truv")); code != http.StatusNotFound {
		t.Fatalf("unknown source: %d", code)
	}
	resp, err := http.Get(e.httpURL + "/webhooks/truv")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: %d, Allow %q; want 405 with Allow: POST", resp.StatusCode, resp.Header.Get("Allow"))
	}

	m := e.scrape(t)
	truv := `{provider="truv",source="default"}`
	for series, want := range map[string]string{
		"hookline_deliveries_accepted_total" + truv:                                                     "2",
		"hookline_deliveries_duplicate_total" + truv:                                                    "1",
		"hookline_events_stored_total" + truv:                                                           "1",
		"hookline_events_unmapped_total" + truv:                                                         "0",
		`hookline_deliveries_rejected_total{code="unauthenticated",provider="truv",source="default"}`:   "1",
		`hookline_deliveries_rejected_total{code="store_unavailable",provider="truv",source="default"}`: "0",
		`hookline_deliveries_accepted_total{provider="swyft",source="default"}`:                         "0",
		"hookline_index_applied_sequence":                                                               "1",
		"hookline_index_lagging":                                                                        "0",
		`hookline_subscribers{transport="grpc"}`:                                                        "0",
		"hookline_subscriptions_refused_total":                                                          "0",
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %q (present %v), want %s", series, got, ok, want)
		}
	}
	if _, ok := m["hookline_index_lag_seconds"]; !ok {
		t.Error("hookline_index_lag_seconds missing")
	}

	rejected := logLines(t, &logs, "webhook_rejected")
	byCode := map[string]map[string]any{}
	for _, l := range rejected {
		byCode[l["code"].(string)] = l
	}
	for code, status := range map[string]float64{"unauthenticated": 401, "unknown_source": 404} {
		l, ok := byCode[code]
		if !ok {
			t.Errorf("no webhook_rejected line for %s; got %v", code, rejected)
			continue
		}
		if l["level"] != "INFO" || l["status"] != status || l["request_id"] == "" {
			t.Errorf("webhook_rejected for %s = %v, want level INFO, status %v and a request id", code, l, status)
		}
	}
	if len(rejected) != 2 {
		t.Errorf("%d webhook_rejected lines, want 2 (the 405 is not logged): %v", len(rejected), rejected)
	}
}

// failingMergesIndex reports failed merges of id runs, as the id set does
// while a merge keeps failing.
type failingMergesIndex struct{ StateIndex }

func (failingMergesIndex) IDStats() index.IDStats {
	return index.IDStats{Runs: 9, MergeFailures: 2, LastMergeError: errors.New("disk full")}
}

// TestMergeFailuresAreLoggedAndExported: failed merges show in /metrics and
// as an index_merge_failed warning with the last error.
func TestMergeFailuresAreLoggedAndExported(t *testing.T) {
	var logs syncBuffer
	e := newTestEnv(t, envOptions{cfg: func(c *Config) {
		c.Index = failingMergesIndex{c.Index}
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	}})
	testkit.WaitFor(t, 10*time.Second, "index_merge_failed in the log", func() bool {
		return strings.Contains(logs.String(), `"msg":"index_merge_failed"`)
	})
	l := logLines(t, &logs, "index_merge_failed")
	if len(l) != 1 || l[0]["level"] != "WARN" || l[0]["error"] != "disk full" || l[0]["failures"] != float64(2) {
		t.Errorf("index_merge_failed lines %v", l)
	}
	m := e.scrape(t)
	if m["hookline_index_id_merge_failures_total"] != "2" || m["hookline_index_id_runs"] != "9" {
		t.Errorf("metrics: merge failures %q, runs %q; want 2 and 9", m["hookline_index_id_merge_failures_total"], m["hookline_index_id_runs"])
	}
}
