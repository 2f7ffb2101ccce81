package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/adaptertest"
	"github.com/hookline/hookline/adapters/registry"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/testkit"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
)

// This file tests tracing (tracing.go) with the SDK's span recorder: the
// span tree of one delivery, the trace context stored with its event and
// sent to subscribers, one trace per REST call, that nothing secret or
// personal reaches a span over the providers' fixture corpus, and that
// tracing off installs nothing.

// tracedEnv is a test environment whose server traces every request into
// rec. provider selects the real providers' adapters (newProviderEnv).
func tracedEnv(t *testing.T, provider bool, sampler sdktrace.Sampler) (*testEnv, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sampler))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	eo := envOptions{cfg: func(c *Config) { c.TracerProvider = tp }}
	if provider {
		return newProviderEnv(t, eo), rec
	}
	return newTestEnv(t, eo), rec
}

// spanSet is what the recorder holds of ended spans.
type spanSet []sdktrace.ReadOnlySpan

func ended(rec *tracetest.SpanRecorder) spanSet { return rec.Ended() }

// named returns the spans called name.
func (s spanSet) named(name string) spanSet {
	var out spanSet
	for _, sp := range s {
		if sp.Name() == name {
			out = append(out, sp)
		}
	}
	return out
}

// childrenOf returns the spans whose parent is p.
func (s spanSet) childrenOf(p sdktrace.ReadOnlySpan) spanSet {
	var out spanSet
	for _, sp := range s {
		if sp.Parent().SpanID() == p.SpanContext().SpanID() && sp.Parent().TraceID() == p.SpanContext().TraceID() {
			out = append(out, sp)
		}
	}
	return out
}

// withAttr returns the spans whose attribute key has the string value v.
func (s spanSet) withAttr(key attribute.Key, v string) spanSet {
	var out spanSet
	for _, sp := range s {
		if spanAttr(sp, key).String() == v {
			out = append(out, sp)
		}
	}
	return out
}

// waitSpans waits until cond holds for the ended spans and returns them.
func waitSpans(t *testing.T, rec *tracetest.SpanRecorder, what string, cond func(spanSet) bool) spanSet {
	t.Helper()
	var got spanSet
	testkit.WaitFor(t, guard, what, func() bool {
		got = ended(rec)
		return cond(got)
	})
	return got
}

