package eventlog

import (
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
		TypeToken(ev.GetType()) + "." + EscapeToken(ev.GetSubject())
}

// FilterSubject builds a filter subject; an empty argument becomes `*`.
// key is escaped.
func FilterSubject(prefix, provider, kind, typ, key string) string {
	star := func(s string) string {
		if s == "" {
			return "*"
		}
		return s
	}
	k := "*"
	if key != "" {
		k = EscapeToken(key)
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

func isPlain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
