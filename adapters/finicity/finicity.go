package finicity

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// Option keys a Finicity source accepts (see the package documentation).
const (
	// OptionSessionField names the `webhookData` key whose value extends the
	// session key.
	OptionSessionField = "session_field"
	// OptionReserializeFallback enables the compact re-serialization fallback
	// of signature verification ("true" or "false", default "false").
	OptionReserializeFallback = "reserialize_fallback"
)

// Signature headers, in the order they are consulted.
const (
	// HeaderSignature is the documented signature header.
	HeaderSignature = "X-Finicity-Signature"
	// HeaderSignatureAlt is the name Mastercard's newer (AU) pages use; it is
	// consulted only when HeaderSignature is absent or empty.
	HeaderSignatureAlt = "X-Signature"
)

// Factory builds Finicity adapters: provider PROVIDER_FINICITY, name
// `finicity`, alias `mastercard`. Treat it as read-only.
var Factory = adapters.Factory{
	MappingVersion: 1,
	Provider:       hooklinev1.Provider_PROVIDER_FINICITY,
	Name:           "finicity",
	Aliases:        []string{"mastercard"},
	New:            newAdapter,
	Sign:           Sign,
	Samples:        Samples,
}

// newAdapter builds an adapter for one Finicity source. It fails when the source has
// no secrets and AllowUnauthenticated is not set, on unknown options, and on
// a `reserialize_fallback` value other than "true" or "false".
func newAdapter(cfg adapters.Config) (adapters.Adapter, error) {
	if err := adapters.CheckConfig(cfg, OptionSessionField, OptionReserializeFallback); err != nil {
		return nil, err
	}
	a := &adapter{
		source:       cfg.Source,
		keys:         adapters.NewHMACKeys(cfg.Secrets),
		unauth:       cfg.Unauthenticated(),
		sessionField: cfg.Options[OptionSessionField],
	}
	switch v, ok := cfg.Options[OptionReserializeFallback]; {
	case !ok, v == "false":
	case v == "true":
		a.reserialize = true
	default:
		return nil, fmt.Errorf("source %q: option %s must be \"true\" or \"false\", got %q",
			cfg.Source, OptionReserializeFallback, v)
	}
	return a, nil
}

// adapter is one configured Finicity source. It is immutable after New.
type adapter struct {
	source string
	keys   *adapters.HMACKeys
	// unauth is true when the source explicitly accepts unauthenticated
	// deliveries and has no secret to check.
	unauth       bool
	sessionField string
	reserialize  bool
}

var _ adapters.Adapter = (*adapter)(nil)

// Provider implements adapters.Adapter.
func (a *adapter) Provider() hooklinev1.Provider { return hooklinev1.Provider_PROVIDER_FINICITY }

// Verify implements adapters.Adapter: the signature header must hold the hex
// HMAC-SHA256 of the raw body under one of the secrets (or, with
// reserialize_fallback, of its compact form).
func (a *adapter) Verify(d *adapters.Delivery) error {
	if a.unauth {
		return nil
	}
	value := d.Header.Get(HeaderSignature)
	if value == "" {
		value = d.Header.Get(HeaderSignatureAlt)
	}
	if value == "" {
		return adapters.Errorf(adapters.ErrUnauthenticated, "missing signature header")
	}
	sig, ok := adapters.DecodeHexSignature(value)
	if !ok {
		return adapters.Errorf(adapters.ErrUnauthenticated, "malformed signature")
	}
	if a.keys.Verify(d.Body, sig) {
		return nil
	}
	if a.reserialize {
		var compact bytes.Buffer
		if err := json.Compact(&compact, d.Body); err == nil &&
			!bytes.Equal(compact.Bytes(), d.Body) &&
			a.keys.Verify(compact.Bytes(), sig) {
			return nil
		}
	}
	return adapters.Errorf(adapters.ErrUnauthenticated, "signature does not match")
}
