// Package swyft is the Swyft Filings webhook adapter: it authenticates
// Swyft's order webhooks and turns each into one hooklinev1 order event.
// README.md beside this file has the event-type, status and field tables and
// the decisions taken where Swyft's documents are silent.
//
// Authentication: Swyft signs nothing. Its only credential is an optional
// Authorization header agreed with Swyft. Each configured secret is the whole
// expected header value (for example "Bearer s3cr3t"); a delivery passes when
// its single Authorization header equals one of them exactly, compared in
// constant time without revealing lengths. Several secrets may be configured
// for rotation. Because nothing covers the body, a body altered in transit
// cannot be detected: serve the endpoint over TLS only and allowlist Swyft's
// addresses at the edge.
//
// Payload: event_id, event {name, changed_field, old_status, new_status} and
// the order, either at the top level or under data.order (the top level wins
// when both are present). order_status_change and
// order_processing_status_change are mapped; any other name becomes an
// unmapped event. Statuses go through one table for status and processing
// status alike; unknown values become ORDER_STATUS_UNKNOWN with the raw value
// kept.
//
// Time: Swyft's "YYYY-MM-DD HH:MM:SS" timestamps carry no zone and are read
// in the source's time_zone option (an IANA name, default "UTC"), which is
// recorded in SwyftOrder.time_zone.
//
// Contact data (names, email, phone, managers, registered agent,
// affirmation) is never read into the normalized event; it stays in the raw
// delivery only.
package swyft

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// Name is the provider's name in webhook URLs and configuration.
const Name = "swyft"

// OptionTimeZone is the option naming the IANA time zone Swyft's naive
// timestamps are read in. Default "UTC".
const OptionTimeZone = "time_zone"

// DefaultTimeZone is the zone used when OptionTimeZone is not set.
const DefaultTimeZone = "UTC"

// AuthorizationHeader is the header Swyft sends the agreed credential in.
const AuthorizationHeader = "Authorization"

// Factory registers the Swyft adapter: provider PROVIDER_SWYFT, name
// "swyft", no aliases. It is never modified.
var Factory = adapters.Factory{
	MappingVersion: 1,
	Provider:       hooklinev1.Provider_PROVIDER_SWYFT,
	Name:           Name,
	New:            New,
	Sign:           Sign,
	Samples:        Samples,
}

// Adapter verifies and normalizes Swyft deliveries for one source. It is
// immutable after New and safe for concurrent use.
type Adapter struct {
	source          string
	secrets         [][]byte
	unauthenticated bool // adapters.Config.Unauthenticated
	loc             *time.Location
	zoneName        string
}

var _ adapters.Adapter = (*Adapter)(nil)

// New builds an adapter for one source. It accepts the option time_zone and
// fails when the zone is not a loadable IANA name, when the source has
// neither secrets nor AllowUnauthenticated, or when an option is unknown.
func New(cfg adapters.Config) (adapters.Adapter, error) {
	if err := adapters.CheckConfig(cfg, OptionTimeZone); err != nil {
		return nil, err
	}
	zone := cfg.Options[OptionTimeZone]
	if zone == "" {
		zone = DefaultTimeZone
	}
	loc, err := loadZone(zone)
	if err != nil {
		return nil, fmt.Errorf("source %q: option %s: %w", cfg.Source, OptionTimeZone, err)
	}
	secrets := make([][]byte, len(cfg.Secrets))
	for i, s := range cfg.Secrets {
		secrets[i] = append([]byte(nil), s...)
	}
	return &Adapter{
		source:          cfg.Source,
		secrets:         secrets,
		unauthenticated: cfg.Unauthenticated(),
		loc:             loc,
		zoneName:        zone,
	}, nil
}

