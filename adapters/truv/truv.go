// Package truv is the webhook adapter for Truv (income and employment
// verification orders, Bridge tasks, links and data notifications).
//
// Truv signs every delivery with the header X-Webhook-Sign:
// "v1=" followed by the lower-case hex HMAC-SHA256 of the raw body, keyed with
// the account's API secret. Every delivery is one JSON object naming its
// event in event_type; see README.md for the mapping.
package truv

import (
	"strings"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// SignatureHeader is the header that carries Truv's signature.
const SignatureHeader = "X-Webhook-Sign"

// signaturePrefix precedes the hex digest in SignatureHeader. It is matched
// case-insensitively.
const signaturePrefix = "v1="

// Factory builds Truv adapters. Truv takes no source options.
var Factory = adapters.Factory{
	MappingVersion: 1,
	Provider:       hooklinev1.Provider_PROVIDER_TRUV,
	Name:           "truv",
	New:            newAdapter,
	Sign:           Sign,
	Samples:        Samples,
}

type adapter struct {
	source          string
	keys            *adapters.HMACKeys
	unauthenticated bool
}

func newAdapter(cfg adapters.Config) (adapters.Adapter, error) {
	if err := adapters.CheckConfig(cfg); err != nil {
		return nil, err
	}
	return &adapter{
		source:          cfg.Source,
		keys:            adapters.NewHMACKeys(cfg.Secrets),
		unauthenticated: cfg.Unauthenticated(),
	}, nil
}

// Provider implements adapters.Adapter.
func (a *adapter) Provider() hooklinev1.Provider { return hooklinev1.Provider_PROVIDER_TRUV }

// Verify implements adapters.Adapter: X-Webhook-Sign must be "v1=" (any
// case) and the hex HMAC-SHA256 of the raw body (any case, surrounding
// whitespace ignored) under one of the configured secrets.
func (a *adapter) Verify(d *adapters.Delivery) error {
	if a.unauthenticated {
		return nil
	}
	v := strings.TrimSpace(d.Header.Get(SignatureHeader))
	if v == "" {
		return adapters.Errorf(adapters.ErrUnauthenticated, "missing %s header", SignatureHeader)
	}
	if len(v) < len(signaturePrefix) || !strings.EqualFold(v[:len(signaturePrefix)], signaturePrefix) {
		return adapters.Errorf(adapters.ErrUnauthenticated, "%s does not start with v1=", SignatureHeader)
	}
	sig, ok := adapters.DecodeHexSignature(v[len(signaturePrefix):])
	if !ok {
		return adapters.Errorf(adapters.ErrUnauthenticated, "%s is not a hex HMAC-SHA256 digest", SignatureHeader)
	}
	if !a.keys.Verify(d.Body, sig) {
		return adapters.Errorf(adapters.ErrUnauthenticated, "signature does not match")
	}
	return nil
}
