package swyft

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The wire types below decode only what the normalized event needs. Contact
// data (first_name, last_name, email, phone_number, managers_data,
// registered_agent, affirmation_*) is deliberately absent: it is never read,
// so it cannot leak into the normalized event.
//
// Scalars are adapters.FlexString / FlexInt so that a string sent as a
// number (or the reverse) does not reject the delivery; an object or array
// where a scalar belongs, or a scalar where an object belongs, fails
// decoding with ErrMalformed.

// wirePayload is a Swyft webhook body.
type wirePayload struct {
	EventID adapters.FlexString `json:"event_id"`
	Event   object[wireEvent]   `json:"event"`
	// Order is the order at the top level (webhooks list page).
	Order object[wireOrder] `json:"order"`
	// Data holds the order under data.order (overview page).
	Data object[wireData] `json:"data"`
}

// resolveOrder returns the order of the delivery: the top-level one when
// present, else data.order. It returns an empty order and false when there
// is neither.
func (p *wirePayload) resolveOrder() (*wireOrder, bool) {
	switch {
	case p.Order.V != nil:
		return p.Order.V, true
	case p.Data.V != nil && p.Data.V.Order.V != nil:
		return p.Data.V.Order.V, true
	default:
		return &wireOrder{}, false
	}
}

type wireData struct {
	Order object[wireOrder] `json:"order"`
}

// wireEvent is the `event` object. name must be a JSON string (or null or
// absent): a number or object there fails the delivery as malformed.
type wireEvent struct {
	Name         string              `json:"name"`
	ChangedField adapters.FlexString `json:"changed_field"`
	OldStatus    adapters.FlexString `json:"old_status"`
	NewStatus    adapters.FlexString `json:"new_status"`
}

type wireOrder struct {
	ID                      adapters.FlexString         `json:"id"`
	UUID                    adapters.FlexString         `json:"uuid"`
	Service                 adapters.FlexString         `json:"service"`
	Status                  adapters.FlexString         `json:"status"`
	ProcessingStatus        adapters.FlexString         `json:"processing_status"`
	SubmitDate              adapters.FlexString         `json:"submit_date"`
	CreatedAt               adapters.FlexString         `json:"created_at"`
	UpdatedAt               adapters.FlexString         `json:"updated_at"`
	Business                object[wireBusiness]        `json:"business_data"`
	RegisteredAgentProvider adapters.FlexString         `json:"registered_agent_provider"`
	OrderItems              []*wireOrderItem            `json:"order_items"`
	RequiredActions         object[wireRequiredActions] `json:"required_actions"`
}

type wireBusiness struct {
	Name           adapters.FlexString `json:"name"`
	Type           adapters.FlexInt    `json:"type"`
	TypeName       adapters.FlexString `json:"type_name"`
	Designator     adapters.FlexString `json:"designator"`
	FormationState adapters.FlexString `json:"formation_state"`
	FormationDate  adapters.FlexString `json:"formation_date"`
	Category       adapters.FlexString `json:"category"`
	CategoryName   adapters.FlexString `json:"category_name"`
}

type wireOrderItem struct {
	SubmittedAt adapters.FlexString   `json:"submitted_at"`
	Type        adapters.FlexString   `json:"type"`
	Items       []adapters.FlexString `json:"items"`
}

// wireRequiredActions is order.required_actions. Swyft's docs nest the key
// twice (required_actions.required_actions.rejections); a single level
// (required_actions.rejections) is accepted too. When the nested object is
// present it is used and the outer lists are ignored.
type wireRequiredActions struct {
	Nested         object[wireRequiredActionLists] `json:"required_actions"`
	Rejections     []*wireRejection                `json:"rejections"`
	Questionnaires []*wireQuestionnaire            `json:"questionnaires"`
	Alerts         []*wireAlert                    `json:"alerts"`
}

type wireRequiredActionLists struct {
	Rejections     []*wireRejection     `json:"rejections"`
	Questionnaires []*wireQuestionnaire `json:"questionnaires"`
	Alerts         []*wireAlert         `json:"alerts"`
}

type wireRejection struct {
	ID        adapters.FlexInt    `json:"id"`
	ErrorCode adapters.FlexInt    `json:"error_code"`
	Reason    adapters.FlexString `json:"reason"`
	Message   adapters.FlexString `json:"message"`
}

type wireQuestionnaire struct {
	Name    adapters.FlexString `json:"questionnaire_name"`
	Status  adapters.FlexString `json:"status"`
	Message adapters.FlexString `json:"message"`
}

type wireAlert struct {
	ID       adapters.FlexInt    `json:"id"`
	Headline adapters.FlexString `json:"headline"`
	Message  adapters.FlexString `json:"message"`
}

// object is an optional JSON object. null, absent and an empty array leave V
// nil: PHP encoders, which Swyft's samples suggest, write an empty object as
// `[]`. Any other non-object is a type error.
type object[T any] struct {
	V *T
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *object[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")), isEmptyArray(b):
		o.V = nil
		return nil
	case len(b) == 0 || b[0] != '{':
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[T]()}
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	o.V = v
	return nil
}

