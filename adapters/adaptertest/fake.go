package adaptertest

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// Fake is a provider-neutral adapter for tests of the server and of
// anything else that consumes adapters. It speaks for whichever provider
// its factory names (FakeFactory), with a wire format of our own, so that
// such tests do not depend on any real provider's signatures or payloads.
// It obeys the adapter contract like a real provider: it passes the
// conformance suite, builds every event with adapters.NewEvent (so ids and
// de-duplication keys are made exactly as for real deliveries) and keeps
// the raw delivery.
//
// # Wire format
//
// Authentication: the header X-Fake-Token (FakeTokenHeader) carries one of
// the source's secrets verbatim, compared in constant time with
// adapters.VerifyStatic; several secrets may be configured for rotation.
// The delivery must carry the header exactly once. Nothing covers the
// body. A source with no secrets and AllowUnauthenticated accepts every
// delivery (adapters.Config.Unauthenticated).
//
// Body: one JSON object (Content-Type absent or JSON, else
// adapters.ErrUnsupportedMediaType), decoded strictly
// (adapters.DecodeObject: anything else, and a field that is not a string,
// is adapters.ErrMalformed). Unknown fields are ignored. The fields, all
// strings, are those of FakeEvent:
//
//	{"id": "d-1", "kind": "order", "subject": "o-1", "status": "completed",
//	 "time": "2026-01-02T03:04:05Z", "type": "ORDER_CREATED"}
//
// What each field means:
//
//   - id: the provider event id. The de-duplication key is built from the
//     kind and the id, or, without an id, from adapters.BodyKey(body), so
//     that a byte-identical retry still de-duplicates.
//   - kind: what the delivery is, and its provider event type.
//     "order" yields one order event: Subject and order_id are the subject;
//     status and raw_status come from status (below); type defaults to
//     EVENT_TYPE_ORDER_STATUS_CHANGED and may name any EVENT_TYPE_ORDER_*.
//     "session" yields one session event: Subject and session_key are the
//     subject; stage and raw_status come from status (below); type may
//     name any type that is neither an order type nor UNMAPPED, and
//     defaults from the stage: started → SESSION_STARTED,
//     institution_selected → SESSION_INSTITUTION_SELECTED,
//     credentials_submitted → SESSION_CREDENTIALS_SUBMITTED, mfa →
//     SESSION_MFA_CHALLENGED, accounts_discovered →
//     SESSION_ACCOUNTS_DISCOVERED, accounts_added → SESSION_ACCOUNTS_ADDED,
//     processing → SESSION_PROCESSING, connected → LINK_CONNECTED, done →
//     SESSION_COMPLETED, failed → SESSION_FAILED, revoked →
//     SESSION_ACCOUNTS_DELETED, any other or none →
//     SESSION_STATUS_UNKNOWN. "ping" is a liveness
//     probe: no event. "unmapped" and any other kind yield one unmapped
//     event (UNKNOWN_EVENT_TYPE) whose subject hint is the subject. A
//     delivery without a kind is unmapped with UNEXPECTED_SHAPE.
//   - subject: the order id or session key. An order or session without
//     one is unmapped with MISSING_SUBJECT.
//   - status: for an order an OrderStatus, for a session a SessionStage,
//     named with or without the enum prefix, in any case, with spaces,
//     hyphens or underscores ("Under Review" is ORDER_STATUS_UNDER_REVIEW,
//     "done" is SESSION_STAGE_DONE). An unknown name maps to the UNKNOWN
//     value, an absent one to UNSPECIFIED; the raw value is kept.
//   - time: RFC 3339. It becomes Event.time and the body's update_time
//     (what derived state is ordered by); absent or unparsable: unset.
//   - type: an EventType name, with or without EVENT_TYPE_, in any case.
//     An unknown name makes the event unmapped with UNKNOWN_EVENT_TYPE; a
//     name that does not fit the kind, unmapped with UNEXPECTED_SHAPE.
//
// Fake takes no source options. It is immutable after its factory built it
// and safe for concurrent use.
type Fake struct {
	provider        hooklinev1.Provider
	source          string
	secrets         [][]byte
	unauthenticated bool // adapters.Config.Unauthenticated
}

var _ adapters.Adapter = (*Fake)(nil)

// FakeTokenHeader is the header a fake delivery carries its secret in.
const FakeTokenHeader = "X-Fake-Token"

// Kinds of fake deliveries (FakeEvent.Kind).
const (
	FakeKindOrder    = "order"
	FakeKindSession  = "session"
	FakeKindUnmapped = "unmapped"
	FakeKindPing     = "ping"
)

