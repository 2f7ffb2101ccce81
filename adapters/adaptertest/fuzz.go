package adaptertest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters"
)

// FuzzNormalize fuzzes the adapter's normalization with bodies seeded from
// the fixtures. Each body is signed correctly, so Verify must pass; Normalize
// must never panic, must fail only with ErrMalformed or
// ErrUnsupportedMediaType, and its events must satisfy the invariants.
func FuzzNormalize(f *testing.F, s Suite) {
	for _, fx := range s.Fixtures(f) {
		f.Add(fx.Body)
	}
	if s.UnknownEventBody != nil {
		f.Add(s.UnknownEventBody)
	}
	a := s.New(f, Secret)
	f.Fuzz(func(t *testing.T, body []byte) {
		d := s.Delivery(body, Secret, nil)
		if err := a.Verify(d); err != nil {
			t.Fatalf("Verify of a correctly signed body: %v", err)
		}
		res, err := a.Normalize(d)
		if err != nil {
			if !errors.Is(err, adapters.ErrMalformed) && !errors.Is(err, adapters.ErrUnsupportedMediaType) {
				t.Fatalf("Normalize error %v is not a sentinel", err)
			}
			return
		}
		if !res.Ping && len(res.Events) == 0 {
			t.Fatalf("no events and not a ping")
		}
		for _, e := range Invariants(s.Factory.Provider, "test", d, res.Events) {
			t.Error(e)
		}
	})
}

// FuzzVerify fuzzes the parsing of the authentication header: for any value
// of header, Verify must not panic and must either succeed or fail with
// ErrUnauthenticated. A value equal to the correct one must succeed.
func FuzzVerify(f *testing.F, s Suite, header string) {
	fixtures := s.Fixtures(f)
	body := fixtures[0].Body
	good := s.Sign(body, Secret).Get(header)
	f.Add(good)
	f.Add("")
	f.Add("v1=")
	f.Add(" " + good + " ")
	f.Add("v1=zz")
	a := s.New(f, Secret)
	f.Fuzz(func(t *testing.T, value string) {
		d := s.Delivery(body, Secret, nil)
		d.Header.Set(header, value)
		err := a.Verify(d)
		if err != nil && !errors.Is(err, adapters.ErrUnauthenticated) {
			t.Fatalf("Verify error %v is not ErrUnauthenticated", err)
		}
		if value == good && err != nil {
			t.Fatalf("the correct value was rejected: %v", err)
		}
	})
}

// BenchmarkVerifyNormalize times the adapter path the server runs for every
// webhook, Verify then Normalize, on the named fixtures signed the way the
// provider signs them. Besides ns/op, B/op, allocs/op and MB/s it reports
// ratio-vs-json-any: the same time over encoding/json decoding the body
// into an `any`, measured in the same run, so the figure reads the same on
// a faster or slower machine.
func BenchmarkVerifyNormalize(b *testing.B, s Suite, fixtures ...string) {
	byName := map[string]Fixture{}
	for _, fx := range s.Fixtures(b) {
		byName[fx.Name] = fx
	}
	a := s.New(b, Secret)
	for _, name := range fixtures {
		fx, ok := byName[name]
		if !ok {
			b.Fatalf("no fixture %q", name)
		}
		b.Run(name, func(b *testing.B) {
			d := s.Delivery(fx.Body, Secret, fx.Header)
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
			b.ReportMetric(op/jsonAnyPerOp(b, d.Body, b.N), "ratio-vs-json-any")
		})
	}
}

// jsonAnyPerOp returns the mean nanoseconds encoding/json takes to decode
// body into an `any`, over n runs (at least 1000).
func jsonAnyPerOp(b *testing.B, body []byte, n int) float64 {
	n = max(n, 1000)
	start := time.Now()
	for range n {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(start)) / float64(n)
}
