package truv

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// missingEventType is the provider event type recorded when a delivery has
// no event_type (Event.provider_event_type must not be empty).
const missingEventType = "(missing)"

// payload is the union of the fields of every Truv webhook. null, absent and
// "" all decode to "" (unset).
type payload struct {
	WebhookID      adapters.FlexString `json:"webhook_id"`
	EventType      json.RawMessage     `json:"event_type"`
	EventCreatedAt adapters.FlexString `json:"event_created_at"`
	UpdatedAt      adapters.FlexString `json:"updated_at"`

	OrderID     adapters.FlexString `json:"order_id"`
	OrderNumber adapters.FlexString `json:"order_number"`
	EmployerID  adapters.FlexString `json:"employer_id"`
	Status      adapters.FlexString `json:"status"`

	TaskID       adapters.FlexString `json:"task_id"`
	LinkID       adapters.FlexString `json:"link_id"`
	UserID       adapters.FlexString `json:"user_id"`
	Product      adapters.FlexString `json:"product"`
	DataSource   adapters.FlexString `json:"data_source"`
	TemplateID   adapters.FlexString `json:"template_id"`
	TrackingInfo trackingInfo        `json:"tracking_info"`

	ObjectID     adapters.FlexString `json:"object_id"`
	EmploymentID adapters.FlexString `json:"employment_id"`
	ObjectsCount adapters.FlexInt    `json:"objects_count"`
}

// trackingInfo is Truv's free-form tracking_info: usually a string or null,
// but it carries whatever the caller put in the bridge token, so a JSON
// object or array is kept as its compact JSON text.
type trackingInfo string

// UnmarshalJSON implements json.Unmarshaler.
func (t *trackingInfo) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return err
		}
		*t = trackingInfo(buf.String())
		return nil
	}
	var s adapters.FlexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	*t = trackingInfo(s)
	return nil
}

// eventType returns event_type verbatim ("" when absent or null), or
// ErrMalformed when it is not a string.
func (p *payload) eventType() (string, error) {
	raw := bytes.TrimSpace(p.EventType)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", adapters.Errorf(adapters.ErrMalformed, "event_type is not a string")
	}
	return s, nil
}

// eventTime is when Truv says the event happened: event_created_at, falling
// back to updated_at.
func (p *payload) eventTime() *timestamppb.Timestamp {
	if ts := adapters.ParseRFC3339(p.EventCreatedAt.String()); ts != nil {
		return ts
	}
	return adapters.ParseRFC3339(p.UpdatedAt.String())
}

// updateTime is when Truv says the order or session was last updated:
// updated_at, falling back to event_created_at.
func (p *payload) updateTime() *timestamppb.Timestamp {
	if ts := adapters.ParseRFC3339(p.UpdatedAt.String()); ts != nil {
		return ts
	}
	return adapters.ParseRFC3339(p.EventCreatedAt.String())
}

// subjectHint is the best identifier for an unmapped event: the order id,
// else the task id, else the link id.
func (p *payload) subjectHint() string {
	for _, s := range []adapters.FlexString{p.OrderID, p.TaskID, p.LinkID} {
		if s != "" {
			return s.String()
		}
	}
	return ""
}

// Normalize implements adapters.Adapter. Every Truv delivery yields exactly
// one event.
func (a *adapter) Normalize(d *adapters.Delivery) (adapters.Result, error) {
	if err := adapters.CheckJSONContentType(d); err != nil {
		return adapters.Result{}, err
	}
	var p payload
	if err := adapters.DecodeObject(d.Body, &p); err != nil {
		return adapters.Result{}, err
	}
	eventType, err := p.eventType()
	if err != nil {
		return adapters.Result{}, err
	}

	env := adapters.Envelope{
		Provider:          hooklinev1.Provider_PROVIDER_TRUV,
		Source:            a.source,
		ProviderEventType: eventType,
		ProviderEventID:   p.WebhookID.String(),
		DedupID:           p.WebhookID.String(),
	}
	if env.ProviderEventType == "" {
		env.ProviderEventType = missingEventType
	}
	if env.DedupID == "" {
		env.DedupID = adapters.BodyKey(d.Body)
	}
	ev := adapters.NewEvent(d, env, 0)
	ev.Time = p.eventTime()

	if eventType == "" {
		adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE,
			"event_type is missing", p.subjectHint())
		return adapters.Result{Events: []*hooklinev1.Event{ev}}, nil
	}
	spec, ok := lookupEventType(eventType)
	switch {
	case !ok:
		adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE,
			"event type is not one the truv adapter maps", p.subjectHint())
	case spec.kind == kindOrder:
		mapOrder(ev, spec, &p)
	case spec.kind == kindTask:
		mapTask(ev, &p)
	case spec.kind == kindLink:
		mapLink(ev, spec, &p)
	default: // kindData
		mapData(ev, spec, &p)
	}
	return adapters.Result{Events: []*hooklinev1.Event{ev}}, nil
}

