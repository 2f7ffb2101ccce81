package server

// OpenTelemetry tracing of the transports (docs/tracing.md). With
// Config.TracerProvider nil, nothing here is installed: no handler is
// wrapped, no gRPC stats handler is added, and Ingest.handle's calls below
// find no recording span and return at once, so tracing off costs one
// context lookup per delivery (BenchmarkIngestTracing, tracing=off).
//
// With a provider:
//   - the webhook routes, the REST routes and SSE get an otelhttp server
//     span named after the route template (`POST /webhooks/{provider}`,
//     `GET /v1/orders/{order_id}`), never the raw path; /healthz, /readyz,
//     /metrics, /openapi.json and the profiles are not traced. Webhooks come
//     from the internet, so an incoming traceparent is linked, not
//     continued (otelhttp's public endpoint).
//   - the gRPC server gets otelgrpc's server stats handler (health checks
//     are not traced) and the REST gateway's in-process connection its
//     client stats handler, so a REST call is one trace: HTTP server span →
//     gRPC client span → gRPC server span.
//   - a delivery's server span has the children verify, normalize and one
//     append per event (ingest.go, handle), and the stored events carry the
//     server span's W3C traceparent (Event.trace_parent).
//
// Every span goes through redactingProvider: only allowlisted attribute
// keys are kept (no url.path or query, which hold order ids and session
// keys; no header values such as user_agent.original; no client
// addresses), status descriptions and error messages are dropped (an error
// is recorded as its code, error.type), so that no secret, signature,
// token, body or personal data reaches a span whatever an instrumentation
// library records. TestTracingFixtureCorpusLeaksNothing checks it.

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/pipeline"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// TracerName is the instrumentation scope of the spans the gateway starts
// itself (verify, normalize, append).
const TracerName = "github.com/hookline/hookline/server"

// Attributes of the gateway's own spans. Values are provider and source
// names, event types, event ids, sequences, request ids and error codes:
// never an order id, a session key or anything else from a payload.
const (
	attrProvider   = attribute.Key("hookline.provider")
	attrSource     = attribute.Key("hookline.source")
	attrRequestID  = attribute.Key("hookline.request_id")
	attrEventType  = attribute.Key("hookline.event_type")
	attrEventTypes = attribute.Key("hookline.event_types")
	attrEventID    = attribute.Key("hookline.event_id")
	attrEventCount = attribute.Key("hookline.event_count")
	attrSequence   = attribute.Key("hookline.sequence")
	attrDuplicate  = attribute.Key("hookline.duplicate")
	attrPing       = attribute.Key("hookline.ping")
	attrErrorType  = attribute.Key("error.type")
	attrHTTPRoute  = attribute.Key("http.route")
)

// tracing is the instrumentation of one Server; nil when tracing is off,
// and every method of a nil *tracing installs nothing.
type tracing struct {
	tp   trace.TracerProvider // a redactingProvider
	prop propagation.TextMapPropagator
	http func(http.Handler) http.Handler
}

// newTracing returns the instrumentation for tp, or nil for a nil tp.
func newTracing(tp trace.TracerProvider) *tracing {
	if tp == nil {
		return nil
	}
	t := &tracing{tp: newRedactingProvider(tp), prop: propagation.TraceContext{}}
	t.http = otelhttp.NewMiddleware("",
		otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithPropagators(t.prop),
		// Metrics are Prometheus' (/metrics), not OpenTelemetry's.
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(spanName),
		otelhttp.WithPublicEndpointFn(func(r *http.Request) bool { return strings.HasPrefix(r.Pattern, "POST /webhooks/") }),
	)
	return t
}

// tracedRoute reports whether requests that mux routes to pattern get a
// span: webhooks (POST only; a 405 or 404 of the /webhooks/ tree does not),
// the REST gateway and SSE.
func tracedRoute(pattern string) bool {
	switch pattern {
	case "/v1/", "/v1/admin/", "GET /v1/events:sse":
		return true
	}
	return strings.HasPrefix(pattern, "POST /webhooks/")
}

// routeKey holds, in a traced request's context, the REST route template
// grpc-gateway matched (see gatewayOption), for spanName.
type routeKey struct{}

// routes wraps mux so that the traced routes get an otelhttp span. The
// route is looked up first, so the span starts with its http.route and
// untraced routes pay only that lookup.
func (t *tracing) routes(mux *http.ServeMux) http.Handler {
	if t == nil {
		return mux
	}
	traced := t.http(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		if !tracedRoute(pattern) {
			mux.ServeHTTP(w, r)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, new(string)))
		r.Pattern = pattern
		traced.ServeHTTP(w, r)
	})
}

// spanName names an HTTP server span after the method and the route
// template: the REST route grpc-gateway matched, else the pattern of the
// http.ServeMux route; never the raw path.
func spanName(_ string, r *http.Request) string {
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace:
	default:
		method = "HTTP"
	}
	route := r.Pattern
	if _, path, ok := strings.Cut(route, " "); ok {
		route = path
	}
	if rest, ok := r.Context().Value(routeKey{}).(*string); ok && *rest != "" {
		route = *rest
	}
	if route == "" {
		return method
	}
	return method + " " + route
}