// loadZone loads an IANA zone. "Local" is refused: it depends on the machine,
// so two gateway replicas could read the same timestamp differently.
func loadZone(name string) (*time.Location, error) {
	if strings.EqualFold(name, "Local") {
		return nil, errors.New(`"Local" is not allowed; name an IANA zone such as "UTC" or "America/New_York"`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

// Provider implements adapters.Adapter.
func (a *Adapter) Provider() hooklinev1.Provider { return hooklinev1.Provider_PROVIDER_SWYFT }

// Verify implements adapters.Adapter. The delivery must carry exactly one
// Authorization header equal to one of the configured secrets. With no
// secrets and AllowUnauthenticated set, every delivery passes.
func (a *Adapter) Verify(d *adapters.Delivery) error {
	if a.unauthenticated {
		return nil
	}
	return adapters.VerifyStaticHeader(d.Header, AuthorizationHeader, a.secrets)
}

// missingEventType is the provider event type of a delivery without an event
// name.
const missingEventType = "(missing)"

// Normalize implements adapters.Adapter. It yields exactly one event.
func (a *Adapter) Normalize(d *adapters.Delivery) (adapters.Result, error) {
	if err := adapters.CheckJSONContentType(d); err != nil {
		return adapters.Result{}, err
	}
	p, err := decodePayload(d.Body)
	if err != nil {
		return adapters.Result{}, err
	}
	o, hasOrder := p.resolveOrder()
	var e wireEvent
	if p.Event.V != nil {
		e = *p.Event.V
	}
	name := e.Name
	providerType := name
	if name == "" {
		providerType = missingEventType
	}
	env := adapters.Envelope{
		Provider:          hooklinev1.Provider_PROVIDER_SWYFT,
		Source:            a.source,
		ProviderEventType: providerType,
		ProviderEventID:   p.EventID.String(),
		DedupID:           dedupID(p.EventID, e, o, d.Body),
	}
	ev := adapters.NewEvent(d, env, 0)
	ev.Time = a.parseTime(o.UpdatedAt.String())
	uuid := o.UUID.String()

	if name == "" {
		return single(adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE,
			"the delivery has no event.name", uuid)), nil
	}
	var typ hooklinev1.EventType
	switch adapters.NormalizeToken(name) {
	case "order_status_change":
		typ = hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED
	case "order_processing_status_change":
		typ = hooklinev1.EventType_EVENT_TYPE_ORDER_PROCESSING_STATUS_CHANGED
	default:
		return single(adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE,
			"unknown Swyft event name", uuid)), nil
	}
	if uuid == "" {
		detail := "the order has no uuid"
		if !hasOrder {
			detail = "the delivery has no order (neither order nor data.order)"
		}
		return single(adapters.Unmapped(ev, hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT, detail, "")), nil
	}

	oe := &hooklinev1.OrderEvent{
		OrderId:      uuid,
		OrderNumber:  o.ID.String(),
		ChangedField: e.ChangedField.String(),
		UpdateTime:   a.parseTime(o.UpdatedAt.String()), // not shared with ev.Time
		Details:      &hooklinev1.OrderEvent_Swyft{Swyft: a.swyftOrder(o)},
	}
	newStatus, oldStatus := e.NewStatus.String(), e.OldStatus.String()
	if typ == hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED {
		if newStatus == "" {
			newStatus = o.Status.String()
		}
		oe.Status, oe.RawStatus = mapStatus(newStatus), newStatus
		oe.PreviousStatus, oe.RawPreviousStatus = mapStatus(oldStatus), oldStatus
		processing := o.ProcessingStatus.String()
		oe.ProcessingStatus, oe.RawProcessingStatus = mapStatus(processing), processing
	} else {
		if newStatus == "" {
			newStatus = o.ProcessingStatus.String()
		}
		oe.ProcessingStatus, oe.RawProcessingStatus = mapStatus(newStatus), newStatus
		oe.PreviousProcessingStatus, oe.RawPreviousProcessingStatus = mapStatus(oldStatus), oldStatus
		status := o.Status.String()
		oe.Status, oe.RawStatus = mapStatus(status), status
	}
	ev.Type = typ
	ev.Subject = uuid
	ev.Body = &hooklinev1.Event_Order{Order: oe}
	return single(ev), nil
}

func single(ev *hooklinev1.Event) adapters.Result {
	return adapters.Result{Events: []*hooklinev1.Event{ev}}
}

// dedupID returns event_id, or the documented fallback when it is empty.
func dedupID(eventID adapters.FlexString, e wireEvent, o *wireOrder, body []byte) string {
	if id := eventID.String(); id != "" {
		return id
	}
	uuid, updated := o.UUID.String(), o.UpdatedAt.String()
	if uuid == "" || updated == "" {
		return adapters.BodyKey(body)
	}
	return "fallback:" + strings.Join([]string{
		uuid, e.Name, e.OldStatus.String(), e.NewStatus.String(), updated,
	}, "|")
}
