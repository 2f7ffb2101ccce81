// Package adapters defines the contract between the gateway and its webhook
// providers, the way database/sql/driver defines it for SQL drivers.
//
// An Adapter turns one raw delivery (headers plus the exact body bytes) into
// zero or more normalized hooklinev1.Event values. Adapters are pure: they do
// no I/O, keep no state between calls and are safe for concurrent use. The
// same delivery always yields the same events with the same ids.
//
// Each provider lives in its own sub-package (adapters/truv,
// adapters/finicity, adapters/swyft) and imports only this package and the
// generated contract; it never imports the server, the event log or another
// provider. adapters/registry lists them. Provider authors: follow
// adapters/README.md (rules, required tests, checklist).
package adapters

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// Sentinel errors an Adapter returns (wrapped in *Error). The server maps
// them to HTTP statuses: ErrUnauthenticated → 401, ErrMalformed → 400,
// ErrUnsupportedMediaType → 415.
var (
	// ErrUnauthenticated means the signature or credential is missing,
	// malformed or does not match any configured secret.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrMalformed means the body is not a well-formed payload of the
	// provider (not JSON, not an object, wrong type of a required field).
	ErrMalformed = errors.New("malformed payload")
	// ErrUnsupportedMediaType means the Content-Type is not one the provider
	// sends.
	ErrUnsupportedMediaType = errors.New("unsupported media type")
)

// Error carries a sentinel Kind and a reason safe to show to the caller: it
// never contains secrets, signatures or payload values.
type Error struct {
	// Kind is one of the sentinel errors above.
	Kind error
	// Reason explains the failure in a short phrase.
	Reason string
}

// Error implements error.
func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Reason }

// Unwrap lets errors.Is match the Kind.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf returns an *Error of the given kind with a formatted reason.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// Delivery is one raw webhook delivery as received over HTTP.
type Delivery struct {
	// Header holds the request headers.
	Header http.Header
	// Body holds the exact request body bytes. Adapters never modify it.
	Body []byte
	// ReceiveTime is when the gateway received the delivery.
	ReceiveTime time.Time
	// ID identifies the delivery (the HTTP request id).
	ID string
}

// Result is what an Adapter makes of one delivery.
type Result struct {
	// Events are the normalized events, in the order the delivery lists
	// them. Sequence is left zero; the event log assigns it.
	Events []*hooklinev1.Event
	// Ping is true for a liveness probe (Finicity `ping`): the server
	// answers 2xx and stores nothing.
	Ping bool
}

// Adapter verifies and normalizes deliveries from one source of one provider.
// Implementations are safe for concurrent use.
type Adapter interface {
	// Provider names the provider this adapter speaks for.
	Provider() hooklinev1.Provider
	// Verify authenticates the delivery over the raw body bytes, comparing in
	// constant time against every configured secret. It returns an error
	// wrapping ErrUnauthenticated on failure. It does not parse the body.
	Verify(d *Delivery) error
	// Normalize parses a verified delivery. Unknown event types and statuses
	// are not errors: they yield unmapped events or UNKNOWN enum values with
	// the raw delivery kept. Errors wrap ErrMalformed or
	// ErrUnsupportedMediaType.
	Normalize(d *Delivery) (Result, error)
}

// Config configures one source (one provider account) of an adapter.
type Config struct {
	// Source names the source; it becomes Event.source. Required.
	Source string
	// Secrets are the keys or credentials a delivery may be authenticated
	// with. Several are accepted at once so that secrets can be rotated
	// without downtime.
	Secrets [][]byte
	// AllowUnauthenticated accepts deliveries without checking any secret,
	// when no secret is configured (see Unauthenticated). It must be set
	// explicitly; an adapter given no secrets and no AllowUnauthenticated
	// refuses to start.
	AllowUnauthenticated bool
	// Options holds provider-specific settings; each provider documents its
	// keys and rejects keys it does not know.
	Options map[string]string
}

// Unauthenticated is the one rule every adapter applies: a source accepts
// deliveries without verifying them only when it allows it explicitly and
// has no secret. With secrets, AllowUnauthenticated changes nothing.
func (c Config) Unauthenticated() bool { return c.AllowUnauthenticated && len(c.Secrets) == 0 }

// Factory builds adapters for one provider.
type Factory struct {
	// Provider is the provider the adapters speak for.
	Provider hooklinev1.Provider
	// Name is the provider's name in webhook URLs and configuration.
	Name string
	// Aliases are other accepted names (for example `mastercard`).
	Aliases []string
	// New builds an adapter for one source.
	New func(Config) (Adapter, error)
	// MappingVersion is the version of the provider's mapping, at least 1:
	// raised whenever Normalize's output for some delivery changes (a new
	// event type or status mapped, a field read differently). Every event
	// records the version that produced it, and AdminService.Reprocess
	// re-normalizes stored deliveries of older versions. adaptertest fails
	// when the goldens change and the version does not.
	MappingVersion uint32
	// Sign authenticates a body the way the provider does (see SignFunc).
	// Required: `hookline send` signs with it and adaptertest checks that
	// New's adapters verify what it produces.
	Sign SignFunc
	// Samples returns one built-in example delivery of every event type the
	// provider documents (see Sample), for `hookline send`. Required;
	// adaptertest checks their coverage against the provider's fixtures.
	Samples func() []Sample
}

// ErrNoSecrets is returned by Factory.New when a source has neither secrets
// nor AllowUnauthenticated.
var ErrNoSecrets = errors.New("no secrets configured and unauthenticated access not explicitly allowed")

// CheckConfig validates the parts of Config every provider shares and the
// option keys the provider accepts.
func CheckConfig(cfg Config, knownOptions ...string) error {
	if cfg.Source == "" {
		return errors.New("source name is empty")
	}
	if len(cfg.Secrets) == 0 && !cfg.AllowUnauthenticated {
		return fmt.Errorf("source %q: %w", cfg.Source, ErrNoSecrets)
	}
	for i, s := range cfg.Secrets {
		if len(s) == 0 {
			return fmt.Errorf("source %q: secret %d is empty", cfg.Source, i)
		}
	}
next:
	for k := range cfg.Options {
		for _, known := range knownOptions {
			if k == known {
				continue next
			}
		}
		return fmt.Errorf("source %q: unknown option %q (known: %v)", cfg.Source, k, knownOptions)
	}
	return nil
}
