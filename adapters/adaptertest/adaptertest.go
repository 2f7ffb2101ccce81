// Package adaptertest holds what every provider adapter is tested with: the
// fixture and golden runner, the conformance suite and fuzz helpers; and a
// provider-neutral fake adapter (Fake) for tests of what consumes adapters.
//
// Fixtures live in the provider package's testdata/fixtures/NAME.json (the
// exact body a provider sends) with an optional NAME.headers file
// ("Key: Value" per line, e.g. Content-Type). The expected events live in
// testdata/golden/NAME.json; run `go test ./adapters/... -update` to rewrite
// them after a deliberate mapping change, then review the diff.
package adaptertest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// ReceiveTime is the receive time every test delivery carries.
var ReceiveTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// DeliveryID is the delivery id every test delivery carries.
const DeliveryID = "dlv_test"

// Secret is the secret test deliveries are signed with.
var Secret = []byte("test-secret-0123456789")

// Suite describes one provider adapter to the shared tests.
type Suite struct {
	// Factory builds the adapter.
	Factory adapters.Factory
	// Options are the provider options of the source under test.
	Options map[string]string
	// Sign returns the headers that authenticate body with secret exactly the
	// way the provider does it.
	Sign func(body, secret []byte) http.Header
	// SignsBody is true when the scheme covers the body (HMAC), so that a
	// tampered body must fail verification. Static credentials do not.
	SignsBody bool
	// BadAuth maps a name to a mutation of validly signed headers that must
	// make Verify fail (missing header, malformed value, wrong prefix...).
	BadAuth map[string]func(h http.Header)
	// Dir is the provider package's testdata directory.
	Dir string
	// UnknownEventBody is a well-formed body with an event type the adapter
	// does not know; it must yield one unmapped event.
	UnknownEventBody []byte
}

// Fixture is one recorded provider delivery.
type Fixture struct {
	Name   string
	Body   []byte
	Header http.Header
}

// Fixtures loads every fixture of the suite, sorted by name.
func (s Suite) Fixtures(tb testing.TB) []Fixture {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(s.Dir, "fixtures", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(paths) == 0 {
		tb.Fatalf("no fixtures under %s/fixtures", s.Dir)
	}
	sort.Strings(paths)
	out := make([]Fixture, 0, len(paths))
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		h, err := readHeaders(strings.TrimSuffix(p, ".json") + ".headers")
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, Fixture{Name: strings.TrimSuffix(filepath.Base(p), ".json"), Body: body, Header: h})
	}
	return out
}

func readHeaders(path string) (http.Header, error) {
	h := http.Header{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		h.Set("Content-Type", "application/json")
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s: line %q is not Key: Value", path, line)
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return h, sc.Err()
}

// New builds an adapter for source "test" with the given secrets.
func (s Suite) New(tb testing.TB, secrets ...[]byte) adapters.Adapter {
	tb.Helper()
	a, err := s.Factory.New(adapters.Config{Source: "test", Secrets: secrets, Options: s.Options})
	if err != nil {
		tb.Fatalf("new adapter: %v", err)
	}
	return a
}

// Delivery returns a delivery of body signed with secret, with extra headers
// (e.g. Content-Type) merged in.
func (s Suite) Delivery(body, secret []byte, extra http.Header) *adapters.Delivery {
	h := http.Header{}
	for k, v := range extra {
		h[k] = append([]string(nil), v...)
	}
	for k, v := range s.Sign(body, secret) {
		h[k] = v
	}
	return &adapters.Delivery{Header: h, Body: body, ReceiveTime: ReceiveTime, ID: DeliveryID}
}

// golden is the on-disk form of a golden file.
type golden struct {
	Ping   bool              `json:"ping"`
	Events []json.RawMessage `json:"events"`
}

// RunGoldens normalizes every fixture and compares the events with its
// golden file (with protocmp; raw bodies are checked against the fixture
// instead of being stored in the golden).
func RunGoldens(t *testing.T, s Suite) {
	t.Helper()
	a := s.New(t, Secret)
	for _, fx := range s.Fixtures(t) {
		t.Run(fx.Name, func(t *testing.T) {
			d := s.Delivery(fx.Body, Secret, fx.Header)
			if err := a.Verify(d); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			res, err := a.Normalize(d)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			got := stripRaw(t, res.Events, fx.Body)
			path := filepath.Join(s.Dir, "golden", fx.Name+".json")
			if *update {
				writeGolden(t, path, res.Ping, got)
				return
			}
			wantPing, want := readGolden(t, path)
			if res.Ping != wantPing {
				t.Errorf("Ping = %v, want %v", res.Ping, wantPing)
			}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("events differ from %s (-want +got):\n%s\nrun with -update after a deliberate change", path, diff)
			}
		})
	}
	t.Run("mapping version", func(t *testing.T) {
		if err := CheckMappingVersion(s, *update); err != nil {
			t.Error(err)
		}
	})
}

