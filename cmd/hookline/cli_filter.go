package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/hookline/hookline/adapters/registry"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// filterFlags are the EventFilter of tail and events list, one repeatable
// flag per field.
type filterFlags struct {
	orderIDs, sessionKeys, eventTypes, providers stringList
	excludeSuperseded                            bool
}

func addFilterFlags(fs *flag.FlagSet) *filterFlags {
	f := &filterFlags{}
	fs.Var(&f.orderIDs, "order-id", "only events of this order `id` (repeatable: any of them)")
	fs.Var(&f.sessionKeys, "session-key", "only events of this session `key` (repeatable; with --order-id: either)")
	fs.Var(&f.eventTypes, "event-type", "only events of this unified `type`, e.g. SESSION_COMPLETED or EVENT_TYPE_SESSION_COMPLETED (repeatable)")
	fs.Var(&f.providers, "provider", "only events of this `provider`: truv, finicity (mastercard) or swyft (repeatable)")
	fs.BoolVar(&f.excludeSuperseded, "exclude-superseded", false, "leave out events a corrected event supersedes (see hookline reprocess)")
	return f
}

// filter builds the request's filter; unknown type and provider names are
// usage errors that list the known ones.
func (f *filterFlags) filter() (*hooklinev1.EventFilter, error) {
	out := &hooklinev1.EventFilter{OrderIds: f.orderIDs, SessionKeys: f.sessionKeys, ExcludeSuperseded: f.excludeSuperseded}
	for _, t := range f.eventTypes {
		v, err := parseEventType(t)
		if err != nil {
			return nil, err
		}
		out.EventTypes = append(out.EventTypes, v)
	}
	for _, p := range f.providers {
		fac, ok := registry.Lookup(strings.ToLower(strings.TrimPrefix(strings.ToUpper(p), "PROVIDER_")))
		if !ok {
			return nil, usageErrorf("--provider %q: unknown provider (known: %s)", p, strings.Join(providerNames(), ", "))
		}
		out.Providers = append(out.Providers, fac.Provider)
	}
	return out, nil
}

// args returns the filter as flags, for the resume hint.
func (f *filterFlags) args() []string {
	var out []string
	for _, l := range []struct {
		name string
		vs   []string
	}{{"--order-id", f.orderIDs}, {"--session-key", f.sessionKeys}, {"--event-type", f.eventTypes}, {"--provider", f.providers}} {
		for _, v := range l.vs {
			out = append(out, l.name, shellQuote(v))
		}
	}
	if f.excludeSuperseded {
		out = append(out, "--exclude-superseded")
	}
	return out
}

// parseEventType accepts SESSION_COMPLETED, EVENT_TYPE_SESSION_COMPLETED
// and either in lower case (`-` for `_` too).
func parseEventType(s string) (hooklinev1.EventType, error) {
	name := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	if !strings.HasPrefix(name, "EVENT_TYPE_") {
		name = "EVENT_TYPE_" + name
	}
	v, ok := hooklinev1.EventType_value[name]
	if !ok || v == 0 {
		var known []string
		values := hooklinev1.EventType(0).Descriptor().Values()
		for i := range values.Len() {
			if d := values.Get(i); d.Number() != 0 {
				known = append(known, strings.TrimPrefix(string(d.Name()), "EVENT_TYPE_"))
			}
		}
		return 0, usageErrorf("--event-type %q: unknown event type (known: %s)", s, strings.Join(known, ", "))
	}
	return hooklinev1.EventType(v), nil
}

// providerNames lists the provider names and aliases.
func providerNames() []string {
	var out []string
	for _, f := range registry.Factories() {
		out = append(out, f.Name)
		out = append(out, f.Aliases...)
	}
	return out
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@+,%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// describeFilter is a short human description of a filter, for messages.
func describeFilter(f *hooklinev1.EventFilter) string {
	var parts []string
	add := func(name string, n int) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, name))
		}
	}
	add("order id(s)", len(f.GetOrderIds()))
	add("session key(s)", len(f.GetSessionKeys()))
	add("event type(s)", len(f.GetEventTypes()))
	add("provider(s)", len(f.GetProviders()))
	if len(parts) == 0 {
		return "all events"
	}
	return "events matching " + strings.Join(parts, ", ")
}
