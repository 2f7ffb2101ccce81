package adaptertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// SampleTime is the time of the samples the conformance rules build.
var SampleTime = time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)

// sampleParams returns the parameters of the n-th fresh sample.
func sampleParams(n byte) adapters.SampleParams {
	return adapters.SampleParams{Seed: [16]byte{0: n, 15: 0xa5}, Time: SampleTime}
}

// CoverageKey names a documented event type for the samples rule: the
// provider's event type (lower case, `_` read as `-`) and the family of the
// unified type it maps to (ORDER, SESSION, LINK, DATA, REPORT, or PING for
// a liveness probe). The family tells apart one provider event type with
// several shapes (Finicity's Connect `done` and report `done`) without
// asking for a sample of every status a type can carry.
type CoverageKey struct {
	ProviderEventType, Family string
}

func (k CoverageKey) String() string { return k.ProviderEventType + " (" + k.Family + ")" }

// pingKey is the coverage key of a liveness probe.
var pingKey = CoverageKey{Family: "PING"}

func coverageKey(providerEventType string, t hooklinev1.EventType) CoverageKey {
	fam, _, _ := strings.Cut(strings.TrimPrefix(t.String(), "EVENT_TYPE_"), "_")
	return CoverageKey{strings.ReplaceAll(strings.ToLower(providerEventType), "_", "-"), fam}
}

// DocumentedEventTypes reads the coverage keys the suite's goldens
// document: every event of a golden file that is not unmapped, and a ping.
func (s Suite) DocumentedEventTypes() (map[CoverageKey]string, error) {
	paths, err := filepath.Glob(filepath.Join(s.Dir, "golden", "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no goldens under %s/golden", s.Dir)
	}
	keys := map[CoverageKey]string{} // key → the golden that documents it
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var g struct {
			Ping   bool `json:"ping"`
			Events []struct {
				ProviderEventType string `json:"providerEventType"`
				Type              string `json:"type"`
			} `json:"events"`
		}
		if err := json.Unmarshal(b, &g); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if g.Ping {
			keys[pingKey] = filepath.Base(p)
		}
		for _, ev := range g.Events {
			t := hooklinev1.EventType(hooklinev1.EventType_value[ev.Type])
			if t == hooklinev1.EventType_EVENT_TYPE_UNMAPPED || t == hooklinev1.EventType_EVENT_TYPE_UNSPECIFIED {
				continue
			}
			keys[coverageKey(ev.ProviderEventType, t)] = filepath.Base(p)
		}
	}
	return keys, nil
}