// mapOrder fills an order event (order-*, certification-completed).
func mapOrder(ev *hooklinev1.Event, spec eventSpec, p *payload) {
	if p.OrderID == "" {
		adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT, "order_id is missing", p.subjectHint())
		return
	}
	o := &hooklinev1.OrderEvent{
		OrderId:     p.OrderID.String(),
		OrderNumber: p.OrderNumber.String(),
		RawStatus:   p.Status.String(),
		UpdateTime:  p.updateTime(),
		Details: &hooklinev1.OrderEvent_Truv{Truv: &hooklinev1.TruvOrder{
			Product:    p.Product.String(),
			EmployerId: p.EmployerID.String(),
			UserId:     p.UserID.String(),
			LinkId:     p.LinkID.String(),
			DataSource: p.DataSource.String(),
			TemplateId: p.TemplateID.String(),
		}},
	}
	if spec.refreshFailed {
		// The refresh failed whatever task status Truv reports; the raw
		// status (login_error, ...) says why.
		o.Status = hooklinev1.OrderStatus_ORDER_STATUS_ERROR
		o.FailureReason = p.Status.String()
	} else {
		o.Status = orderStatus(p.Status.String())
	}
	ev.Type = spec.eventType
	ev.Subject = o.OrderId
	ev.Body = &hooklinev1.Event_Order{Order: o}
}

// newSession returns a session event body with the fields every Truv task,
// link and data event shares.
func newSession(key string, p *payload) *hooklinev1.SessionEvent {
	return &hooklinev1.SessionEvent{
		SessionKey:   key,
		LinkId:       p.LinkID.String(),
		UserId:       p.UserID.String(),
		Product:      p.Product.String(),
		DataSource:   p.DataSource.String(),
		TrackingInfo: string(p.TrackingInfo),
		TemplateId:   p.TemplateID.String(),
		UpdateTime:   p.updateTime(),
	}
}

func setSession(ev *hooklinev1.Event, t hooklinev1.EventType, s *hooklinev1.SessionEvent) {
	ev.Type = t
	ev.Subject = s.SessionKey
	ev.Body = &hooklinev1.Event_Session{Session: s}
}

// mapTask fills a task-status-updated event; the session is the task.
func mapTask(ev *hooklinev1.Event, p *payload) {
	if p.TaskID == "" {
		adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT, "task_id is missing", p.subjectHint())
		return
	}
	m := taskStatus(p.Status.String())
	s := newSession(p.TaskID.String(), p)
	s.TaskId = p.TaskID.String()
	s.Stage = m.stage
	s.RawStatus = p.Status.String()
	if m.failed {
		s.FailureReason = p.Status.String()
	}
	setSession(ev, m.eventType, s)
}

// mapLink fills a link-* event; the session is the link.
func mapLink(ev *hooklinev1.Event, spec eventSpec, p *payload) {
	if p.LinkID == "" {
		adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT, "link_id is missing", p.subjectHint())
		return
	}
	s := newSession(p.LinkID.String(), p)
	s.Stage = spec.stage
	s.FailureReason = spec.failureReason
	setSession(ev, spec.eventType, s)
}

// mapData fills a data notification (*-created, *-updated). It names the
// task's session, or the link's when no task id was sent, and leaves the
// stage unset: a data notice does not move the session.
func mapData(ev *hooklinev1.Event, spec eventSpec, p *payload) {
	key := p.TaskID
	if key == "" {
		key = p.LinkID
	}
	if key == "" {
		adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT, "task_id and link_id are missing", p.subjectHint())
		return
	}
	s := newSession(key.String(), p)
	s.TaskId = p.TaskID.String()
	s.Data = &hooklinev1.DataObject{
		Kind:         spec.dataKind,
		ObjectId:     p.ObjectID.String(),
		EmploymentId: p.EmploymentID.String(),
		ObjectsCount: p.ObjectsCount.Ptr(),
	}
	setSession(ev, spec.eventType, s)
}

// eventKey folds an event type for lookup: lower case, `_` as `-` (the
// events API spells `order_created`), surrounding whitespace ignored.
func eventKey(eventType string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(eventType)), "_", "-")
}

func lookupEventType(eventType string) (eventSpec, bool) {
	spec, ok := eventTypes[eventKey(eventType)]
	return spec, ok
}