// isEmptyArray reports whether b is `[]`, allowing whitespace inside.
func isEmptyArray(b []byte) bool {
	return len(b) >= 2 && b[0] == '[' && b[len(b)-1] == ']' && len(bytes.TrimSpace(b[1:len(b)-1])) == 0
}

// jsonKind names the kind of a JSON value for an error, without quoting it.
func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	default:
		return "number"
	}
}

// decodePayload decodes a body strictly (see adapters.DecodeObject).
func decodePayload(body []byte) (*wirePayload, error) {
	var p wirePayload
	if err := adapters.DecodeObject(body, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// swyftLayout is the layout of Swyft's naive timestamps.
const swyftLayout = "2006-01-02 15:04:05"

// parseTime reads a Swyft timestamp in the adapter's zone. It also accepts
// RFC 3339 with an explicit offset. It returns nil for "" or an unparsable
// value (such as a zero date "0000-00-00 00:00:00").
func (a *Adapter) parseTime(s string) *timestamppb.Timestamp {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if t, err := time.ParseInLocation(swyftLayout, s, a.loc); err == nil {
		return timestamppb.New(t)
	}
	return adapters.ParseRFC3339(s)
}

// swyftOrder builds the Swyft details of an order event. It copies no
// contact data.
func (a *Adapter) swyftOrder(o *wireOrder) *hooklinev1.SwyftOrder {
	internalID, err := strconv.ParseInt(strings.TrimSpace(o.ID.String()), 10, 64)
	if err != nil {
		internalID = 0
	}
	so := &hooklinev1.SwyftOrder{
		InternalId:              internalID,
		Service:                 o.Service.String(),
		SubmitDate:              o.SubmitDate.String(),
		CreateTime:              a.parseTime(o.CreatedAt.String()),
		TimeZone:                a.zoneName,
		Business:                business(o.Business.V),
		RegisteredAgentProvider: o.RegisteredAgentProvider.String(),
		RequiredActions:         requiredActions(o.RequiredActions.V),
	}
	for _, it := range o.OrderItems {
		if it == nil {
			continue
		}
		item := &hooklinev1.SwyftOrderItem{
			SubmitTime: a.parseTime(it.SubmittedAt.String()),
			Type:       it.Type.String(),
		}
		for _, sku := range it.Items {
			item.Items = append(item.Items, sku.String())
		}
		so.OrderItems = append(so.OrderItems, item)
	}
	return so
}

func business(b *wireBusiness) *hooklinev1.SwyftBusiness {
	if b == nil || *b == (wireBusiness{}) {
		return nil
	}
	return &hooklinev1.SwyftBusiness{
		Name:           b.Name.String(),
		Type:           intOrZero(b.Type),
		TypeName:       b.TypeName.String(),
		Designator:     b.Designator.String(),
		FormationState: b.FormationState.String(),
		FormationDate:  b.FormationDate.String(),
		Category:       b.Category.String(),
		CategoryName:   b.CategoryName.String(),
	}
}

func requiredActions(ra *wireRequiredActions) *hooklinev1.SwyftRequiredActions {
	if ra == nil {
		return nil
	}
	lists := wireRequiredActionLists{Rejections: ra.Rejections, Questionnaires: ra.Questionnaires, Alerts: ra.Alerts}
	if ra.Nested.V != nil {
		lists = *ra.Nested.V
	}
	out := &hooklinev1.SwyftRequiredActions{}
	for _, r := range lists.Rejections {
		if r == nil {
			continue
		}
		out.Rejections = append(out.Rejections, &hooklinev1.SwyftRejection{
			Id:        intOrZero(r.ID),
			ErrorCode: intOrZero(r.ErrorCode),
			Reason:    r.Reason.String(),
			Message:   r.Message.String(),
		})
	}
	for _, q := range lists.Questionnaires {
		if q == nil {
			continue
		}
		out.Questionnaires = append(out.Questionnaires, &hooklinev1.SwyftQuestionnaire{
			Name:    q.Name.String(),
			Status:  q.Status.String(),
			Message: q.Message.String(),
		})
	}
	for _, al := range lists.Alerts {
		if al == nil {
			continue
		}
		out.Alerts = append(out.Alerts, &hooklinev1.SwyftAlert{
			Id:       intOrZero(al.ID),
			Headline: al.Headline.String(),
			Message:  al.Message.String(),
		})
	}
	if len(out.Rejections) == 0 && len(out.Questionnaires) == 0 && len(out.Alerts) == 0 {
		return nil
	}
	return out
}

// intOrZero returns the value of f, or 0 when it is null, absent, not an
// integer or out of range.
func intOrZero(f adapters.FlexInt) int64 {
	if !f.Valid {
		return 0
	}
	return f.Value
}