func spanAttr(sp sdktrace.ReadOnlySpan, key attribute.Key) attribute.Value {
	for _, kv := range sp.Attributes() {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// postTraced posts an authenticated fake delivery with extra headers and
// returns the answer and its X-Request-Id.
func (e *testEnv) postTraced(t *testing.T, provider string, body []byte, extra http.Header) Accepted {
	t.Helper()
	h := authHeaders(provider)
	for k, v := range extra {
		h[k] = v
	}
	code, b := e.postRaw(t, http.MethodPost, "/webhooks/"+provider, body, h)
	var acc Accepted
	if code != http.StatusOK || json.Unmarshal(b, &acc) != nil {
		t.Fatalf("post: %d %s", code, b)
	}
	return acc
}

// wantTraceParent is the W3C traceparent of a sampled span.
func wantTraceParent(sp sdktrace.ReadOnlySpan) string {
	return fmt.Sprintf("00-%s-%s-01", sp.SpanContext().TraceID(), sp.SpanContext().SpanID())
}

// TestTracingDelivery: one delivery is a server span with the children
// verify, normalize and append in one trace; the stored event carries the
// server span's traceparent, and gRPC, REST and SSE subscribers receive
// it. A retry keeps the first delivery's trace_parent. A provider's own
// traceparent header is linked, not continued.
func TestTracingDelivery(t *testing.T) {
	e, rec := tracedEnv(t, false, sdktrace.AlwaysSample())
	body := orderBody("2aac461e7b774a38a72fd9c7c0eef8ee", "ddd192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00")
	remote := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	acc := e.postTraced(t, "truv", body, http.Header{"X-Request-Id": {"req-trace-1"}, "Traceparent": {remote}})
	if len(acc.Events) != 1 || acc.Duplicate {
		t.Fatalf("answer %+v", acc)
	}
	seq := acc.Events[0].Sequence

	const serverName = "POST /webhooks/{provider}"
	spans := waitSpans(t, rec, "the delivery's server span", func(s spanSet) bool { return len(s.named(serverName)) == 1 })
	srv := spans.named(serverName)[0]
	if srv.SpanKind() != trace.SpanKindServer {
		t.Errorf("server span kind %v", srv.SpanKind())
	}
	for key, want := range map[attribute.Key]string{
		attrProvider: "truv", attrSource: "default", attrRequestID: "req-trace-1", attrHTTPRoute: "/webhooks/{provider}",
		attrDuplicate: "false", attrPing: "false", "http.response.status_code": "200",
	} {
		if got := spanAttr(srv, key).String(); got != want {
			t.Errorf("server span %s = %q, want %q", key, got, want)
		}
	}
	// Webhooks are a public endpoint: the provider's trace is linked.
	if srv.SpanContext().TraceID().String() == "0af7651916cd43dd8448eb211c80319c" || srv.Parent().IsValid() {
		t.Errorf("the server span continues the caller's trace (parent %v)", srv.Parent())
	}
	if l := srv.Links(); len(l) != 1 || l[0].SpanContext.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("server span links %v, want the caller's span", l)
	}

	children := spans.childrenOf(srv)
	var names []string
	for _, c := range children {
		names = append(names, c.Name())
		if c.SpanContext().TraceID() != srv.SpanContext().TraceID() {
			t.Errorf("%s in trace %s, not the server span's", c.Name(), c.SpanContext().TraceID())
		}
		if spanAttr(c, attrProvider).AsString() != "truv" || spanAttr(c, attrSource).AsString() != "default" {
			t.Errorf("%s attributes %v lack the provider and source", c.Name(), c.Attributes())
		}
	}
	slices.Sort(names)
	if want := []string{"append", "normalize", "verify"}; !slices.Equal(names, want) {
		t.Fatalf("children of the server span %v, want %v", names, want)
	}
	app := children.named("append")[0]
	for key, want := range map[attribute.Key]string{
		attrEventType: "EVENT_TYPE_ORDER_STATUS_CHANGED", attrEventID: acc.Events[0].ID,
		attrSequence: fmt.Sprint(seq), attrDuplicate: "false",
	} {
		if got := spanAttr(app, key).String(); got != want {
			t.Errorf("append span %s = %q, want %q", key, got, want)
		}
	}
	norm := children.named("normalize")[0]
	if got := spanAttr(norm, attrEventTypes).AsStringSlice(); !slices.Equal(got, []string{"EVENT_TYPE_ORDER_STATUS_CHANGED"}) {
		t.Errorf("normalize span event types %v", got)
	}

	want := wantTraceParent(srv)
	stored, err := e.log.Get(t.Context(), seq)
	if err != nil {
		t.Fatal(err)
	}
	if stored.GetTraceParent() != want {
		t.Fatalf("stored trace_parent %q, want %q (the server span)", stored.GetTraceParent(), want)
	}
	// The propagator reads it back as the server span's context.
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
		propagation.MapCarrier{"traceparent": stored.GetTraceParent()}))
	if sc.TraceID() != srv.SpanContext().TraceID() || sc.SpanID() != srv.SpanContext().SpanID() || !sc.IsSampled() {
		t.Errorf("trace_parent %q parses to %v", stored.GetTraceParent(), sc)
	}

	t.Run("grpc subscriber", func(t *testing.T) {
		s := e.subscribe(t, &hooklinev1.SubscribeRequest{Start: &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_EARLIEST}})
		evs, _ := recvUntil(t, s, seq)
		if len(evs) != 1 || evs[0].GetTraceParent() != want {
			t.Fatalf("gRPC subscriber got %v, want one event with trace_parent %q", evs, want)
		}
	})
	t.Run("rest subscriber", func(t *testing.T) {
		s := e.openStream(t, "GET", "/v1/events:subscribe?position=START_POSITION_EARLIEST", nil)
		evs, _ := recvUntil(t, s, seq)
		if len(evs) != 1 || evs[0].GetTraceParent() != want {
			t.Fatalf("REST subscriber got %v, want one event with trace_parent %q", evs, want)
		}
	})
	t.Run("sse subscriber", func(t *testing.T) {
		s, closeSSE := e.openSSE(t, "position=earliest", "")
		defer closeSSE()
		evs, _ := recvUntil(t, s, seq)
		if len(evs) != 1 || evs[0].GetTraceParent() != want {
			t.Fatalf("SSE subscriber got %v, want one event with trace_parent %q", evs, want)
		}
	})

	t.Run("retry keeps the first trace_parent", func(t *testing.T) {
		again := e.postTraced(t, "truv", body, http.Header{"X-Request-Id": {"req-trace-2"}})
		if !again.Duplicate || again.Events[0].Sequence != seq {
			t.Fatalf("retry answered %+v, want a duplicate of %d", again, seq)
		}
		spans := waitSpans(t, rec, "the retry's server span", func(s spanSet) bool {
			return len(s.named(serverName).withAttr(attrRequestID, "req-trace-2")) == 1
		})
		retry := spans.named(serverName).withAttr(attrRequestID, "req-trace-2")[0]
		if retry.SpanContext().TraceID() == srv.SpanContext().TraceID() {
			t.Error("the retry is in the first delivery's trace")
		}
		if a := spans.childrenOf(retry).named("append"); len(a) != 1 || spanAttr(a[0], attrDuplicate).String() != "true" {
			t.Errorf("retry's append spans %v, want one duplicate", a)
		}
		stored, err := e.log.Get(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if stored.GetTraceParent() != want {
			t.Errorf("after the retry, stored trace_parent %q, want the first %q", stored.GetTraceParent(), want)
		}
	})

	t.Run("rejection records the code only", func(t *testing.T) {
		h := authHeaders("truv")
		h.Set(adaptertest.FakeTokenHeader, "guess-not-a-secret")
		h.Set("X-Request-Id", "req-trace-3")
		if code, b := e.postRaw(t, http.MethodPost, "/webhooks/truv", body, h); code != http.StatusUnauthorized {
			t.Fatalf("%d %s", code, b)
		}
		spans := waitSpans(t, rec, "the rejection's verify span", func(s spanSet) bool {
			srv := s.named(serverName).withAttr(attrRequestID, "req-trace-3")
			return len(srv) == 1 && len(s.childrenOf(srv[0]).named("verify")) == 1
		})
		srv := spans.named(serverName).withAttr(attrRequestID, "req-trace-3")[0]
		v := spans.childrenOf(srv).named("verify")[0]
		if v.Status().Code != 1 /* codes.Error */ || v.Status().Description != "" || spanAttr(v, attrErrorType).String() != "unauthenticated" {
			t.Errorf("verify span status %+v, error.type %q; want Error, no description, unauthenticated", v.Status(), spanAttr(v, attrErrorType).String())
		}
		if n := len(spans.childrenOf(srv)); n != 1 {
			t.Errorf("a rejected delivery has %d children, want only verify", n)
		}
	})
}

