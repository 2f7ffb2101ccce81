package adaptertest

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// lax is a deliberately broken adapter: it accepts any signature, accepts
// invalid JSON, forgets the receive time and ignores its source name.
type lax struct{ source string }

func (lax) Provider() hooklinev1.Provider   { return hooklinev1.Provider_PROVIDER_TRUV }
func (lax) Verify(*adapters.Delivery) error { return nil }
func (a lax) Normalize(d *adapters.Delivery) (adapters.Result, error) {
	ev := adapters.NewEvent(d, adapters.Envelope{Provider: hooklinev1.Provider_PROVIDER_TRUV, Source: "test", ProviderEventType: "x", DedupID: "same"}, 0)
	ev.ReceiveTime = nil
	return adapters.Result{Events: []*hooklinev1.Event{adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE, "", "")}}, nil
}

func TestCheckReportsEveryBrokenRule(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "fixtures"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fixtures", "one.json"), []byte(`{"event_type":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Suite{
		Factory: adapters.Factory{Provider: hooklinev1.Provider_PROVIDER_TRUV, Name: "lax", New: func(c adapters.Config) (adapters.Adapter, error) {
			return lax{source: c.Source}, nil
		}},
		Sign:      func(body, secret []byte) http.Header { return http.Header{"X-Sig": {string(secret)}} },
		SignsBody: true,
		BadAuth:   StandardBadAuth("X-Sig"),
		Dir:       dir,
	}
	err := Check(s, s.Fixtures(t))
	if err == nil {
		t.Fatal("Check accepted a broken adapter")
	}
	for _, rule := range []string{"config/no-secrets", "config/unknown-option", "verify/wrong-secret", "verify/bad-auth/missing",
		"verify/tampered-body", "verify/rotation-retired", "malformed/truncated", "malformed/empty", "invariant", "normalize/source-in-id", "samples/sign", "samples/missing"} {
		if !strings.Contains(err.Error(), rule+":") {
			t.Errorf("Check did not report rule %s; got:\n%v", rule, err)
		}
	}
}

func TestCheckSamplesReportsEveryBrokenRule(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"fixtures", "golden"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The golden documents "x" as a session event and a ping.
	if err := os.WriteFile(filepath.Join(dir, "golden", "x.json"),
		[]byte(`{"ping":false,"events":[{"providerEventType":"x","type":"EVENT_TYPE_SESSION_STARTED"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "golden", "ping.json"), []byte(`{"ping":true,"events":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	constant := func(adapters.SampleParams) []byte { return []byte(`{"event_type":"x"}`) }
	s := Suite{
		Factory: adapters.Factory{
			Provider: hooklinev1.Provider_PROVIDER_TRUV, Name: "lax",
			New:  func(c adapters.Config) (adapters.Adapter, error) { return lax{source: c.Source}, nil },
			Sign: func(h http.Header, _, _ []byte) { h.Set("X-Sig", "ignores the secret") },
			Samples: func() []adapters.Sample {
				return []adapters.Sample{
					{Name: "x", Description: "two\nlines", Type: hooklinev1.EventType_EVENT_TYPE_SESSION_STARTED, Body: constant},
					{Name: "X", Description: "repeats x", Type: hooklinev1.EventType_EVENT_TYPE_SESSION_STARTED},
				}
			},
		},
		Dir: dir,
	}
	err := CheckSamples(s)
	if err == nil {
		t.Fatal("CheckSamples accepted broken samples")
	}
	for _, rule := range []string{"samples/name", "samples/description", "samples/body", "samples/sign-uses-secret",
		"samples/type", "samples/invariant", "samples/coverage"} {
		if !strings.Contains(err.Error(), rule+":") {
			t.Errorf("CheckSamples did not report rule %s; got:\n%v", rule, err)
		}
	}
	for _, missing := range []string{"x (SESSION)", " (PING)"} {
		if !strings.Contains(err.Error(), "documented event type "+missing) {
			t.Errorf("coverage does not name %q; got:\n%v", missing, err)
		}
	}
}
