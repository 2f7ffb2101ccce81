package finicity_test

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/finicity"
)

// BenchmarkVerifyNormalize measures one Finicity delivery through the
// adapter path the server runs for every webhook: Verify (HMAC-SHA256 over
// the raw body) then Normalize. `added` is a large Connect event with two
// accounts, `done` the smallest one; see BENCHMARKS.md.
//
// Metrics: ns/op, B/op and allocs/op of Verify+Normalize, MB/s of body, and
// ratio-vs-json-any: the same time divided by the time encoding/json takes
// to decode the body into an `any`, measured in the same run.
func BenchmarkVerifyNormalize(b *testing.B) {
	for _, name := range []string{"added", "done"} {
		b.Run(name, func(b *testing.B) {
			body, err := os.ReadFile(filepath.Join("testdata", "fixtures", name+".json"))
			if err != nil {
				b.Fatal(err)
			}
			secret := []byte("bench-finicity-secret")
			a, err := finicity.Factory.New(adapters.Config{Source: "default", Secrets: [][]byte{secret}})
			if err != nil {
				b.Fatal(err)
			}
			d := &adapters.Delivery{
				Header: http.Header{
					"Content-Type":           {"application/json"},
					finicity.HeaderSignature: {hex.EncodeToString(adapters.HMACSHA256(secret, body))},
				},
				Body: body, ReceiveTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ID: "req_bench",
			}
			benchAdapter(b, a, d)
		})
	}
}

// benchAdapter times Verify+Normalize of d and reports the ratio to a plain
// JSON decode of the same body.
func benchAdapter(b *testing.B, a adapters.Adapter, d *adapters.Delivery) {
	b.Helper()
	if res, err := a.Normalize(d); err != nil || len(res.Events) == 0 {
		b.Fatalf("fixture does not normalize to an event: %v", err)
	}
	b.SetBytes(int64(len(d.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Verify(d); err != nil {
			b.Fatal(err)
		}
		if _, err := a.Normalize(d); err != nil {
			b.Fatal(err)
		}
	}
	op := float64(b.Elapsed()) / float64(b.N)
	base := jsonAnyPerOp(d.Body, b.N)
	b.ReportMetric(op/base, "ratio-vs-json-any")
}

// jsonAnyPerOp returns the mean nanoseconds encoding/json takes to decode
// body into an `any`, over n runs (at least 1000).
func jsonAnyPerOp(body []byte, n int) float64 {
	n = max(n, 1000)
	start := time.Now()
	for range n {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			panic(err)
		}
	}
	return float64(time.Since(start)) / float64(n)
}