// gatewayOption is the grpc-gateway mux option that records the REST route
// template of a traced request (for its span's name and http.route); a
// no-op when tracing is off.
func (t *tracing) gatewayOption() runtime.ServeMuxOption {
	if t == nil {
		return func(*runtime.ServeMux) {}
	}
	return runtime.WithMiddlewares(func(next runtime.HandlerFunc) runtime.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
			if p, ok := runtime.HTTPPattern(r.Context()); ok {
				if rest, ok := r.Context().Value(routeKey{}).(*string); ok {
					// grpc-gateway writes `{id=*}` for `{id}`.
					*rest = strings.ReplaceAll(p.String(), "=*}", "}")
					trace.SpanFromContext(r.Context()).SetAttributes(attrHTTPRoute.String(*rest))
				}
			}
			next(w, r, params)
		}
	})
}

// grpcServerOption is otelgrpc's server stats handler (health checks are
// not traced); a no-op when tracing is off.
func (t *tracing) grpcServerOption() grpc.ServerOption {
	if t == nil {
		return grpc.EmptyServerOption{}
	}
	return grpc.StatsHandler(otelgrpc.NewServerHandler(append(t.otelgrpcOptions(),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())))...))
}

// dialOption is otelgrpc's client stats handler for the REST gateway's
// connection, which carries the REST span's context to the gRPC server; a
// no-op when tracing is off.
func (t *tracing) dialOption() grpc.DialOption {
	if t == nil {
		return grpc.EmptyDialOption{}
	}
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(t.otelgrpcOptions()...))
}

// otelgrpcOptions are the options both stats handlers share: our provider
// and propagator, and no metrics (those are /metrics' job).
func (t *tracing) otelgrpcOptions() []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(t.tp), otelgrpc.WithPropagators(t.prop),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
	}
}

// ingestTrace traces one delivery in Ingest.handle: the server span
// otelhttp started for it, when that span records. Its zero value (tracing
// off, or the delivery not sampled) does nothing and costs nothing.
type ingestTrace struct {
	span   trace.Span
	tracer trace.Tracer
	src    *Source
	// parent is the W3C traceparent of span, stored with the events.
	parent string
}

// traceIngest returns the tracing of the delivery r to src.
func traceIngest(r *http.Request, src *Source, reqID string) ingestTrace {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return ingestTrace{}
	}
	span.SetAttributes(attrProvider.String(src.Provider), attrSource.String(src.Name), attrRequestID.String(reqID))
	return ingestTrace{span: span, tracer: span.TracerProvider().Tracer(TracerName), src: src, parent: traceParent(r.Context())}
}

// traceParent returns the W3C traceparent of the span in ctx when it is
// sampled, else "".
func traceParent(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); !sc.IsValid() || !sc.IsSampled() {
		return ""
	}
	var c traceParentCarrier
	propagation.TraceContext{}.Inject(ctx, &c)
	return c.value
}

// traceParentCarrier keeps the traceparent a propagator injects.
type traceParentCarrier struct{ value string }

func (c *traceParentCarrier) Get(string) string { return "" }
func (c *traceParentCarrier) Set(key, value string) {
	if key == "traceparent" {
		c.value = value
	}
}
func (c *traceParentCarrier) Keys() []string { return nil }

// step starts the child span name (verify, normalize, append) of the
// delivery's span, carrying the provider and the source.
func (t ingestTrace) step(ctx context.Context, name string) (context.Context, stepSpan) {
	if t.span == nil {
		return ctx, stepSpan{}
	}
	ctx, s := t.tracer.Start(ctx, name, trace.WithAttributes(attrProvider.String(t.src.Provider), attrSource.String(t.src.Name)))
	return ctx, stepSpan{s}
}

// stored records the outcome of the delivery's appends on the server span.
func (t ingestTrace) stored(out *Accepted) {
	if t.span == nil {
		return
	}
	t.span.SetAttributes(attrDuplicate.Bool(out.Duplicate))
}

// stepSpan is one child span of a delivery; its zero value does nothing.
type stepSpan struct{ trace.Span }

// end ends the span, recording err by its code only.
func (s stepSpan) end(err error) {
	if s.Span == nil {
		return
	}
	if err != nil {
		s.SetStatus(codes.Error, "")
		s.SetAttributes(attrErrorType.String(translate(err).code()))
	}
	s.End()
}

// normalized ends the normalize span s with the event types and count,
// and records on the delivery's span whether it is a ping.
func (t ingestTrace) normalized(s stepSpan, res adapters.Result, err error) {
	if t.span == nil {
		return
	}
	if err == nil {
		types := make([]string, len(res.Events))
		for i, ev := range res.Events {
			types[i] = ev.GetType().String()
		}
		s.SetAttributes(attrEventCount.Int(len(res.Events)), attrEventTypes.StringSlice(types))
		t.span.SetAttributes(attrPing.Bool(res.Ping), attrEventCount.Int(len(res.Events)))
	}
	s.end(err)
}

