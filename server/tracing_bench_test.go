package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hookline/hookline/adapters/truv"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkIngestTracing backs "tracing is free when off" (docs/tracing.md):
// the webhook handler in process, one signed Truv delivery per op through
// the same route wrapping HTTPHandler installs (guardPaths, then
// tracing.routes) down to an appender that stores nothing (discardStore,
// as in BenchmarkIngestHandler), called directly with an
// httptest.ResponseRecorder, so that ns/op and allocs/op are the handler's
// own with nothing of a network or a store around them. Sub-benchmarks:
//
//   - tracing=off: no TracerProvider, nothing wrapped (production's
//     default);
//   - tracing=on-sampled: the SDK's provider sampling every delivery, with
//     the batching processor and an exporter that drops the batches: the
//     server span, verify, normalize and append, and the trace_parent;
//   - tracing=on-never-sampled: the SDK's provider sampling nothing, what
//     an unsampled delivery costs under a ratio sampler.
//
// It asserts nothing about timing; compare off with the others.
func BenchmarkIngestTracing(b *testing.B) {
	providers := []struct {
		name string
		tp   func() *sdktrace.TracerProvider // nil: tracing off
	}{
		{"tracing=off", nil},
		{"tracing=on-sampled", func() *sdktrace.TracerProvider {
			return sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sdktrace.AlwaysSample()))
		}},
		{"tracing=on-never-sampled", func() *sdktrace.TracerProvider {
			return sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sdktrace.NeverSample()))
		}},
	}
	load := newBenchLoad("trace", 1024)
	for _, p := range providers {
		b.Run(p.name, func(b *testing.B) {
			in, err := NewIngest([]*Source{newSource(b, truv.Factory, "default", testTruvSecret)}, &discardStore{}, slog.New(slog.DiscardHandler), IngestOptions{})
			if err != nil {
				b.Fatal(err)
			}
			var t *tracing
			if p.tp != nil {
				tp := p.tp()
				b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
				t = newTracing(tp)
			}
			mux := http.NewServeMux()
			in.Register(mux)
			h := in.guardPaths(t.routes(mux))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				n := i % len(load.bodies)
				req := httptest.NewRequest(http.MethodPost, "/webhooks/truv", bytes.NewReader(load.bodies[n]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(truv.SignatureHeader, load.sigs[n])
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