// TestTracingRESTOneTrace: a REST call is one trace, an HTTP server span
// named after the REST route, the gateway's gRPC client span and the gRPC
// server span; it continues the caller's trace. Health, readiness and
// metrics are not traced.
func TestTracingRESTOneTrace(t *testing.T) {
	e, rec := tracedEnv(t, false, sdktrace.AlwaysSample())
	acc := e.post(t, "truv", orderBody("3aac461e7b774a38a72fd9c7c0eef8ee", "rest-order-1", "completed", "2024-07-11T21:40:48Z"))
	e.waitApplied(t, acc.Events[0].Sequence)
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		resp := e.open(t, "GET", p, nil, nil)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	const caller = "4bf92f3577b34da6a3ce929d0e0e4736"
	resp := e.open(t, "GET", "/v1/events/"+acc.Events[0].ID, nil, http.Header{"Traceparent": {"00-" + caller + "-00f067aa0ba902b7-01"}})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GetEvent: %d %s", resp.StatusCode, b)
	}
	var got hooklinev1.GetEventResponse
	if err := protojson.Unmarshal(b, &got); err != nil || got.GetEvent().GetTraceParent() == "" {
		t.Fatalf("GetEvent answered %s (%v), want the event with its trace_parent", b, err)
	}

	const httpName = "GET /v1/events/{id}"
	spans := waitSpans(t, rec, "the REST call's spans", func(s spanSet) bool { return len(s.named(httpName)) == 1 })
	httpSpan := spans.named(httpName)[0]
	if httpSpan.SpanContext().TraceID().String() != caller {
		t.Errorf("REST span in trace %s, want the caller's %s", httpSpan.SpanContext().TraceID(), caller)
	}
	if r := spanAttr(httpSpan, attrHTTPRoute).String(); r != "/v1/events/{id}" {
		t.Errorf("REST span http.route %q", r)
	}
	client := spans.childrenOf(httpSpan)
	if len(client) != 1 || client[0].SpanKind() != trace.SpanKindClient {
		t.Fatalf("children of the REST span: %v, want the gateway's gRPC client span", client)
	}
	server := spans.childrenOf(client[0])
	if len(server) != 1 || server[0].SpanKind() != trace.SpanKindServer || server[0].Name() != "hookline.v1.EventService/GetEvent" {
		t.Fatalf("children of the gRPC client span: %v, want the GetEvent server span", server)
	}
	if server[0].SpanContext().TraceID() != httpSpan.SpanContext().TraceID() {
		t.Error("the gRPC server span is in another trace")
	}
	for _, sp := range ended(rec) {
		if n := sp.Name(); strings.Contains(n, "healthz") || strings.Contains(n, "readyz") || strings.Contains(n, "metrics") ||
			strings.Contains(n, "openapi") || strings.Contains(n, "grpc.health") {
			t.Errorf("span %q: health, readiness, metrics and the OpenAPI document are not traced", n)
		}
		if strings.Contains(sp.Name(), acc.Events[0].ID) {
			t.Errorf("span %q is named after the raw path", sp.Name())
		}
	}
}