// CheckSamples runs the rules on the provider's Sign and Samples and
// returns every violation joined, or nil:
//
//   - the factory has Sign and Samples; names are set and unique ignoring
//     case, descriptions are one line;
//   - coverage: the samples cover every event type the goldens document
//     (see CoverageKey);
//   - each sample is deterministic (same parameters, same bytes), verifies
//     when signed with Sign under the test secret and fails under another
//     secret, and normalizes to events of its declared, mapped Type (or to
//     a ping) that satisfy the invariants;
//   - two fresh samples (different seeds) have different event ids, and two
//     with one fixed EventID the same (so `hookline send --id` twice is a
//     duplicate).
func CheckSamples(s Suite) error {
	var errs []error
	fail := func(rule, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", rule, fmt.Sprintf(format, args...)))
	}
	f := s.Factory
	if f.Sign == nil {
		fail("samples/sign", "Factory.Sign is nil")
	}
	if f.Samples == nil {
		fail("samples/missing", "Factory.Samples is nil")
	}
	if f.Sign == nil || f.Samples == nil {
		return errors.Join(errs...)
	}
	a, err := f.New(adapters.Config{Source: "test", Secrets: [][]byte{Secret}, Options: s.Options})
	if err != nil {
		return fmt.Errorf("samples/config: New: %w", err)
	}
	deliver := func(body, secret []byte) *adapters.Delivery {
		h := http.Header{"Content-Type": {"application/json"}}
		f.Sign(h, body, secret)
		return &adapters.Delivery{Header: h, Body: body, ReceiveTime: ReceiveTime, ID: DeliveryID}
	}
	normalize := func(name string, body []byte) (adapters.Result, bool) {
		d := deliver(body, Secret)
		if err := a.Verify(d); err != nil {
			fail("samples/verify", "%s: signed with Sign, Verify = %v", name, err)
			return adapters.Result{}, false
		}
		res, err := a.Normalize(d)
		if err != nil {
			fail("samples/normalize", "%s: %v", name, err)
			return adapters.Result{}, false
		}
		for _, err := range Invariants(f.Provider, "test", d, res.Events) {
			fail("samples/invariant", "%s: %v", name, err)
		}
		return res, true
	}

	covered := map[CoverageKey]bool{}
	names := map[string]bool{}
	for _, sm := range f.Samples() {
		name := sm.Name
		if name == "" || names[strings.ToLower(name)] {
			fail("samples/name", "sample name %q is empty or repeats (ignoring case)", name)
		}
		names[strings.ToLower(name)] = true
		if sm.Description == "" || strings.ContainsAny(sm.Description, "\r\n") {
			fail("samples/description", "%s: description %q is empty or not one line", name, sm.Description)
		}
		if sm.Body == nil {
			fail("samples/body", "%s: Body is nil", name)
			continue
		}
		body := sm.Body(sampleParams(1))
		if len(body) == 0 {
			fail("samples/body", "%s: empty body", name)
			continue
		}
		if !bytes.Equal(body, sm.Body(sampleParams(1))) {
			fail("samples/deterministic", "%s: one set of parameters gave two bodies", name)
		}
		if err := wantUnauth(a, deliver(body, []byte("wrong-secret-cccccccc"))); err != nil {
			fail("samples/sign-uses-secret", "%s: signed under another secret: %v", name, err)
		}
		res, ok := normalize(name, body)
		if !ok {
			continue
		}
		if sm.Ping {
			if !res.Ping || len(res.Events) != 0 {
				fail("samples/type", "%s: declared a ping, got ping=%v and %d events", name, res.Ping, len(res.Events))
				continue
			}
			covered[pingKey] = true
			continue
		}
		if res.Ping || len(res.Events) == 0 {
			fail("samples/type", "%s: got ping=%v and no events, want %v", name, res.Ping, sm.Type)
			continue
		}
		for i, ev := range res.Events {
			if sm.Type == hooklinev1.EventType_EVENT_TYPE_UNMAPPED || ev.GetType() != sm.Type {
				fail("samples/type", "%s: event %d has type %v%s, want the declared mapped type %v",
					name, i, ev.GetType(), unmappedReason(ev), sm.Type)
				continue
			}
			covered[coverageKey(ev.GetProviderEventType(), ev.GetType())] = true
		}
		fresh, ok := normalize(name+" (second seed)", sm.Body(sampleParams(2)))
		if ok && len(fresh.Events) > 0 && fresh.Events[0].GetId() == res.Events[0].GetId() {
			fail("samples/fresh-ids", "%s: two fresh samples have one event id %s", name, res.Events[0].GetId())
		}
		fixed1, fixed2 := sampleParams(1), sampleParams(2)
		fixed1.EventID, fixed2.EventID = "fixed-event-id-1", "fixed-event-id-1"
		r1, ok1 := normalize(name+" (fixed id)", sm.Body(fixed1))
		r2, ok2 := normalize(name+" (fixed id, second seed)", sm.Body(fixed2))
		if ok1 && ok2 && len(r1.Events) > 0 && len(r2.Events) > 0 && r1.Events[0].GetId() != r2.Events[0].GetId() {
			fail("samples/fixed-id", "%s: one EventID gave two event ids %s and %s", name, r1.Events[0].GetId(), r2.Events[0].GetId())
		}
	}

	documented, err := s.DocumentedEventTypes()
	if err != nil {
		fail("samples/coverage", "%v", err)
	}
	var missing []string
	for k, golden := range documented {
		if !covered[k] {
			missing = append(missing, k.String()+" from "+golden)
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		fail("samples/coverage", "no sample for the documented event type %s", m)
	}
	return errors.Join(errs...)
}

// unmappedReason is " (reason)" for an unmapped event, else "".
func unmappedReason(ev *hooklinev1.Event) string {
	if u := ev.GetUnmapped(); u != nil {
		return " (" + u.GetReason().String() + ")"
	}
	return ""
}
