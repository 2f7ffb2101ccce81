package adaptertest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/testing/protocmp"
)

// RunConformance runs every conformance rule against the suite's adapter and
// reports all broken rules at once.
func RunConformance(t *testing.T, s Suite) {
	t.Helper()
	if err := Check(s, s.Fixtures(t)); err != nil {
		t.Errorf("conformance failures:\n%v", err)
	}
}

// Check runs every conformance rule and returns all violations joined, or
// nil. Rules:
//
//   - config: no secrets without AllowUnauthenticated is refused; unknown
//     options are refused;
//   - every fixture signed with the secret verifies;
//   - a wrong secret, each BadAuth mutation and (when SignsBody) a tampered
//     body fail with ErrUnauthenticated;
//   - rotation: with two secrets configured, either verifies;
//   - malformed bodies (truncated, empty, not an object) fail Normalize with
//     ErrMalformed;
//   - an unknown event type yields one unmapped event and no error;
//   - Normalize is deterministic, and two sources give different ids;
//   - every event satisfies the invariants (see Invariants);
//   - the provider's Sign and Samples keep the rules of CheckSamples.
func Check(s Suite, fixtures []Fixture) error {
	var errs []error
	fail := func(rule, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", rule, fmt.Sprintf(format, args...)))
	}

	if _, err := s.Factory.New(adapters.Config{Source: "test", Options: s.Options}); !errors.Is(err, adapters.ErrNoSecrets) {
		fail("config/no-secrets", "New without secrets = %v, want ErrNoSecrets", err)
	}
	if _, err := s.Factory.New(adapters.Config{Source: "test", Secrets: [][]byte{Secret}, Options: map[string]string{"no_such_option": "x"}}); err == nil {
		fail("config/unknown-option", "New with an unknown option succeeded")
	}
	a, err := s.Factory.New(adapters.Config{Source: "test", Secrets: [][]byte{Secret}, Options: s.Options})
	if err != nil {
		return fmt.Errorf("config/valid: New: %w", err)
	}
	if a.Provider() != s.Factory.Provider {
		fail("provider", "Provider() = %v, want %v", a.Provider(), s.Factory.Provider)
	}
	old, next := []byte("old-secret-aaaaaaaa"), []byte("new-secret-bbbbbbbb")
	rotated, err := s.Factory.New(adapters.Config{Source: "test", Secrets: [][]byte{old, next}, Options: s.Options})
	if err != nil {
		return fmt.Errorf("config/rotation: New: %w", err)
	}
	other, err := s.Factory.New(adapters.Config{Source: "other", Secrets: [][]byte{Secret}, Options: s.Options})
	if err != nil {
		return fmt.Errorf("config/other-source: New: %w", err)
	}

	for _, fx := range fixtures {
		name := fx.Name
		d := s.Delivery(fx.Body, Secret, fx.Header)
		if err := a.Verify(d); err != nil {
			fail("verify/valid", "%s: %v", name, err)
			continue
		}
		if err := wantUnauth(a, s.Delivery(fx.Body, []byte("wrong-secret-cccccccc"), fx.Header)); err != nil {
			fail("verify/wrong-secret", "%s: %v", name, err)
		}
		for mname, mutate := range s.BadAuth {
			bad := s.Delivery(fx.Body, Secret, fx.Header)
			mutate(bad.Header)
			if err := wantUnauth(a, bad); err != nil {
				fail("verify/bad-auth/"+mname, "%s: %v", name, err)
			}
		}
		if s.SignsBody {
			tampered := s.Delivery(fx.Body, Secret, fx.Header)
			tampered.Body = tamper(fx.Body)
			if err := wantUnauth(a, tampered); err != nil {
				fail("verify/tampered-body", "%s: %v", name, err)
			}
		}
		for _, sec := range [][]byte{old, next} {
			if err := rotated.Verify(s.Delivery(fx.Body, sec, fx.Header)); err != nil {
				fail("verify/rotation", "%s: secret %q rejected: %v", name, sec[:3], err)
			}
		}
		if err := wantUnauth(rotated, d); err != nil {
			fail("verify/rotation-retired", "%s: %v", name, err)
		}

		r1, err1 := a.Normalize(d)
		r2, err2 := a.Normalize(s.Delivery(fx.Body, Secret, fx.Header))
		if err1 != nil || err2 != nil {
			fail("normalize/fixture", "%s: %v / %v", name, err1, err2)
			continue
		}
		if diff := cmp.Diff(r1.Events, r2.Events, protocmp.Transform()); diff != "" || r1.Ping != r2.Ping {
			fail("normalize/deterministic", "%s: two runs differ:\n%s", name, diff)
		}
		if !bytes.Equal(d.Body, fx.Body) {
			fail("normalize/body-untouched", "%s: Normalize modified the delivery body", name)
		}
		if r1.Ping && len(r1.Events) != 0 {
			fail("normalize/ping", "%s: a ping yielded %d events", name, len(r1.Events))
		}
		if !r1.Ping && len(r1.Events) == 0 {
			fail("normalize/events", "%s: no events and not a ping", name)
		}
		for _, err := range Invariants(s.Factory.Provider, "test", d, r1.Events) {
			fail("invariant", "%s: %v", name, err)
		}
		if ro, err := other.Normalize(s.Delivery(fx.Body, Secret, fx.Header)); err == nil {
			for i := range ro.Events {
				if i < len(r1.Events) && ro.Events[i].GetId() == r1.Events[i].GetId() {
					fail("normalize/source-in-id", "%s: event %d has the same id on two sources", name, i)
				}
			}
		}
	}

	if len(fixtures) > 0 {
		fx := fixtures[0]
		for bname, body := range map[string][]byte{
			"truncated":     fx.Body[:len(fx.Body)/2],
			"empty":         {},
			"array":         []byte(`[]`),
			"string":        []byte(`"x"`),
			"trailing-data": append(append([]byte{}, fx.Body...), []byte(` {}`)...),
		} {
			d := s.Delivery(body, Secret, fx.Header)
			if err := a.Verify(d); err != nil {
				fail("malformed/"+bname, "Verify of a correctly signed body failed: %v", err)
				continue
			}
			if _, err := a.Normalize(d); !errors.Is(err, adapters.ErrMalformed) {
				fail("malformed/"+bname, "Normalize = %v, want ErrMalformed", err)
			}
		}
	}

	if s.UnknownEventBody != nil {
		d := s.Delivery(s.UnknownEventBody, Secret, nil)
		res, err := a.Normalize(d)
		switch {
		case err != nil:
			fail("unknown-event-type", "Normalize = %v, want an unmapped event", err)
		case len(res.Events) != 1 || res.Events[0].GetType() != hooklinev1.EventType_EVENT_TYPE_UNMAPPED:
			fail("unknown-event-type", "got %d events (first type %v), want one EVENT_TYPE_UNMAPPED",
				len(res.Events), firstType(res.Events))
		default:
			for _, err := range Invariants(s.Factory.Provider, "test", d, res.Events) {
				fail("unknown-event-type/invariant", "%v", err)
			}
		}
	}
	if err := CheckSamples(s); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func firstType(evs []*hooklinev1.Event) hooklinev1.EventType {
	if len(evs) == 0 {
		return hooklinev1.EventType_EVENT_TYPE_UNSPECIFIED
	}
	return evs[0].GetType()
}

func wantUnauth(a adapters.Adapter, d *adapters.Delivery) error {
	err := a.Verify(d)
	if !errors.Is(err, adapters.ErrUnauthenticated) {
		return fmt.Errorf("verify returned %v, want ErrUnauthenticated", err)
	}
	return nil
}

// tamper flips one byte in the middle of the body.
func tamper(body []byte) []byte {
	out := append([]byte(nil), body...)
	if len(out) == 0 {
		return []byte("x")
	}
	i := len(out) / 2
	out[i] ^= 0x01
	return out
}

// Invariants returns every way the events of one delivery break the event
// invariants: a deterministic "evt_" id unique in the delivery, the
// adapter's provider and source, a type, a body matching the type, a subject
// for order and session events, the delivery's receive time, id and raw
// body, a dedup key, and no sequence (the log assigns it).
func Invariants(p hooklinev1.Provider, source string, d *adapters.Delivery, evs []*hooklinev1.Event) []error {
	var errs []error
	seen := map[string]bool{}
	for i, ev := range evs {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("event %d (%s): %s", i, ev.GetProviderEventType(), fmt.Sprintf(format, args...)))
		}
		if !strings.HasPrefix(ev.GetId(), "evt_") || len(ev.GetId()) != 36 {
			bad("id %q is not evt_ + 32 hex", ev.GetId())
		}
		if seen[ev.GetId()] {
			bad("id %q repeats within the delivery", ev.GetId())
		}
		seen[ev.GetId()] = true
		if ev.GetProvider() != p {
			bad("provider %v, want %v", ev.GetProvider(), p)
		}
		if ev.GetSource() != source {
			bad("source %q, want %q", ev.GetSource(), source)
		}
		if ev.GetType() == hooklinev1.EventType_EVENT_TYPE_UNSPECIFIED {
			bad("type is unspecified")
		}
		if ev.GetDedupKey() == "" {
			bad("dedup key is empty")
		}
		if ev.GetSequence() != 0 {
			bad("sequence %d set by the adapter", ev.GetSequence())
		}
		if !ev.GetReceiveTime().AsTime().Equal(d.ReceiveTime) {
			bad("receive time %v, want %v", ev.GetReceiveTime().AsTime(), d.ReceiveTime)
		}
		if ev.GetDeliveryId() != d.ID {
			bad("delivery id %q, want %q", ev.GetDeliveryId(), d.ID)
		}
		if !bytes.Equal(ev.GetRaw().GetBody(), d.Body) {
			bad("raw body is not the delivery body")
		}
		if ev.GetProviderEventType() == "" {
			bad("provider event type is empty")
		}
		isUnmapped := ev.GetType() == hooklinev1.EventType_EVENT_TYPE_UNMAPPED
		switch b := ev.GetBody().(type) {
		case *hooklinev1.Event_Order:
			if isUnmapped || !strings.HasPrefix(ev.GetType().String(), "EVENT_TYPE_ORDER_") {
				bad("order body with type %v", ev.GetType())
			}
			if ev.GetSubject() == "" || ev.GetSubject() != b.Order.GetOrderId() {
				bad("subject %q must equal the order id %q", ev.GetSubject(), b.Order.GetOrderId())
			}
		case *hooklinev1.Event_Session:
			if isUnmapped || strings.HasPrefix(ev.GetType().String(), "EVENT_TYPE_ORDER_") {
				bad("session body with type %v", ev.GetType())
			}
			if ev.GetSubject() == "" || ev.GetSubject() != b.Session.GetSessionKey() {
				bad("subject %q must equal the session key %q", ev.GetSubject(), b.Session.GetSessionKey())
			}
		case *hooklinev1.Event_Unmapped:
			if !isUnmapped {
				bad("unmapped body with type %v", ev.GetType())
			}
			if b.Unmapped.GetReason() == hooklinev1.UnmappedReason_UNMAPPED_REASON_UNSPECIFIED {
				bad("unmapped reason is unspecified")
			}
		default:
			bad("no body")
		}
	}
	return errs
}

// StandardBadAuth returns the usual header mutations for a scheme that puts
// its credential in header name: removed, emptied, garbage, and truncated.
func StandardBadAuth(names ...string) map[string]func(http.Header) {
	m := map[string]func(http.Header){
		"missing": func(h http.Header) {
			for _, n := range names {
				h.Del(n)
			}
		},
		"empty": func(h http.Header) {
			for _, n := range names {
				if h.Get(n) != "" {
					h.Set(n, "")
				}
			}
		},
		"garbage": func(h http.Header) {
			for _, n := range names {
				if h.Get(n) != "" {
					h.Set(n, "not a signature")
				}
			}
		},
		"truncated": func(h http.Header) {
			for _, n := range names {
				if v := h.Get(n); v != "" {
					h.Set(n, v[:len(v)-2])
				}
			}
		},
	}
	return m
}
