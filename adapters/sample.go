package adapters

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// Sample is a built-in example delivery of one event type a provider
// documents, the way the provider would send it. `hookline send` posts
// samples to a gateway; adaptertest checks that a provider's samples cover
// every event type its fixtures document, verify under the provider's Sign
// and normalize to a mapped event of the declared Type.
//
// A Sample is a value: its Body func is pure (no I/O, no clock, no
// randomness of its own) and safe for concurrent use.
type Sample struct {
	// Name identifies the sample within its provider, as typed after
	// `hookline send PROVIDER`: the provider's own event type
	// (`order-status-updated`, `institutionSupported`,
	// `order_status_change`), qualified when one event type has several
	// shapes (Finicity's report callbacks: `report_done`). Names are unique
	// within a provider, ignoring case.
	Name string
	// Description says in one line what the event means.
	Description string
	// Type is the unified event type the sample normalizes to; it is
	// EVENT_TYPE_UNSPECIFIED for a Ping.
	Type hooklinev1.EventType
	// Ping is true for a liveness probe (Finicity `ping`): the gateway
	// answers it and stores nothing.
	Ping bool
	// Body returns the delivery body with the event id, the other ids and
	// the time taken from p. The same p gives the same bytes.
	Body func(p SampleParams) []byte
}

// SampleParams is what differs between two deliveries of one Sample.
type SampleParams struct {
	// EventID is the provider event id to write into the body (Truv
	// `webhook_id`, Finicity `eventId` or report `id`, Swyft `event_id`).
	// Empty: the provider derives one in its own format from Seed. A fixed
	// EventID makes the gateway treat a second delivery as a retry of the
	// first (a duplicate), whatever the Seed.
	EventID string
	// Seed is the randomness every other id of the body (order ids, task
	// ids, customer ids...) is derived from: two seeds give two different
	// orders or sessions; one seed gives the same ids every time.
	Seed [16]byte
	// Time is when the event happened; the provider writes it in its own
	// timestamp formats.
	Time time.Time
}

// derive returns the SHA-256 of the seed and label.
func (p SampleParams) derive(label string) [32]byte {
	h := sha256.New()
	h.Write(p.Seed[:])
	h.Write([]byte{0})
	h.Write([]byte(label))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Hex returns n (at most 64) lower-case hex digits derived from the seed
// and label: one label names one id (an order id written in several places
// stays one id), different labels or seeds give different ids.
func (p SampleParams) Hex(label string, n int) string {
	sum := p.derive(label)
	return hex.EncodeToString(sum[:])[:min(n, 64)]
}

// Digits returns n (at most 32) decimal digits derived from the seed and
// label, the first of which is not zero.
func (p SampleParams) Digits(label string, n int) string {
	sum := p.derive(label)
	n = min(n, len(sum))
	out := make([]byte, n)
	for i := range out {
		out[i] = '0' + sum[i]%10
	}
	if n > 0 && out[0] == '0' {
		out[0] = '1' + sum[0]%9
	}
	return string(out)
}

// UUID returns a random-form (version 4) UUID derived from the seed and
// label.
func (p SampleParams) UUID(label string) string {
	sum := p.derive(label)
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	h := hex.EncodeToString(sum[:16])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// ReplaceJSONStrings returns a copy of body in which every JSON string
// whose raw text (between the quotes, as written) is a key of repl is
// replaced by the JSON string of its value. Object keys are strings too,
// so repl should hold values, such as ids, that are never keys. Everything
// else, layout included, is kept byte for byte. body need not be valid
// JSON; a string left open at the end is copied as it is.
func ReplaceJSONStrings(body []byte, repl map[string]string) []byte {
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		if body[i] != '"' {
			out = append(out, body[i])
			i++
			continue
		}
		end := i + 1
		for end < len(body) && body[end] != '"' {
			if body[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(body) {
			return append(out, body[i:]...)
		}
		if v, ok := repl[string(body[i+1:end])]; ok {
			lit, _ := json.Marshal(v) // a string always marshals
			out = append(out, lit...)
		} else {
			out = append(out, body[i:end+1]...)
		}
		i = end + 1
	}
	return out
}

// SignFunc sets on h the headers that authenticate body with secret
// exactly the way the provider does it (for Swyft, which signs nothing,
// the secret is the whole Authorization value). It is what `hookline send`
// signs with; the provider's Verify must accept what it produces.
type SignFunc func(h http.Header, body, secret []byte)
