package eventlog

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// Subjects are laid out so that a consumer can filter on any combination of
// provider, event kind, event type and subject key with NATS wildcards:
//
//	<prefix>.<provider>.<kind>.<type>.<key>
//
// for example `hookline.ev.truv.order.order_status_changed.ddd1926...`.
// kind is `order`, `session` or `unmapped`; type is the EventType name
// without its prefix, lower case; key is the event subject escaped with
// EscapeToken.
//
// Every token is bounded, so no input can make a subject longer than the
// server accepts (a subject goes into the protocol's control line, 4 KiB at
// most, and into the API subject of a consumer with one filter): a key
// whose escaped form is longer than MaxKeyTokenBytes keeps a plain prefix
// and a hash of the whole key. The full key stays in the event; readers
// that filter by key re-check it on the event.

// Token bounds.
const (
	// MaxKeyTokenBytes is the longest key token of a subject.
	MaxKeyTokenBytes = 64
	// MaxSubjectBytes bounds a whole subject with the default prefix: the
	// prefix, provider, kind and type tokens are short and fixed, the key
	// token is at most MaxKeyTokenBytes.
	MaxSubjectBytes = 200
	// keyHashHex is how many hex digits of the key's SHA-256 a long key's
	// token ends with (128 bits).
	keyHashHex = 32
)

// Kind returns the subject kind of an event: "order", "session" or
// "unmapped".
func Kind(ev *hooklinev1.Event) string {
	switch ev.GetBody().(type) {
	case *hooklinev1.Event_Order:
		return "order"
	case *hooklinev1.Event_Session:
		return "session"
	default:
		return "unmapped"
	}
}

// ProviderToken returns the subject token of a provider (`truv`, ...).
func ProviderToken(p hooklinev1.Provider) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PROVIDER_"))
}

// TypeToken returns the subject token of an event type
// (`order_status_changed`, ...).
func TypeToken(t hooklinev1.EventType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "EVENT_TYPE_"))
}

// Subject returns the full NATS subject an event is stored under.
func Subject(prefix string, ev *hooklinev1.Event) string {
	return prefix + "." + ProviderToken(ev.GetProvider()) + "." + Kind(ev) + "." +
		TypeToken(ev.GetType()) + "." + KeyToken(ev.GetSubject())
}

// FilterSubject builds a filter subject; an empty argument becomes `*`.
// key becomes its KeyToken.
func FilterSubject(prefix, provider, kind, typ, key string) string {
	star := func(s string) string {
		if s == "" {
			return "*"
		}
		return s
	}
	k := "*"
	if key != "" {
		k = KeyToken(key)
	}
	return prefix + "." + star(provider) + "." + star(kind) + "." + star(typ) + "." + k
}

const hexDigits = "0123456789ABCDEF"

// EscapeToken turns any string into a single valid NATS subject token.
// Letters, digits, `-` and `_` pass through; every other byte (including
// `.`, `*`, `>`, `%`, spaces and non-ASCII) becomes `%XX`. The empty string
// becomes `%` alone, which no escaped non-empty string can produce. The
// mapping is injective, so distinct ids never share a subject.
func EscapeToken(s string) string {
	if s == "" {
		return "%"
	}
	plain := true
	for i := 0; i < len(s); i++ {
		if !isPlain(s[i]) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isPlain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}

// KeyToken is the bounded subject token of a key: EscapeToken(key) when it
// has at most MaxKeyTokenBytes, else the first bytes of it, `~` and 32 hex
// digits of the key's SHA-256. Escaped tokens never contain `~`, so the two
// forms never meet; distinct keys share a token only if their hashes
// collide.
func KeyToken(key string) string {
	t := EscapeToken(key)
	if len(t) <= MaxKeyTokenBytes {
		return t
	}
	sum := sha256.Sum256([]byte(key))
	keep := MaxKeyTokenBytes - 1 - keyHashHex
	// Do not cut an escape sequence in two: it would still be unique (the
	// hash is), but harder to read.
	if i := strings.LastIndexByte(t[:keep], '%'); i >= keep-2 {
		keep = i
	}
	return t[:keep] + "~" + hex.EncodeToString(sum[:])[:keyHashHex]
}

func isPlain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