// TestTracingOff: without a TracerProvider nothing is wrapped, no trace
// context is taken from requests and events carry no trace_parent; with a
// provider that samples nothing, events carry none either.
func TestTracingOff(t *testing.T) {
	remote := http.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
	t.Run("no provider", func(t *testing.T) {
		e := newTestEnv(t, envOptions{})
		if e.srv.tracing != nil {
			t.Fatal("tracing installed without a TracerProvider")
		}
		mux := http.NewServeMux()
		if h, ok := e.srv.tracing.routes(mux).(*http.ServeMux); !ok || h != mux {
			t.Error("routes wrapped the mux with tracing off")
		}
		if _, ok := e.srv.tracing.grpcServerOption().(grpc.EmptyServerOption); !ok {
			t.Error("a gRPC stats handler is installed with tracing off")
		}
		if _, ok := e.srv.tracing.dialOption().(grpc.EmptyDialOption); !ok {
			t.Error("the gateway's connection has a stats handler with tracing off")
		}
		acc := e.postTraced(t, "truv", orderBody("4aac461e7b774a38a72fd9c7c0eef8ee", "off-order", "completed", "2024-07-11T21:40:48Z"), remote)
		ev, err := e.log.Get(t.Context(), acc.Events[0].Sequence)
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetTraceParent() != "" {
			t.Errorf("trace_parent %q with tracing off", ev.GetTraceParent())
		}
	})
	t.Run("never sampled", func(t *testing.T) {
		e, rec := tracedEnv(t, false, sdktrace.NeverSample())
		acc := e.postTraced(t, "truv", orderBody("5aac461e7b774a38a72fd9c7c0eef8ee", "off-order", "completed", "2024-07-11T21:40:48Z"), nil)
		ev, err := e.log.Get(t.Context(), acc.Events[0].Sequence)
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetTraceParent() != "" || len(ended(rec)) != 0 {
			t.Errorf("trace_parent %q and %d spans with a sampler that samples nothing", ev.GetTraceParent(), len(ended(rec)))
		}
	})
}