// FakeFactory returns a factory of Fake adapters that speak for provider,
// named name (and aliases) in webhook URLs, so that a test can register a
// fake under any value of the Provider enum and under the name its
// assertions expect. Events carry provider; their de-duplication keys use
// the provider's canonical name, as a real provider's do.
func FakeFactory(provider hooklinev1.Provider, name string, aliases ...string) adapters.Factory {
	return adapters.Factory{
		Provider:       provider,
		Name:           name,
		Aliases:        aliases,
		MappingVersion: 1,
		New: func(cfg adapters.Config) (adapters.Adapter, error) {
			if err := adapters.CheckConfig(cfg); err != nil {
				return nil, err
			}
			secrets := make([][]byte, len(cfg.Secrets))
			for i, s := range cfg.Secrets {
				secrets[i] = append([]byte(nil), s...)
			}
			return &Fake{provider: provider, source: cfg.Source, secrets: secrets, unauthenticated: cfg.Unauthenticated()}, nil
		},
		Sign:    func(h http.Header, _, secret []byte) { h.Set(FakeTokenHeader, string(secret)) },
		Samples: fakeSamples,
	}
}

// fakeSamples are the fake's samples: an order, a session and a ping.
func fakeSamples() []adapters.Sample {
	body := func(kind, status, typ string) func(adapters.SampleParams) []byte {
		return func(p adapters.SampleParams) []byte {
			id := p.EventID
			if id == "" {
				id = p.Hex("event", 32)
			}
			return FakeBody(FakeEvent{ID: id, Kind: kind, Subject: p.Hex(kind, 16), Status: status, Type: typ,
				Time: p.Time.UTC().Format(time.RFC3339Nano)})
		}
	}
	return []adapters.Sample{
		{Name: FakeKindOrder, Description: "an order's status changed", Type: hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, Body: body(FakeKindOrder, "completed", "")},
		{Name: FakeKindSession, Description: "a session reached a stage", Type: hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, Body: body(FakeKindSession, "done", "")},
		{Name: "session-data", Description: "a session's data was created", Type: hooklinev1.EventType_EVENT_TYPE_DATA_CREATED,
			Body: body(FakeKindSession, "processing", "EVENT_TYPE_DATA_CREATED")},
		{Name: FakeKindPing, Description: "a liveness probe", Ping: true, Body: body(FakeKindPing, "", "")},
	}
}

