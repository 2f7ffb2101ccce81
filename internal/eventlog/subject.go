package eventlog

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/hookline/hookline"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// Subjects are laid out so that a consumer can filter on any combination of
// provider, event kind, event type and subject key with NATS wildcards:
//
//	<prefix>.<provider>.<kind>.<type>.<key>
//
// for example `hookline.ev.truv.order.order_status_changed.~3fa`. kind is
// `order`, `session` or `unmapped`; type is the EventType name without its
// prefix, lower case; key is the event subject's bucket (BucketToken): `~`
// and three hex digits of the key's SHA-256, one of 4 096.
//
// The key is bucketed rather than written out because JetStream keeps state
// for every distinct subject for as long as it holds one of its messages:
// one subject per order or session grew the store's memory (and, embedded,
// the gateway's heap and the collector's work) with every new order, by
// about 130 bytes, and slowed appends as the subjects grew into the
// millions (BENCHMARKS.md, BenchmarkDistinctSubjects). With buckets the
// distinct subjects are bounded by providers × types × 4 096 whatever the
// traffic. A filter on a key reads its bucket, a 4 096th of the events of
// its type, and readers re-check the key on each event (they always did).
//
// Events stored before the buckets carry the key itself (KeyToken: escaped,
// and over MaxKeyTokenBytes a prefix and a hash), so a filter on a key
// also names that subject (FilterSubjects) until retention has dropped
// them. Every token is bounded, so no input can make a subject longer than
// the server accepts (a subject goes into the protocol's control line, 4 KiB
// at most, and into the API subject of a consumer with one filter). The
// full key stays in the event.

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

// ProviderToken returns the subject token of a provider: its canonical
// name (`truv`, ...).
func ProviderToken(p hooklinev1.Provider) string { return hookline.ProviderName(p) }

// TypeToken returns the subject token of an event type
// (`order_status_changed`, ...).
func TypeToken(t hooklinev1.EventType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "EVENT_TYPE_"))
}

// Subject returns the full NATS subject an event is stored under.
func Subject(prefix string, ev *hooklinev1.Event) string {
	return prefix + "." + ProviderToken(ev.GetProvider()) + "." + Kind(ev) + "." +
		TypeToken(ev.GetType()) + "." + BucketToken(ev.GetSubject())
}

// BucketToken is the subject token of a key: `~` and the first three hex
// digits of the key's SHA-256. No KeyToken starts with `~`, so a bucket
// never names a subject of the earlier layout.
func BucketToken(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "~" + hex.EncodeToString(sum[:2])[:3]
}

// FilterSubjects returns the filter subjects that select events of the
// provider, kind, type and key given (an empty argument matches any): the
// key's bucket, and, for events stored before the buckets, the key's own
// token. Readers must re-check the key: a bucket holds other keys too.
func FilterSubjects(prefix, provider, kind, typ, key string) []string {
	star := func(s string) string {
		if s == "" {
			return "*"
		}
		return s
	}
	base := prefix + "." + star(provider) + "." + star(kind) + "." + star(typ) + "."
	if key == "" {
		return []string{base + "*"}
	}
	return []string{base + BucketToken(key), base + KeyToken(key)}
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