// providerSecret returns the secret of the real-provider test source of f
// (providers_test.go).
func providerSecret(t *testing.T, f adapters.Factory) []byte {
	t.Helper()
	switch f.Name {
	case "truv":
		return []byte(testTruvSecret)
	case "finicity":
		return []byte(testFinicitySecret)
	case "swyft":
		return []byte(testSwyftAuth)
	}
	t.Fatalf("no test secret for provider %s", f.Name)
	return nil
}

// TestTracingFixtureCorpusLeaksNothing posts every recorded fixture and
// every built-in sample of the three real providers, signed as each
// provider signs, through a traced gateway, then reads the events back
// over REST and SSE by their order ids and session keys, and checks every
// span's name, attributes, status, events and links: none may hold a
// secret, a signature or other header value sent, a body, or a value of
// the payloads that looks personal or identifying (names, emails, phone
// numbers, account numbers, order ids, session keys).
func TestTracingFixtureCorpusLeaksNothing(t *testing.T) {
	e, rec := tracedEnv(t, true, sdktrace.AlwaysSample())
	forbidden := map[string]string{} // value → where it came from
	forbid := func(v, from string) {
		if len(v) >= 4 {
			forbidden[v] = from
		}
	}
	posted := 0
	for _, f := range registry.Factories() {
		secret := providerSecret(t, f)
		forbid(string(secret), f.Name+" secret")
		files, err := filepath.Glob(filepath.Join("..", "adapters", f.Name, "testdata", "fixtures", "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no %s fixtures: %v", f.Name, err)
		}
		var bodies [][]byte
		var from []string
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			bodies, from = append(bodies, b), append(from, file)
		}
		for i, s := range f.Samples() {
			p := adapters.SampleParams{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			copy(p.Seed[:], fmt.Sprintf("tracing-leak-%02d", i))
			bodies, from = append(bodies, s.Body(p)), append(from, f.Name+" sample "+s.Name)
		}
		for i, body := range bodies {
			h := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {fmt.Sprintf("req-leak-%s-%03d", f.Name, i)}}
			f.Sign(h, body, secret)
			for k, vs := range h {
				if k != "Content-Type" && k != "X-Request-Id" {
					for _, v := range vs {
						forbid(v, from[i]+" header "+k)
					}
				}
			}
			forbid(string(body), from[i]+" body")
			collectSensitive(t, body, from[i], forbid)
			code, b := e.postRaw(t, http.MethodPost, "/webhooks/"+f.Name, body, h)
			if code >= 500 {
				t.Fatalf("%s: %d %s", from[i], code, b)
			}
			posted++
		}
	}
	if len(forbidden) < 100 {
		t.Fatalf("only %d forbidden values collected from the corpus: the check would prove little", len(forbidden))
	}

	// Reads by order id and session key: the REST path and the SSE query
	// hold them, the spans must not.
	var subjects []string
	for _, ev := range e.listAll(t) {
		if s := ev.GetSubject(); s != "" && !slices.Contains(subjects, s) {
			subjects = append(subjects, s)
			forbid(s, "the subject of event "+ev.GetId())
		}
	}
	if len(subjects) < 10 {
		t.Fatalf("only %d subjects stored from the corpus", len(subjects))
	}
	for _, s := range subjects[:5] {
		for _, p := range []string{"/v1/orders/" + url.PathEscape(s), "/v1/sessions/" + url.PathEscape(s), "/v1/events:sse?position=earliest&order_id=" + url.QueryEscape(s)} {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			req, _ := http.NewRequestWithContext(ctx, "GET", e.httpURL+p, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				// Enough of an SSE stream for its span to have begun; the
				// cancel then ends it.
				_, _ = io.CopyN(io.Discard, resp.Body, 64)
				resp.Body.Close()
			}
			cancel()
		}
	}
	forbid("order-that-does-not-exist-42", "an unknown order id")
	resp := e.open(t, "GET", "/v1/orders/order-that-does-not-exist-42", nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown order: %d", resp.StatusCode)
	}

	spans := waitSpans(t, rec, "a server span per delivery and the reads' spans", func(s spanSet) bool {
		n := 0
		for _, sp := range s {
			if sp.Name() == "POST /webhooks/{provider}" {
				n++
			}
		}
		return n == posted && len(s.named("GET /v1/orders/{order_id}")) == 6 && len(s.named("GET /v1/events:sse")) == 5
	})
	checked := 0
	check := func(sp sdktrace.ReadOnlySpan, what, v string) {
		checked++
		for f, from := range forbidden {
			if strings.Contains(v, f) {
				t.Errorf("span %q %s holds %q (%s)", sp.Name(), what, f, from)
			}
		}
	}
	// Numbers (sizes, status codes, ports, sequences) are the gateway's and
	// the instrumentation's own; strings are what could carry a value.
	checkAttr := func(sp sdktrace.ReadOnlySpan, what string, kv attribute.KeyValue) {
		switch kv.Value.Type() {
		case attribute.STRING:
			check(sp, what+" "+string(kv.Key), kv.Value.AsString())
		case attribute.STRINGSLICE:
			for _, v := range kv.Value.AsStringSlice() {
				check(sp, what+" "+string(kv.Key), v)
			}
		}
	}
	for _, sp := range spans {
		check(sp, "name", sp.Name())
		check(sp, "status", sp.Status().Description)
		for _, kv := range sp.Attributes() {
			checkAttr(sp, "attribute", kv)
		}
		for _, ev := range sp.Events() {
			check(sp, "event", ev.Name)
			for _, kv := range ev.Attributes {
				checkAttr(sp, "event attribute", kv)
			}
		}
		for _, l := range sp.Links() {
			for _, kv := range l.Attributes {
				checkAttr(sp, "link attribute", kv)
			}
		}
		for _, kv := range sp.Attributes() {
			if !allowedKey(kv.Key) {
				t.Errorf("span %q has attribute %s, not on the allowlist", sp.Name(), kv.Key)
			}
		}
	}
	t.Logf("%d deliveries, %d spans, %d values checked against %d forbidden values", posted, len(spans), checked, len(forbidden))
}

