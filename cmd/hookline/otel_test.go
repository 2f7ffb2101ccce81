package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
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
