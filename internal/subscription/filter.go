package subscription

import (
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
)

// Filter bounds: each list holds at most MaxFilterValues values, and each
// order id or session key at most MaxFilterValueBytes bytes. An id longer
// than that (no provider issues one) is still stored, and readable with
// GetOrder/GetSession or by a filter on provider or type.
const (
	MaxFilterValues     = 1000
	MaxFilterValueBytes = 1024
)

// maxFilterSubjects caps the NATS filter subjects built from one filter;
// beyond it the read uses broader subjects and filters in process.
const maxFilterSubjects = 64

// ValidateFilter returns an *InvalidArgumentError for a filter beyond the
// bounds, with an empty id, or with an unknown enum value: none of them may
// become a silent match-all.
func ValidateFilter(f *hooklinev1.EventFilter) error {
	for _, l := range []struct {
		name string
		n    int
	}{{"order_ids", len(f.GetOrderIds())}, {"session_keys", len(f.GetSessionKeys())},
		{"event_types", len(f.GetEventTypes())}, {"providers", len(f.GetProviders())}} {
		if l.n > MaxFilterValues {
			return invalidArgument("filter.%s: %d values; at most %d are allowed", l.name, l.n, MaxFilterValues)
		}
	}
	for _, l := range []struct {
		name string
		vs   []string
	}{{"order_ids", f.GetOrderIds()}, {"session_keys", f.GetSessionKeys()}} {
		for _, v := range l.vs {
			switch {
			case v == "":
				// No order or session has an empty id; and an empty one
				// would become a wildcard NATS filter subject that overlaps
				// the others.
				return invalidArgument("filter.%s: empty value", l.name)
			case len(v) > MaxFilterValueBytes:
				return invalidArgument("filter.%s: a value of %d bytes; values are at most %d bytes", l.name, len(v), MaxFilterValueBytes)
			}
		}
	}
	for _, t := range f.GetEventTypes() {
		if _, ok := hooklinev1.EventType_name[int32(t)]; !ok || t == hooklinev1.EventType_EVENT_TYPE_UNSPECIFIED {
			return invalidArgument("filter.event_types: unknown value %d", t)
		}
	}
	for _, p := range f.GetProviders() {
		if _, ok := hooklinev1.Provider_name[int32(p)]; !ok || p == hooklinev1.Provider_PROVIDER_UNSPECIFIED {
			return invalidArgument("filter.providers: unknown value %d", p)
		}
	}
	return nil
}

// FilterSubjects turns an API filter into NATS filter subjects, so the log
// sends only candidate events. Too many combinations fall back to broader
// subjects; callers always re-check with fanout.Filter.Match.
func FilterSubjects(prefix string, f *hooklinev1.EventFilter) []string {
	provs := []string{""}
	if ps := f.GetProviders(); len(ps) > 0 {
		provs = provs[:0]
		for _, p := range dedupe(ps) {
			provs = append(provs, eventlog.ProviderToken(p))
		}
	}
	types := []string{""}
	if ts := f.GetEventTypes(); len(ts) > 0 {
		types = types[:0]
		for _, t := range dedupe(ts) {
			types = append(types, eventlog.TypeToken(t))
		}
	}
	type kk struct{ kind, key string }
	keys := []kk{{}}
	if len(f.GetOrderIds())+len(f.GetSessionKeys()) > 0 {
		keys = keys[:0]
		for _, k := range dedupe(f.GetOrderIds()) {
			keys = append(keys, kk{"order", k})
		}
		for _, k := range dedupe(f.GetSessionKeys()) {
			keys = append(keys, kk{"session", k})
		}
	}
	perKey := 1
	if keys[0].kind != "" {
		perKey = 2 // the key's bucket, and its subject before the buckets
	}
	for len(provs)*len(types)*len(keys)*perKey > maxFilterSubjects {
		switch {
		case len(types) > 1:
			types = []string{""}
		case len(provs) > 1:
			provs = []string{""}
		default:
			return nil
		}
	}
	if len(provs) == 1 && provs[0] == "" && len(types) == 1 && types[0] == "" && len(keys) == 1 && keys[0].kind == "" {
		return nil
	}
	out := make([]string, 0, len(provs)*len(types)*len(keys)*perKey)
	for _, p := range provs {
		for _, t := range types {
			for _, k := range keys {
				out = append(out, eventlog.FilterSubjects(prefix, p, k.kind, t, k.key)...)
			}
		}
	}
	// Keys that share a bucket give one subject twice; JetStream refuses
	// overlapping filters.
	return dedupe(out)
}

func dedupe[T comparable](vs []T) []T {
	seen := make(map[T]struct{}, len(vs))
	out := vs[:0:0]
	for _, v := range vs {
		if _, ok := seen[v]; !ok {
			seen[v] = struct{}{}
			out = append(out, v)
		}
	}
	return out
}