// collectSensitive calls forbid with every string leaf of the JSON body
// that looks personal or identifying: an email, anything with four digits
// or more (ids, account and phone numbers, dates of birth), or the value of
// a key that names a person, an address, an account or an identifier. A
// body that is not JSON contributes nothing (it is forbidden whole).
func collectSensitive(t *testing.T, body []byte, from string, forbid func(v, from string)) {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	if dec.Decode(&v) != nil {
		return
	}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(k, x)
			}
		case []any:
			for _, x := range v {
				walk(key, x)
			}
		case string:
			if looksSensitive(key, v) {
				forbid(v, from+" field "+key)
			}
		}
	}
	walk("", v)
}

// looksSensitive is collectSensitive's test of one value.
func looksSensitive(key, v string) bool {
	digits := 0
	for _, c := range v {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	if strings.Contains(v, "@") || digits >= 4 {
		return true
	}
	k := strings.ToLower(key)
	if k == "id" || strings.HasSuffix(k, "_id") || strings.HasSuffix(key, "Id") || strings.HasSuffix(k, "uuid") {
		return len(v) >= 3
	}
	for _, word := range []string{"name", "email", "phone", "address", "street", "city", "zip", "postal", "ssn", "birth", "dob",
		"employer", "company", "account", "routing", "order", "user", "customer", "session", "token", "secret", "key"} {
		if strings.Contains(k, word) {
			return len(v) >= 3
		}
	}
	return false
}
