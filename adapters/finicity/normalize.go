package finicity

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// envelope is the union of the two JSON shapes Finicity posts: the Connect
// event wrapper (eventType, eventId, payload, webhookData) and the report
// webhook (eventName, id, status, type, portfolioId, reportCustomFields).
// consumerSsn is deliberately not decoded.
type envelope struct {
	CustomerID adapters.FlexString `json:"customerId"`
	ConsumerID adapters.FlexString `json:"consumerId"`

	// EventType is a pointer so that a non-string value fails decoding
	// (ErrMalformed) instead of being coerced.
	EventType   *string             `json:"eventType"`
	EventID     adapters.FlexString `json:"eventId"`
	Payload     json.RawMessage     `json:"payload"`
	WebhookData json.RawMessage     `json:"webhookData"`

	EventName          adapters.FlexString `json:"eventName"`
	ID                 adapters.FlexString `json:"id"`
	Status             adapters.FlexString `json:"status"`
	Type               adapters.FlexString `json:"type"`
	PortfolioID        adapters.FlexString `json:"portfolioId"`
	ReportCustomFields json.RawMessage     `json:"reportCustomFields"`
}

// connectMapping is how one Connect eventType maps onto the unified model.
type connectMapping struct {
	eventType hooklinev1.EventType
	stage     hooklinev1.SessionStage
	// failure is SessionEvent.failure_reason; unableToConnect appends the
	// payload code.
	failure string
}

// lookupConnect maps a Connect eventType, compared case-insensitively with
// the documented camelCase names. ping is handled before the lookup;
// financialConsentCreated (AU, deprecated) is left out on purpose and stays
// unmapped.
func lookupConnect(eventType string) (connectMapping, bool) {
	switch strings.ToLower(eventType) {
	case "started":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_STARTED, hooklinev1.SessionStage_SESSION_STAGE_STARTED, ""}, true
	case "institutionsupported":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_INSTITUTION_SELECTED, hooklinev1.SessionStage_SESSION_STAGE_INSTITUTION_SELECTED, ""}, true
	case "institutionnotsupported":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_INSTITUTION_NOT_SUPPORTED, hooklinev1.SessionStage_SESSION_STAGE_INSTITUTION_SELECTED, "institution_not_supported"}, true
	case "institutionnotfound":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_INSTITUTION_NOT_FOUND, hooklinev1.SessionStage_SESSION_STAGE_INSTITUTION_SELECTED, "institution_not_found"}, true
	case "adding":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_SUBMITTED, hooklinev1.SessionStage_SESSION_STAGE_CREDENTIALS_SUBMITTED, ""}, true
	case "credentialsupdated":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_SUBMITTED, hooklinev1.SessionStage_SESSION_STAGE_CREDENTIALS_SUBMITTED, ""}, true
	case "invalidcredentials":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_INVALID, hooklinev1.SessionStage_SESSION_STAGE_CREDENTIALS_SUBMITTED, "invalid_credentials"}, true
	case "mfa":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_MFA_CHALLENGED, hooklinev1.SessionStage_SESSION_STAGE_MFA, ""}, true
	case "mfaupdated":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_MFA_ANSWERED, hooklinev1.SessionStage_SESSION_STAGE_MFA, ""}, true
	case "discovered":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_DISCOVERED, hooklinev1.SessionStage_SESSION_STAGE_ACCOUNTS_DISCOVERED, ""}, true
	case "added":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_ADDED, hooklinev1.SessionStage_SESSION_STAGE_ACCOUNTS_ADDED, ""}, true
	case "accountsdeleted":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_DELETED, hooklinev1.SessionStage_SESSION_STAGE_REVOKED, ""}, true
	case "processing":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_PROCESSING, hooklinev1.SessionStage_SESSION_STAGE_PROCESSING, ""}, true
	case "done":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, hooklinev1.SessionStage_SESSION_STAGE_DONE, ""}, true
	case "unabletoconnect":
		return connectMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_FAILED, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "unable_to_connect"}, true
	default:
		return connectMapping{}, false
	}
}