// mappingVersionFile records, under a suite's testdata, the digest of its
// goldens for each mapping version: "VERSION SHA256" per line.
const mappingVersionFile = "mapping_versions"

// CheckMappingVersion fails when the suite's goldens differ from the ones
// recorded for the factory's MappingVersion: the mapping's output changed,
// so the version must be raised. With record it writes the digest of a
// version that has none yet (after the raise), never over one that has.
func CheckMappingVersion(s Suite, record bool) error {
	v := s.Factory.MappingVersion
	if v < 1 {
		return fmt.Errorf("%s: MappingVersion is %d; it starts at 1", s.Factory.Name, v)
	}
	digest, err := goldensDigest(filepath.Join(s.Dir, "golden"))
	if err != nil {
		return err
	}
	path := filepath.Join(s.Dir, mappingVersionFile)
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	recorded := map[uint32]string{}
	for line := range strings.Lines(string(b)) {
		var rv uint32
		var rd string
		if _, err := fmt.Sscanf(line, "%d %s", &rv, &rd); err == nil {
			recorded[rv] = rd
		}
	}
	switch rd, ok := recorded[v]; {
	case ok && rd == digest:
		return nil
	case ok:
		return fmt.Errorf("%s: the goldens under %s changed since mapping version %d was recorded: "+
			"raise Factory.MappingVersion to %d (stored events of older versions can then be reprocessed) and run the tests with -update to record it",
			s.Factory.Name, s.Dir, v, v+1)
	case !record:
		return fmt.Errorf("%s: mapping version %d is not recorded in %s: run the tests with -update", s.Factory.Name, v, path)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%d %s\n", v, digest); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// goldensDigest is the SHA-256 of a golden directory's file names and
// contents, in name order.
func goldensDigest(dir string) (string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return "", err
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(p), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// stripRaw checks each event's raw body is the delivery's body and returns
// copies with the raw body cleared, as goldens store them.
func stripRaw(t *testing.T, evs []*hooklinev1.Event, body []byte) []*hooklinev1.Event {
	t.Helper()
	out := make([]*hooklinev1.Event, len(evs))
	for i, ev := range evs {
		if !bytes.Equal(ev.GetRaw().GetBody(), body) {
			t.Errorf("event %d: raw body differs from the delivery body", i)
		}
		c := proto.Clone(ev).(*hooklinev1.Event)
		if c.Raw != nil {
			c.Raw.Body = nil
		}
		out[i] = c
	}
	return out
}

func writeGolden(t *testing.T, path string, ping bool, evs []*hooklinev1.Event) {
	t.Helper()
	g := golden{Ping: ping, Events: []json.RawMessage{}}
	for _, ev := range evs {
		b, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		g.Events = append(g.Events, b)
	}
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readGolden(t *testing.T, path string) (bool, []*hooklinev1.Event) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	evs := make([]*hooklinev1.Event, len(g.Events))
	for i, raw := range g.Events {
		evs[i] = &hooklinev1.Event{}
		if err := protojson.Unmarshal(raw, evs[i]); err != nil {
			t.Fatalf("%s: event %d: %v", path, i, err)
		}
	}
	return g.Ping, evs
}