// appended ends an append span with the event's type, id, sequence and
// whether it was a duplicate.
func (s stepSpan) appended(ev *hooklinev1.Event, st pipeline.Stored, err error) {
	if s.Span == nil {
		return
	}
	s.SetAttributes(attrEventType.String(ev.GetType().String()), attrEventID.String(ev.GetId()))
	if err == nil {
		s.SetAttributes(attrSequence.Int64(int64(st.Sequence)), attrDuplicate.Bool(st.Duplicate))
	}
	s.end(err)
}

// redactingProvider wraps a TracerProvider so that what the instrumentation
// libraries record passes the gateway's rules (see the top of this file):
// attributes by an allowlist of keys, no status descriptions, errors by
// type only.
type redactingProvider struct {
	trace.TracerProvider
	own trace.Tracer // TracerName's, made once: handle asks for it per delivery
}

var _ trace.TracerProvider = (*redactingProvider)(nil)

func newRedactingProvider(tp trace.TracerProvider) *redactingProvider {
	p := &redactingProvider{TracerProvider: tp}
	p.own = redactingTracer{Tracer: tp.Tracer(TracerName), tp: p}
	return p
}

// Tracer implements trace.TracerProvider.
func (p *redactingProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	if name == TracerName && len(opts) == 0 {
		return p.own
	}
	return redactingTracer{Tracer: p.TracerProvider.Tracer(name, opts...), tp: p}
}

type redactingTracer struct {
	trace.Tracer
	tp *redactingProvider
}

// Start implements trace.Tracer: the span starts with the allowed
// attributes only and is put in the context wrapped, so that what is set on
// it later is filtered too.
func (t redactingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	o := []trace.SpanStartOption{trace.WithSpanKind(cfg.SpanKind()), trace.WithAttributes(allowedAttrs(cfg.Attributes())...)}
	if cfg.NewRoot() {
		o = append(o, trace.WithNewRoot())
	}
	if ts := cfg.Timestamp(); !ts.IsZero() {
		o = append(o, trace.WithTimestamp(ts))
	}
	for _, l := range cfg.Links() {
		l.Attributes = allowedAttrs(l.Attributes)
		o = append(o, trace.WithLinks(l))
	}
	ctx, s := t.Tracer.Start(ctx, name, o...)
	if !s.IsRecording() {
		return ctx, s
	}
	rs := &redactedSpan{Span: s, tp: t.tp}
	return trace.ContextWithSpan(ctx, rs), rs
}

// redactedSpan filters what is recorded on a span.
type redactedSpan struct {
	trace.Span
	tp *redactingProvider
}

func (s *redactedSpan) SetAttributes(kv ...attribute.KeyValue) {
	s.Span.SetAttributes(allowedAttrs(kv)...)
}

// SetStatus keeps the code; descriptions (a gRPC status message can name
// an order id) are dropped.
func (s *redactedSpan) SetStatus(code codes.Code, _ string) { s.Span.SetStatus(code, "") }

// RecordError records the error's type only: messages can hold values.
func (s *redactedSpan) RecordError(err error, _ ...trace.EventOption) {
	if err != nil {
		s.Span.AddEvent("exception", trace.WithAttributes(attribute.String("exception.type", fmt.Sprintf("%T", err))))
	}
}

func (s *redactedSpan) AddEvent(name string, opts ...trace.EventOption) {
	cfg := trace.NewEventConfig(opts...)
	s.Span.AddEvent(name, trace.WithAttributes(allowedAttrs(cfg.Attributes())...), trace.WithTimestamp(cfg.Timestamp()))
}

func (s *redactedSpan) AddLink(l trace.Link) {
	l.Attributes = allowedAttrs(l.Attributes)
	s.Span.AddLink(l)
}

func (s *redactedSpan) TracerProvider() trace.TracerProvider { return s.tp }

// allowedAttrs returns the attributes whose keys allowedKey allows (kv
// itself when all are).
func allowedAttrs(kv []attribute.KeyValue) []attribute.KeyValue {
	for i, a := range kv {
		if !allowedKey(a.Key) {
			out := append([]attribute.KeyValue(nil), kv[:i]...)
			for _, b := range kv[i+1:] {
				if allowedKey(b.Key) {
					out = append(out, b)
				}
			}
			return out
		}
	}
	return kv
}

// allowedKey is the allowlist of span attribute keys: the gateway's own
// (hookline.*), and those of the HTTP and RPC semantic conventions that
// hold no path, query, header value or client address.
func allowedKey(k attribute.Key) bool {
	if strings.HasPrefix(string(k), "hookline.") {
		return true
	}
	switch k {
	case "http.request.method", "http.response.status_code", "http.route", "url.scheme",
		"http.request.body.size", "http.response.body.size",
		"network.protocol.name", "network.protocol.version", "network.transport", "network.type",
		"server.address", "server.port", "error.type", "exception.type",
		"rpc.system", "rpc.system.name", "rpc.service", "rpc.method", "rpc.grpc.status_code", "rpc.response.status_code":
		return true
	}
	return false
}
