package adapters

import (
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"strconv"
	"strings"

	"github.com/hookline/hookline"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DedupKey returns the key the gateway de-duplicates on: the provider, the
// source, the provider's event type and its event id. Including the event
// type keeps two genuinely different events that reuse one id (seen in Truv's
// samples) apart. When the provider sent no id, pass BodyKey(body) as id: a
// byte-identical retry then still de-duplicates.
func DedupKey(p hooklinev1.Provider, source, providerEventType, providerEventID string) string {
	return strings.Join([]string{hookline.ProviderName(p), source, providerEventType, providerEventID}, "\x1f")
}

// BodyKey returns a stand-in event id for deliveries without one: "sha256:"
// followed by the hex SHA-256 of the body.
func BodyKey(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// EventID derives the deterministic event id from the dedup key and the
// index of the event within its delivery: "evt_" + 32 hex digits.
func EventID(dedupKey string, index int) string {
	h := sha256.New()
	h.Write([]byte(dedupKey))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(index)))
	return "evt_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Envelope holds what every event of a delivery shares.
type Envelope struct {
	Provider          hooklinev1.Provider
	Source            string
	ProviderEventType string
	// ProviderEventID is the provider's id verbatim; empty when it sent none.
	ProviderEventID string
	// DedupID is what the dedup key is built from: ProviderEventID, or a
	// documented fallback when it is empty.
	DedupID string
}

// NewEvent builds the envelope of the index-th event of delivery d. The
// caller sets Type, Subject, Time and the body.
func NewEvent(d *Delivery, env Envelope, index int) *hooklinev1.Event {
	key := DedupKey(env.Provider, env.Source, env.ProviderEventType, env.DedupID)
	return &hooklinev1.Event{
		Id:                EventID(key, index),
		Provider:          env.Provider,
		Source:            env.Source,
		ReceiveTime:       timestamppb.New(d.ReceiveTime),
		ProviderEventType: env.ProviderEventType,
		ProviderEventId:   env.ProviderEventID,
		Raw: &hooklinev1.RawDelivery{
			ContentType: d.Header.Get("Content-Type"),
			Body:        d.Body,
			UserAgent:   d.Header.Get("User-Agent"),
		},
		DeliveryId: d.ID,
		DedupKey:   key,
	}
}

// Unmapped turns ev into an unmapped event with the given reason and detail.
// The detail must not contain payload values.
func Unmapped(ev *hooklinev1.Event, reason hooklinev1.UnmappedReason, detail, subjectHint string) *hooklinev1.Event {
	ev.Type = hooklinev1.EventType_EVENT_TYPE_UNMAPPED
	ev.Body = &hooklinev1.Event_Unmapped{Unmapped: &hooklinev1.UnmappedEvent{
		Reason:      reason,
		Detail:      detail,
		SubjectHint: subjectHint,
	}}
	return ev
}

// MediaType returns the lower-cased media type of the Content-Type header,
// or "" when the header is absent or unparsable.
func MediaType(h string) string {
	if h == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(h)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(strings.SplitN(h, ";", 2)[0]))
	}
	return mt
}

// IsJSONMediaType reports whether a Content-Type is acceptable for a JSON
// body: absent, application/json, text/json, or any +json suffix. Providers
// do not all send the header, so absent is accepted.
func IsJSONMediaType(h string) bool {
	switch mt := MediaType(h); {
	case mt == "", mt == "application/json", mt == "text/json", strings.HasSuffix(mt, "+json"):
		return true
	default:
		return false
	}
}

// CheckJSONContentType returns ErrUnsupportedMediaType unless the delivery's
// Content-Type is acceptable for JSON.
func CheckJSONContentType(d *Delivery) error {
	if ct := d.Header.Get("Content-Type"); !IsJSONMediaType(ct) {
		return Errorf(ErrUnsupportedMediaType, "content type %q is not JSON", MediaType(ct))
	}
	return nil
}