// FakeEvent is the body of a fake delivery; see Fake for what each field
// means. FakeBody encodes it, leaving empty fields out.
type FakeEvent struct {
	ID      string `json:"id,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Subject string `json:"subject,omitempty"`
	Status  string `json:"status,omitempty"`
	Time    string `json:"time,omitempty"`
	Type    string `json:"type,omitempty"`
}

// FakeBody returns the JSON body of ev.
func FakeBody(ev FakeEvent) []byte {
	b, err := json.Marshal(ev)
	if err != nil { // strings only: cannot happen
		panic(err)
	}
	return b
}

// FakeHeaders returns the headers of a fake delivery authenticated with
// secret: Content-Type application/json and X-Fake-Token. With an empty
// secret the token header is left out.
func FakeHeaders(secret string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	if secret != "" {
		h.Set(FakeTokenHeader, secret)
	}
	return h
}

// Provider implements adapters.Adapter.
func (a *Fake) Provider() hooklinev1.Provider { return a.provider }

// Verify implements adapters.Adapter: the delivery must carry exactly one
// X-Fake-Token header equal to one of the secrets.
func (a *Fake) Verify(d *adapters.Delivery) error {
	if a.unauthenticated {
		return nil
	}
	return adapters.VerifyStaticHeader(d.Header, FakeTokenHeader, a.secrets)
}

// fakeMissingKind is the provider event type of a delivery without a kind.
const fakeMissingKind = "(missing)"

// Normalize implements adapters.Adapter. It yields one event, or none for
// a ping.
func (a *Fake) Normalize(d *adapters.Delivery) (adapters.Result, error) {
	if err := adapters.CheckJSONContentType(d); err != nil {
		return adapters.Result{}, err
	}
	var fe FakeEvent
	if err := adapters.DecodeObject(d.Body, &fe); err != nil {
		return adapters.Result{}, err
	}
	if fe.Kind == FakeKindPing {
		return adapters.Result{Ping: true}, nil
	}
	env := adapters.Envelope{
		Provider:          a.provider,
		Source:            a.source,
		ProviderEventType: fe.Kind,
		ProviderEventID:   fe.ID,
		DedupID:           fe.ID,
	}
	if fe.Kind == "" {
		env.ProviderEventType = fakeMissingKind
	}
	if fe.ID == "" {
		env.DedupID = adapters.BodyKey(d.Body)
	}
	ev := adapters.NewEvent(d, env, 0)
	ev.Time = adapters.ParseRFC3339(fe.Time)
	return adapters.Result{Events: []*hooklinev1.Event{fakeBody(ev, fe)}}, nil
}

// fakeBody sets the type, subject and body of ev from fe.
func fakeBody(ev *hooklinev1.Event, fe FakeEvent) *hooklinev1.Event {
	unmapped := func(reason hooklinev1.UnmappedReason, detail string) *hooklinev1.Event {
		return adapters.Unmapped(ev, reason, detail, fe.Subject)
	}
	switch fe.Kind {
	case FakeKindOrder, FakeKindSession:
	case "":
		return unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "the delivery has no kind")
	case FakeKindUnmapped:
		return unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE, "the delivery is of kind unmapped")
	default:
		return unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE, "unknown fake kind")
	}
	isOrder := fe.Kind == FakeKindOrder
	stage := hooklinev1.SessionStage(fakeEnum(hooklinev1.SessionStage_value, "SESSION_STAGE_", fe.Status))
	typ := hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED
	if !isOrder {
		typ = fakeSessionType(stage)
	}
	if fe.Type != "" {
		v, ok := hooklinev1.EventType_value[fakeEnumName("EVENT_TYPE_", fe.Type)]
		if !ok {
			return unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE, "unknown event type")
		}
		typ = hooklinev1.EventType(v)
	}
	orderType := strings.HasPrefix(typ.String(), "EVENT_TYPE_ORDER_")
	if isOrder != orderType || typ == hooklinev1.EventType_EVENT_TYPE_UNMAPPED || typ == hooklinev1.EventType_EVENT_TYPE_UNSPECIFIED {
		return unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "the event type does not fit the kind")
	}
	if fe.Subject == "" {
		return unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT, "the delivery has no subject")
	}
	ev.Type, ev.Subject = typ, fe.Subject
	update := adapters.ParseRFC3339(fe.Time) // not shared with ev.Time
	if isOrder {
		ev.Body = &hooklinev1.Event_Order{Order: &hooklinev1.OrderEvent{
			OrderId:    fe.Subject,
			Status:     hooklinev1.OrderStatus(fakeEnum(hooklinev1.OrderStatus_value, "ORDER_STATUS_", fe.Status)),
			RawStatus:  fe.Status,
			UpdateTime: update,
		}}
		return ev
	}
	ev.Body = &hooklinev1.Event_Session{Session: &hooklinev1.SessionEvent{
		SessionKey: fe.Subject,
		Stage:      stage,
		RawStatus:  fe.Status,
		UpdateTime: update,
	}}
	return ev
}

// fakeEnum returns the value of the enum whose names (values) start with
// prefix that raw names: 0 (UNSPECIFIED) for "", 1 (UNKNOWN) for a name
// the enum does not have, or that names UNSPECIFIED or UNKNOWN.
func fakeEnum(values map[string]int32, prefix, raw string) int32 {
	if strings.TrimSpace(raw) == "" {
		return 0
	}
	if v, ok := values[fakeEnumName(prefix, raw)]; ok && v > 1 {
		return v
	}
	return 1
}

// fakeEnumName returns the enum value name raw stands for: upper case,
// separators folded to one underscore, prefix added when missing.
func fakeEnumName(prefix, raw string) string {
	name := strings.ToUpper(adapters.NormalizeToken(raw))
	if !strings.HasPrefix(name, prefix) {
		name = prefix + name
	}
	return name
}

// fakeSessionType is the event type of a session event that names none
// (the table in Fake's documentation).
func fakeSessionType(stage hooklinev1.SessionStage) hooklinev1.EventType {
	switch stage {
	case hooklinev1.SessionStage_SESSION_STAGE_STARTED:
		return hooklinev1.EventType_EVENT_TYPE_SESSION_STARTED
	case hooklinev1.SessionStage_SESSION_STAGE_INSTITUTION_SELECTED:
		return hooklinev1.EventType_EVENT_TYPE_SESSION_INSTITUTION_SELECTED
	case hooklinev1.SessionStage_SESSION_STAGE_CREDENTIALS_SUBMITTED:
		return hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_SUBMITTED
	case hooklinev1.SessionStage_SESSION_STAGE_MFA:
		return hooklinev1.EventType_EVENT_TYPE_SESSION_MFA_CHALLENGED
	case hooklinev1.SessionStage_SESSION_STAGE_ACCOUNTS_DISCOVERED:
		return hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_DISCOVERED
	case hooklinev1.SessionStage_SESSION_STAGE_ACCOUNTS_ADDED:
		return hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_ADDED
	case hooklinev1.SessionStage_SESSION_STAGE_PROCESSING:
		return hooklinev1.EventType_EVENT_TYPE_SESSION_PROCESSING
	case hooklinev1.SessionStage_SESSION_STAGE_CONNECTED:
		return hooklinev1.EventType_EVENT_TYPE_LINK_CONNECTED
	case hooklinev1.SessionStage_SESSION_STAGE_DONE:
		return hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED
	case hooklinev1.SessionStage_SESSION_STAGE_FAILED:
		return hooklinev1.EventType_EVENT_TYPE_SESSION_FAILED
	case hooklinev1.SessionStage_SESSION_STAGE_REVOKED:
		return hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_DELETED
	default:
		return hooklinev1.EventType_EVENT_TYPE_SESSION_STATUS_UNKNOWN
	}
}
