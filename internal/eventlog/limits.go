package eventlog

import (
	"fmt"
)

// Size limits.
//
// An event carries the raw delivery body next to its normalized fields,
// which copy parts of the body (ids, statuses, accounts), so an event can
// be up to about twice its body. The embedded server's max payload is sized
// for that (PayloadFor). An external cluster's max_payload is the
// operator's: Open refuses one that cannot hold even the body at the cap
// with the envelope (MinPayloadFor), and an event that does not fit in the
// limit of the server at hand is refused with a *TooLargeError before it is
// sent (the server would otherwise answer an error on every retry).
const (
	// DefaultMaxBodyBytes is the default cap on a delivery's body: 1 MiB.
	DefaultMaxBodyBytes = 1 << 20
	// MaxBodyBytesLimit is the largest body cap the log supports: an event
	// twice that size plus its envelope must fit in NATS's 64 MiB limit of
	// pending bytes per connection.
	MaxBodyBytesLimit = 16 << 20
	// envelopeReserve is room for an event's envelope, the normalized
	// fields beyond a copy of the body, and the message headers.
	envelopeReserve = 64 << 10
	// headerReserve is room for the message headers an append sends
	// (Nats-Msg-Id, Nats-Expected-Stream) and the protocol's framing.
	headerReserve = 256
	// defaultMaxPending is nats-server's default outbound buffer per client.
	defaultMaxPending = 64 << 20
)

// PayloadFor is the max payload the embedded server is given for a body
// cap: room for the body twice (raw and normalized) and the envelope.
func PayloadFor(maxBody int64) int64 { return 2*maxBody + envelopeReserve }

// MinPayloadFor is the smallest max_payload of an external cluster Open
// accepts for a body cap: the raw body at the cap and the envelope.
func MinPayloadFor(maxBody int64) int64 { return maxBody + envelopeReserve }

func checkBodyLimit(maxBody int64) error {
	if maxBody > MaxBodyBytesLimit {
		return fmt.Errorf("max body size %d is larger than the log supports (%d)", maxBody, MaxBodyBytesLimit)
	}
	return nil
}

// TooLargeError refuses an event larger than the server's max payload. It
// is the client's input that is too large, so retrying cannot help.
type TooLargeError struct {
	// Size is the event's size in bytes, with its message headers.
	Size int64
	// Limit is the server's max payload.
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the stored event would be %d bytes, more than the event store's limit of %d bytes", e.Size, e.Limit)
}

// MaxPayload returns the largest message the NATS server accepts: the
// largest event Append can store, and the largest a reader may receive.
func (l *Log) MaxPayload() int64 { return l.maxPayload }

// followBufferBytes is how many bytes the log follower asks the server for
// at once: enough for many small events, and always more than one event of
// the largest size (a pull asking for less than one message would stall).
func (l *Log) followBufferBytes() int {
	return int(max(8<<20, 2*l.maxPayload+headerReserve))
}

// readBatch is how many events a Read asks the server for at once. (A
// pull limited by bytes alone makes the client allocate a buffer for a
// million messages per reader.)
const readBatch = 1024

// readBufferBytes is the same for a Read, of which there is one per
// subscriber catching up: smaller, because a subscriber that stops reading
// keeps its buffer full for as long as it stays connected. It still holds
// one event of the largest size.
func (l *Log) readBufferBytes() int {
	return int(max(1<<20, l.maxPayload+headerReserve))
}
