package registry

import (
	"testing"

	"github.com/hookline/hookline"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

func TestEveryProviderRegistered(t *testing.T) {
	seen := map[hooklinev1.Provider]int{}
	names := map[string]bool{}
	for _, f := range Factories() {
		seen[f.Provider]++
		for _, n := range append([]string{f.Name}, f.Aliases...) {
			if names[n] {
				t.Errorf("name %q is used twice", n)
			}
			names[n] = true
		}
		if f.New == nil || f.Sign == nil || f.Samples == nil {
			t.Errorf("%s: New, Sign and Samples are all required (New nil: %v, Sign nil: %v, Samples nil: %v)",
				f.Name, f.New == nil, f.Sign == nil, f.Samples == nil)
		}
		// The name is part of every subject and de-duplication key.
		if want := hookline.ProviderName(f.Provider); f.Name != want {
			t.Errorf("%s: Name %q, want the provider's canonical name %q", f.Provider, f.Name, want)
		}
	}
	for v, name := range hooklinev1.Provider_name {
		p := hooklinev1.Provider(v)
		if p == hooklinev1.Provider_PROVIDER_UNSPECIFIED {
			continue
		}
		if seen[p] != 1 {
			t.Errorf("%s has %d registered factories, want 1", name, seen[p])
		}
	}
}

func TestLookupAliases(t *testing.T) {
	for _, name := range []string{"truv", "finicity", "mastercard", "swyft"} {
		if _, ok := Lookup(name); !ok {
			t.Errorf("Lookup(%q) failed", name)
		}
	}
	if _, ok := Lookup("stripe"); ok {
		t.Error("Lookup(stripe) succeeded")
	}
	if f, _ := Lookup("mastercard"); f.Name != "finicity" {
		t.Errorf("Lookup(mastercard) = %q, want finicity", f.Name)
	}
}
