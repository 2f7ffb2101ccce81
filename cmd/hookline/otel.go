package main

// Tracing from the standard OpenTelemetry environment (docs/tracing.md).
// Off unless asked for: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) with
// OTEL_TRACES_EXPORTER unset. The decision, the protocol and the service
// name are read through run's getenv; the exporter's own settings
// (endpoint, headers, TLS, timeout, compression) and the sampler
// (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG) are read by the SDK
// itself, from the process environment, exactly as the specification
// describes them.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of the tracing settings.
const (
	// defaultServiceName is service.name without OTEL_SERVICE_NAME.
	defaultServiceName = "hookline"
	// defaultOTLPProtocol is the OTLP protocol without
	// OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL, the specification's default.
	defaultOTLPProtocol = "http/protobuf"
	// defaultSampler is the SDK's sampler without OTEL_TRACES_SAMPLER.
	defaultSampler = "parentbased_always_on"
)

// tracingSettings is what the environment asks of tracing.
type tracingSettings struct {
	// Enabled turns tracing on; Reason says why it is on or off, for the log.
	Enabled bool
	Reason  string
	// Protocol is grpc or http/protobuf.
	Protocol string
	// Endpoint is the OTLP endpoint variable's value with any user
	// information, query and fragment removed (for the log), or "" for
	// the exporter's default.
	Endpoint    string
	ServiceName string
	// Sampler is OTEL_TRACES_SAMPLER, or the SDK's default.
	Sampler string
}

// tracingFromEnv decides from the OTEL_* variables whether tracing is on,
// and how. It refuses an exporter or protocol it cannot honour rather than
// ignoring it.
func tracingFromEnv(getenv func(string) string) (tracingSettings, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	ts := tracingSettings{ServiceName: defaultServiceName, Sampler: defaultSampler, Protocol: defaultOTLPProtocol}
	if v := get("OTEL_SERVICE_NAME"); v != "" {
		ts.ServiceName = v
	}
	if v := get("OTEL_TRACES_SAMPLER"); v != "" {
		ts.Sampler = strings.ToLower(v)
	}
	endpointVar := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	endpoint := get(endpointVar)
	if endpoint == "" {
		endpointVar = "OTEL_EXPORTER_OTLP_ENDPOINT"
		endpoint = get(endpointVar)
	}
	ts.Endpoint = redactEndpoint(endpoint)

	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		ts.Reason = "OTEL_SDK_DISABLED=true"
		return ts, nil
	}
	otlp := false
	exporters := strings.ToLower(get("OTEL_TRACES_EXPORTER"))
	for e := range strings.SplitSeq(exporters, ",") {
		switch e = strings.TrimSpace(e); e {
		case "otlp":
			otlp = true
		case "none", "":
		default:
			return ts, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", exporters)
		}
	}
	switch {
	case otlp:
		ts.Enabled, ts.Reason = true, "OTEL_TRACES_EXPORTER=otlp"
	case exporters != "":
		ts.Reason = "OTEL_TRACES_EXPORTER=" + exporters
		return ts, nil
	case endpoint != "":
		ts.Enabled, ts.Reason = true, endpointVar+" is set"
	default:
		ts.Reason = "neither OTEL_TRACES_EXPORTER nor an OTLP endpoint is set"
		return ts, nil
	}
	protocol := get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = get("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch protocol {
	case "":
	case "grpc", "http/protobuf":
		ts.Protocol = protocol
	default:
		return ts, fmt.Errorf("OTLP protocol %q: only grpc and http/protobuf are supported", protocol)
	}
	return ts, nil
}

// redactEndpoint returns an endpoint URL for the log: scheme, host, port
// and path, without user information, query or fragment (a collector URL
// can carry credentials).
func redactEndpoint(s string) string {
	if s == "" {
		return ""
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "", s
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, _, _ = strings.Cut(rest, "?")
	authority, path, hasPath := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	out := authority
	if scheme != "" {
		out = scheme + "://" + out
	}
	if hasPath {
		out += "/" + path
	}
	return out
}

// startTracing builds the tracer provider ts asks for, with a batching
// OTLP exporter, and logs whether tracing is on (never the headers, which
// may hold tokens). It returns a nil provider when tracing is off; shutdown
// flushes and stops the provider (a no-op when off) and is called once,
// after the server stopped.
func startTracing(ctx context.Context, ts tracingSettings, version string, logger *slog.Logger) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	if !ts.Enabled {
		logger.Info("tracing", "enabled", false, "reason", ts.Reason)
		return nil, func(context.Context) error { return nil }, nil
	}
	var exp sdktrace.SpanExporter
	switch ts.Protocol {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	// The SDK reports export failures to the global error handler; they go
	// to the gateway's log.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { logger.Warn("tracing_error", "error", err.Error()) }))
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(defaultServiceName), semconv.ServiceVersion(version)),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
		resource.WithAttributes(semconv.ServiceName(ts.ServiceName)),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx)
		return nil, nil, fmt.Errorf("tracing: resource: %w", err)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER through the SDK.
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	endpoint := ts.Endpoint
	if endpoint == "" {
		endpoint = "the exporter's default (localhost:4318 for http/protobuf, localhost:4317 for grpc)"
	}
	logger.Info("tracing", "enabled", true, "reason", ts.Reason, "protocol", ts.Protocol, "endpoint", endpoint,
		"service_name", ts.ServiceName, "sampler", ts.Sampler)
	return sdk, sdk.Shutdown, nil
}

// serviceVersion is the resource's service.version: the module version,
// with the commit when the build knows it.
func serviceVersion() string {
	bi, ok := debug.ReadBuildInfo()
	v := readVersion(bi, ok, buildCommit, buildCommitTime, buildModified)
	if len(v.Commit) >= 12 {
		return v.Version + "+" + v.Commit[:12]
	}
	return v.Version
}