// lookupReport maps a report eventName, compared case-insensitively.
func lookupReport(eventName string) (hooklinev1.EventType, bool) {
	switch strings.ToLower(eventName) {
	case "inprogress":
		return hooklinev1.EventType_EVENT_TYPE_REPORT_IN_PROGRESS, true
	case "done":
		return hooklinev1.EventType_EVENT_TYPE_REPORT_COMPLETED, true
	case "failed":
		return hooklinev1.EventType_EVENT_TYPE_REPORT_FAILED, true
	case "primaryfieldupdate":
		return hooklinev1.EventType_EVENT_TYPE_REPORT_UPDATED, true
	default:
		return hooklinev1.EventType_EVENT_TYPE_UNSPECIFIED, false
	}
}

// Provider event types the adapter makes up for deliveries that carry none.
const (
	xmlReportEventType = "xml-report"
	missingEventType   = "(missing)"
)

// Normalize implements adapters.Adapter. JSON bodies (or no Content-Type)
// are parsed; XML report webhooks are kept unparsed as one unmapped event;
// any other content type fails with ErrUnsupportedMediaType.
func (a *adapter) Normalize(d *adapters.Delivery) (adapters.Result, error) {
	ct := d.Header.Get("Content-Type")
	if !adapters.IsJSONMediaType(ct) {
		switch mt := adapters.MediaType(ct); mt {
		case "application/xml", "text/xml":
			return one(a.xmlReport(d)), nil
		default:
			return adapters.Result{}, adapters.Errorf(adapters.ErrUnsupportedMediaType,
				"content type %q is neither JSON nor XML", mt)
		}
	}
	var env envelope
	if err := adapters.DecodeObject(d.Body, &env); err != nil {
		return adapters.Result{}, err
	}
	switch {
	case env.EventType != nil && *env.EventType != "":
		if strings.EqualFold(*env.EventType, "ping") {
			return adapters.Result{Ping: true}, nil
		}
		return one(a.connectEvent(d, &env)), nil
	case env.EventName != "":
		return one(a.reportEvent(d, &env)), nil
	default:
		return one(a.unknownShape(d, &env)), nil
	}
}

func one(ev *hooklinev1.Event) adapters.Result {
	return adapters.Result{Events: []*hooklinev1.Event{ev}}
}

// connectEvent normalizes a Connect event (eventType present, not ping).
func (a *adapter) connectEvent(d *adapters.Delivery, env *envelope) *hooklinev1.Event {
	eventType := *env.EventType
	eventID := env.EventID.String()
	dedupID := eventID
	if dedupID == "" {
		dedupID = adapters.BodyKey(d.Body)
	}
	ev := adapters.NewEvent(d, adapters.Envelope{
		Provider:          hooklinev1.Provider_PROVIDER_FINICITY,
		Source:            a.source,
		ProviderEventType: eventType,
		ProviderEventID:   eventID,
		DedupID:           dedupID,
	}, 0)
	ev.Time = eventTime(eventID)
	key := a.sessionKey(env)

	m, known := lookupConnect(eventType)
	switch {
	case !known && strings.EqualFold(eventType, "financialConsentCreated"):
		return adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE,
			"deprecated AU Connect eventType is not mapped", key)
	case !known:
		return adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE,
			"unknown Connect eventType", key)
	case key == "":
		return adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT,
			"Connect event without customerId", "")
	}
	p, err := decodePayload(env.Payload)
	if err != nil {
		return adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, err.Error(), key)
	}

	failure := m.failure
	if m.eventType == hooklinev1.EventType_EVENT_TYPE_SESSION_FAILED && p.Code != "" {
		failure += ":" + p.Code.String()
	}
	ev.Type = m.eventType
	ev.Subject = key
	ev.Body = &hooklinev1.Event_Session{Session: &hooklinev1.SessionEvent{
		SessionKey:       key,
		Stage:            m.stage,
		InstitutionId:    p.InstitutionID.String(),
		Accounts:         p.accounts,
		AccountIds:       p.accountIDs,
		Mfa:              p.MFA.Ptr(),
		Oauth:            p.OAuth.Ptr(),
		CallerData:       adapters.Struct(env.WebhookData),
		FailureReason:    failure,
		InstitutionQuery: p.Query.String(),
		CustomerId:       env.CustomerID.String(),
		ConsumerId:       env.ConsumerID.String(),
		UpdateTime:       eventTime(eventID),
	}}
	return ev
}

// sessionKey is customerId, extended with "/" and the configured
// webhookData field when the delivery carries a usable value for it. It is
// empty when customerId is.
func (a *adapter) sessionKey(env *envelope) string {
	customer := env.CustomerID.String()
	if customer == "" || a.sessionField == "" {
		return customer
	}
	if v := webhookDataValue(env.WebhookData, a.sessionField); v != "" {
		return customer + "/" + v
	}
	return customer
}

