// Package registry lists every provider adapter the gateway ships. Adding a
// provider adds one line here; TestEveryProviderRegistered fails until every
// value of the Provider enum has exactly one factory.
package registry

import (
	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/finicity"
	"github.com/hookline/hookline/adapters/swyft"
	"github.com/hookline/hookline/adapters/truv"
)

// Factories returns the factory of every provider, in enum order.
func Factories() []adapters.Factory {
	return []adapters.Factory{
		truv.Factory,
		finicity.Factory,
		swyft.Factory,
	}
}

// Lookup returns the factory whose name or alias is name.
func Lookup(name string) (adapters.Factory, bool) {
	for _, f := range Factories() {
		if f.Name == name {
			return f, true
		}
		for _, a := range f.Aliases {
			if a == name {
				return f, true
			}
		}
	}
	return adapters.Factory{}, false
}
