// Package hookline holds what every part of the gateway shares and nothing
// else: the canonical names of providers, and the generated OpenAPI
// document the binaries embed. It imports only the generated contract.
package hookline

import (
	"strings"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// ProviderName is a provider's canonical name: `truv`, `finicity`,
// `swyft`. It is the provider's name in webhook URLs and configuration, its
// token in the event log's subjects, and part of every event's
// de-duplication key, so it never changes for a provider once released.
func ProviderName(p hooklinev1.Provider) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PROVIDER_"))
}
