package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/testkit"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestTracingFromEnv: which OTEL_* environments turn tracing on, with
// which protocol and service name, and which are refused.
func TestTracingFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    tracingSettings // Reason is not compared
		wantErr string
	}{
		{"nothing set: off", nil,
			tracingSettings{ServiceName: "hookline", Sampler: "parentbased_always_on", Protocol: "http/protobuf"}, ""},
		{"exporter otlp: on, default protocol", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"},
			tracingSettings{Enabled: true, ServiceName: "hookline", Sampler: "parentbased_always_on", Protocol: "http/protobuf"}, ""},
		{"endpoint alone: on", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			tracingSettings{Enabled: true, ServiceName: "hookline", Sampler: "parentbased_always_on", Protocol: "http/protobuf", Endpoint: "http://collector:4318"}, ""},
		{"traces endpoint wins over the general one", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces:4318/v1/traces"},
			tracingSettings{Enabled: true, ServiceName: "hookline", Sampler: "parentbased_always_on", Protocol: "http/protobuf", Endpoint: "https://traces:4318/v1/traces"}, ""},
		{"grpc protocol, service name and sampler", map[string]string{
			"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_SERVICE_NAME": "gw-eu", "OTEL_TRACES_SAMPLER": "traceidratio"},
			tracingSettings{Enabled: true, ServiceName: "gw-eu", Sampler: "traceidratio", Protocol: "grpc"}, ""},
		{"traces protocol wins over the general one", map[string]string{
			"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
			tracingSettings{Enabled: true, ServiceName: "hookline", Sampler: "parentbased_always_on", Protocol: "http/protobuf"}, ""},
		{"exporter none beats an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			tracingSettings{ServiceName: "hookline", Sampler: "parentbased_always_on", Protocol: "http/protobuf", Endpoint: "http://collector:4318"}, ""},
		{"SDK disabled beats everything", map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"},
			tracingSettings{ServiceName: "hookline", Sampler: "parentbased_always_on", Protocol: "http/protobuf"}, ""},
		{"SDK disabled false: still on", map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"},
			tracingSettings{Enabled: true, ServiceName: "hookline", Sampler: "parentbased_always_on", Protocol: "http/protobuf"}, ""},
		{"exporter list with otlp", map[string]string{"OTEL_TRACES_EXPORTER": "none, otlp"},
			tracingSettings{Enabled: true, ServiceName: "hookline", Sampler: "parentbased_always_on", Protocol: "http/protobuf"}, ""},
		{"endpoint with credentials is logged without them", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:pa55@collector:4318/x?token=abc"},
			tracingSettings{Enabled: true, ServiceName: "hookline", Sampler: "parentbased_always_on", Protocol: "http/protobuf", Endpoint: "https://collector:4318/x"}, ""},
		{"unsupported exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, tracingSettings{}, "only otlp and none"},
		{"unsupported protocol", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, tracingSettings{}, "only grpc and http/protobuf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tracingFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Reason == "" {
				t.Error("no reason given")
			}
			got.Reason = ""
			if got != tt.want {
				t.Errorf("settings %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRedactEndpoint(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"collector:4317", "collector:4317"},
		{"http://collector:4318", "http://collector:4318"},
		{"https://collector:4318/v1/traces", "https://collector:4318/v1/traces"},
		{"https://user:secret@collector:4318/v1/traces?api-key=k#f", "https://collector:4318/v1/traces"},
		{"user:secret@collector:4317", "collector:4317"},
		{"http://a@b@collector", "http://collector"},
	}
	for _, tt := range tests {
		if got := redactEndpoint(tt.in); got != tt.want {
			t.Errorf("redactEndpoint(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestStartTracing builds the provider of each protocol (nothing listens
// on the endpoint: nothing is exported) and checks the start log, which
// names the endpoint without its credentials and never the headers, and
// that off builds nothing.
func TestStartTracing(t *testing.T) {
	// The exporter reads its headers from the process environment.
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer header-token-not-logged")
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			ts, err := tracingFromEnv(func(k string) string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT": "http://user:endpoint-secret@127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
				}[k]
			})
			if err != nil || !ts.Enabled {
				t.Fatalf("settings %+v, %v", ts, err)
			}
			var logs bytes.Buffer
			tp, shutdown, err := startTracing(t.Context(), ts, "v0.0.0-test", slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if tp == nil {
				t.Fatal("no provider with tracing on")
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			out := logs.String()
			if !strings.Contains(out, "enabled=true") || !strings.Contains(out, "endpoint=http://127.0.0.1:1") || !strings.Contains(out, "protocol="+protocol) {
				t.Errorf("start log %q lacks the settings", out)
			}
			if strings.Contains(out, "header-token-not-logged") || strings.Contains(out, "endpoint-secret") {
				t.Errorf("start log %q holds a credential", out)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		var logs bytes.Buffer
		tp, shutdown, err := startTracing(t.Context(), tracingSettings{Reason: "test"}, "v0.0.0-test", slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil || tp != nil {
			t.Fatalf("off: provider %v, %v", tp, err)
		}
		if err := shutdown(t.Context()); err != nil {
			t.Error(err)
		}
		if !strings.Contains(logs.String(), "enabled=false") {
			t.Errorf("start log %q", logs.String())
		}
	})
}

// otlpCollector is a fake OTLP/HTTP collector: it keeps the spans posted
// to /v1/traces and the service.name of their resource.
type otlpCollector struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				c.services = append(c.services, kv.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			c.spans = append(c.spans, ss.GetSpans()...)
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// TestRunExportsTraces runs the gateway with tracing on against a fake
// collector: a delivery's spans reach it under the configured service
// name, flushed at shutdown, and the stored event's trace_parent names
// the exported webhook span.
func TestRunExportsTraces(t *testing.T) {
	col := &otlpCollector{}
	cs := httptest.NewServer(col)
	defer cs.Close()
	// The exporter reads its endpoint from the process environment; run's
	// getenv decides that tracing is on.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", cs.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer collector-token-not-logged")
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": cs.URL, "OTEL_SERVICE_NAME": "hookline-e2e"}
	for k, v := range testEnv {
		env[k] = v
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookline.yaml")
	if err := os.WriteFile(cfgPath, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startEnv(t, env, filepath.Join(dir, "data"), cfgPath, "--log-level", "info")
	defer g.cancel()
	base := g.http

	d := signedFixtures(t)[0]
	code, acc := post(t, base, d)
	if code != http.StatusOK || len(acc.Events) == 0 {
		t.Fatalf("%s: %d %+v", d.name, code, acc)
	}
	var got struct {
		Event struct {
			TraceParent string `json:"traceParent"`
		} `json:"event"`
	}
	// The read follows the index, which applies the event shortly after.
	testkit.WaitFor(t, 20*time.Second, "the event to be readable", func() bool {
		req, _ := http.NewRequest("GET", base+"/v1/events/"+acc.Events[0].ID, nil)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&got) == nil
	})
	if got.Event.TraceParent == "" {
		t.Fatal("the stored event has no trace_parent")
	}

	g.stop(t)
	// run returned: the provider was shut down, so every span is exported.
	col.mu.Lock()
	defer col.mu.Unlock()
	var webhook *tracepb.Span
	for _, sp := range col.spans {
		if sp.GetName() == "POST /webhooks/{provider}" {
			webhook = sp
		}
	}
	if webhook == nil {
		t.Fatalf("no webhook span among %d exported", len(col.spans))
	}
	if want := fmt.Sprintf("00-%x-%x-01", webhook.GetTraceId(), webhook.GetSpanId()); got.Event.TraceParent != want {
		t.Errorf("stored trace_parent %q, want the exported webhook span's %q", got.Event.TraceParent, want)
	}
	for _, s := range col.services {
		if s != "hookline-e2e" {
			t.Errorf("service.name %q, want hookline-e2e", s)
		}
	}
	if out := g.logs.String(); !strings.Contains(out, "msg=tracing enabled=true") || strings.Contains(out, "collector-token-not-logged") {
		t.Errorf("start log:\n%s", out)
	}
}