// webhookDataValue returns webhookData[field] when webhookData is an object
// and the value is a non-empty string or a number (its exact digits), else
// "".
func webhookDataValue(raw json.RawMessage, field string) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return ""
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return ""
	}
	v := bytes.TrimSpace(m[field])
	if len(v) == 0 {
		return ""
	}
	switch c := v[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			return s
		}
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		if err := json.Unmarshal(v, &n); err == nil {
			return n.String()
		}
	}
	return ""
}

// eventTime reads the event time from a Connect eventId of the form
// `<13-digit epoch millis>-<hex>`; it returns nil for any other form.
func eventTime(eventID string) *timestamppb.Timestamp {
	millis, _, ok := strings.Cut(eventID, "-")
	if !ok || len(millis) != 13 {
		return nil
	}
	for i := 0; i < len(millis); i++ {
		if millis[i] < '0' || millis[i] > '9' {
			return nil
		}
	}
	ms, err := strconv.ParseInt(millis, 10, 64)
	if err != nil {
		return nil
	}
	return adapters.EpochMillis(ms)
}

// reportEvent normalizes a report webhook (no eventType, eventName present).
func (a *adapter) reportEvent(d *adapters.Delivery, env *envelope) *hooklinev1.Event {
	name := env.EventName.String()
	id := env.ID.String()
	status := env.Status.String()
	dedupID := "report:" + id + ":" + name + ":" + status
	if id == "" {
		// Without a report id the composite key would merge unrelated
		// reports; a byte-identical body is the best we can do.
		dedupID = adapters.BodyKey(d.Body)
	}
	ev := adapters.NewEvent(d, adapters.Envelope{
		Provider:          hooklinev1.Provider_PROVIDER_FINICITY,
		Source:            a.source,
		ProviderEventType: name,
		DedupID:           dedupID,
	}, 0)
	key := env.CustomerID.String()
	if key == "" {
		key = env.ConsumerID.String()
	}

	typ, known := lookupReport(name)
	switch {
	case !known:
		return adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE,
			"unknown report eventName", key)
	case key == "":
		return adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT,
			"report webhook without customerId or consumerId", "")
	}
	fields, err := decodeCustomFields(env.ReportCustomFields)
	if err != nil {
		return adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, err.Error(), key)
	}
	ev.Type = typ
	ev.Subject = key
	ev.Body = &hooklinev1.Event_Session{Session: &hooklinev1.SessionEvent{
		SessionKey: key,
		Stage:      hooklinev1.SessionStage_SESSION_STAGE_UNSPECIFIED,
		CustomerId: env.CustomerID.String(),
		ConsumerId: env.ConsumerID.String(),
		Report: &hooklinev1.Report{
			Id:           id,
			Type:         env.Type.String(),
			Status:       status,
			PortfolioId:  env.PortfolioID.String(),
			CustomFields: fields,
		},
	}}
	return ev
}

// unknownShape keeps a JSON object that is neither a Connect event nor a
// report webhook.
func (a *adapter) unknownShape(d *adapters.Delivery, env *envelope) *hooklinev1.Event {
	eventID := env.EventID.String()
	ev := adapters.NewEvent(d, adapters.Envelope{
		Provider:          hooklinev1.Provider_PROVIDER_FINICITY,
		Source:            a.source,
		ProviderEventType: missingEventType,
		ProviderEventID:   eventID,
		DedupID:           adapters.BodyKey(d.Body),
	}, 0)
	ev.Time = eventTime(eventID)
	hint := env.CustomerID.String()
	if hint == "" {
		hint = env.ConsumerID.String()
	}
	return adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE,
		"neither eventType nor eventName is present", hint)
}

// xmlReport keeps an XML report webhook unparsed.
func (a *adapter) xmlReport(d *adapters.Delivery) *hooklinev1.Event {
	ev := adapters.NewEvent(d, adapters.Envelope{
		Provider:          hooklinev1.Provider_PROVIDER_FINICITY,
		Source:            a.source,
		ProviderEventType: xmlReportEventType,
		DedupID:           adapters.BodyKey(d.Body),
	}, 0)
	return adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE,
		"XML report webhook kept unparsed", "")
}
