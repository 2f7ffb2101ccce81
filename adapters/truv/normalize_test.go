package truv

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/adaptertest"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// normalizeOne normalizes body (Content-Type application/json) and returns
// its single event, checking the event invariants on the way.
func normalizeOne(t *testing.T, body string) *hooklinev1.Event {
	t.Helper()
	a := suite.New(t, adaptertest.Secret)
	d := suite.Delivery([]byte(body), adaptertest.Secret, http.Header{"Content-Type": {"application/json"}})
	res, err := a.Normalize(d)
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	if res.Ping || len(res.Events) != 1 {
		t.Fatalf("Normalize: ping %v, %d events; want one event", res.Ping, len(res.Events))
	}
	for _, err := range adaptertest.Invariants(hooklinev1.Provider_PROVIDER_TRUV, "test", d, res.Events) {
		t.Error(err)
	}
	return res.Events[0]
}

// normalizeErr normalizes body with the given Content-Type and returns the
// error.
func normalizeErr(t *testing.T, body, contentType string) error {
	t.Helper()
	a := suite.New(t, adaptertest.Secret)
	_, err := a.Normalize(suite.Delivery([]byte(body), adaptertest.Secret, http.Header{"Content-Type": {contentType}}))
	return err
}

// withEventType is a body carrying every id, so any known event type maps.
func withEventType(eventType string) string {
	return `{"webhook_id":"b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6","event_type":"` + eventType + `",` +
		`"event_created_at":"2024-07-11T21:40:48.424610Z","updated_at":"2024-07-11T21:40:48.424655+00:00",` +
		`"order_id":"order-1","task_id":"task-1","link_id":"link-1","status":"done"}`
}

func TestEventTypeMapping(t *testing.T) {
	const (
		order    = "order"
		session  = "session"
		unmapped = "unmapped"
	)
	tests := []struct {
		eventType   string
		wantType    hooklinev1.EventType
		wantBody    string
		wantSubject string
		wantStage   hooklinev1.SessionStage
	}{
		{"order-created", hooklinev1.EventType_EVENT_TYPE_ORDER_CREATED, order, "order-1", 0},
		{"order-status-updated", hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, order, "order-1", 0},
		{"order-refresh-failed", hooklinev1.EventType_EVENT_TYPE_ORDER_REFRESH_FAILED, order, "order-1", 0},
		{"order-finalized", hooklinev1.EventType_EVENT_TYPE_ORDER_FINALIZED, order, "order-1", 0},
		{"certification-completed", hooklinev1.EventType_EVENT_TYPE_ORDER_CERTIFICATION_COMPLETED, order, "order-1", 0},
		{"task-status-updated", hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, session, "task-1", hooklinev1.SessionStage_SESSION_STAGE_DONE},
		{"link-connected", hooklinev1.EventType_EVENT_TYPE_LINK_CONNECTED, session, "link-1", hooklinev1.SessionStage_SESSION_STAGE_CONNECTED},
		{"link-disconnected", hooklinev1.EventType_EVENT_TYPE_LINK_DISCONNECTED, session, "link-1", hooklinev1.SessionStage_SESSION_STAGE_FAILED},
		{"link-deleted", hooklinev1.EventType_EVENT_TYPE_LINK_DELETED, session, "link-1", hooklinev1.SessionStage_SESSION_STAGE_REVOKED},
		{"employment-created", hooklinev1.EventType_EVENT_TYPE_DATA_CREATED, session, "task-1", 0},
		{"employment-updated", hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED, session, "task-1", 0},
		{"profile-created", hooklinev1.EventType_EVENT_TYPE_DATA_CREATED, session, "task-1", 0},
		{"profile-updated", hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED, session, "task-1", 0},
		{"statements-created", hooklinev1.EventType_EVENT_TYPE_DATA_CREATED, session, "task-1", 0},
		{"statements-updated", hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED, session, "task-1", 0},
		{"shifts-created", hooklinev1.EventType_EVENT_TYPE_DATA_CREATED, session, "task-1", 0},
		{"shifts-updated", hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED, session, "task-1", 0},
		{"bank-accounts-created", hooklinev1.EventType_EVENT_TYPE_DATA_CREATED, session, "task-1", 0},
		{"bank-accounts-updated", hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED, session, "task-1", 0},
		// Folding: case and `_` vs `-`; surrounding spaces.
		{"order_created", hooklinev1.EventType_EVENT_TYPE_ORDER_CREATED, order, "order-1", 0},
		{"ORDER-STATUS-UPDATED", hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, order, "order-1", 0},
		{"Task_Status_Updated", hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, session, "task-1", hooklinev1.SessionStage_SESSION_STAGE_DONE},
		{"bank_accounts_created", hooklinev1.EventType_EVENT_TYPE_DATA_CREATED, session, "task-1", 0},
		{" link-deleted ", hooklinev1.EventType_EVENT_TYPE_LINK_DELETED, session, "link-1", hooklinev1.SessionStage_SESSION_STAGE_REVOKED},
		// Unknown types.
		{"payroll-report-ready", hooklinev1.EventType_EVENT_TYPE_UNMAPPED, unmapped, "", 0},
		{"order-updated", hooklinev1.EventType_EVENT_TYPE_UNMAPPED, unmapped, "", 0},
		{"order status updated", hooklinev1.EventType_EVENT_TYPE_UNMAPPED, unmapped, "", 0},
		{"employment", hooklinev1.EventType_EVENT_TYPE_UNMAPPED, unmapped, "", 0},
		{"link-refreshed", hooklinev1.EventType_EVENT_TYPE_UNMAPPED, unmapped, "", 0},
		{" ", hooklinev1.EventType_EVENT_TYPE_UNMAPPED, unmapped, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.eventType, func(t *testing.T) {
			ev := normalizeOne(t, withEventType(tt.eventType))
			if ev.GetType() != tt.wantType {
				t.Errorf("type %v, want %v", ev.GetType(), tt.wantType)
			}
			if got := bodyKind(ev); got != tt.wantBody {
				t.Errorf("body %s, want %s", got, tt.wantBody)
			}
			if ev.GetSubject() != tt.wantSubject {
				t.Errorf("subject %q, want %q", ev.GetSubject(), tt.wantSubject)
			}
			if ev.GetSession().GetStage() != tt.wantStage {
				t.Errorf("stage %v, want %v", ev.GetSession().GetStage(), tt.wantStage)
			}
			if ev.GetProviderEventType() != tt.eventType {
				t.Errorf("provider event type %q, want %q verbatim", ev.GetProviderEventType(), tt.eventType)
			}
		})
	}
}

func bodyKind(ev *hooklinev1.Event) string {
	switch ev.GetBody().(type) {
	case *hooklinev1.Event_Order:
		return "order"
	case *hooklinev1.Event_Session:
		return "session"
	case *hooklinev1.Event_Unmapped:
		return "unmapped"
	default:
		return "none"
	}
}

func TestUnknownEventType(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantHint string
	}{
		{"order id", `{"event_type":"x-y","order_id":"o1","task_id":"t1","link_id":"l1"}`, "o1"},
		{"task id", `{"event_type":"x-y","order_id":null,"task_id":"t1","link_id":"l1"}`, "t1"},
		{"link id", `{"event_type":"x-y","order_id":"","link_id":"l1"}`, "l1"},
		{"none", `{"event_type":"x-y"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := normalizeOne(t, tt.body)
			u := ev.GetUnmapped()
			if u.GetReason() != hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE || u.GetSubjectHint() != tt.wantHint {
				t.Errorf("unmapped %v hint %q, want UNKNOWN_EVENT_TYPE hint %q", u.GetReason(), u.GetSubjectHint(), tt.wantHint)
			}
			if ev.GetSubject() != "" {
				t.Errorf("subject %q, want empty for an unmapped event", ev.GetSubject())
			}
		})
	}
}

func TestMissingEventType(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"absent", `{"webhook_id":"w1","task_id":"t1","status":"done"}`},
		{"null", `{"webhook_id":"w1","event_type":null,"task_id":"t1","status":"done"}`},
		{"empty", `{"webhook_id":"w1","event_type":"","task_id":"t1","status":"done"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := normalizeOne(t, tt.body)
			u := ev.GetUnmapped()
			if u.GetReason() != hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE || u.GetSubjectHint() != "t1" {
				t.Errorf("unmapped %v hint %q, want UNEXPECTED_SHAPE hint t1", u.GetReason(), u.GetSubjectHint())
			}
			if ev.GetProviderEventType() != "(missing)" || ev.GetProviderEventId() != "w1" {
				t.Errorf("provider event type %q id %q, want (missing) and w1", ev.GetProviderEventType(), ev.GetProviderEventId())
			}
		})
	}
}

func TestMissingSubject(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantDetail string
	}{
		{"order id absent", `{"event_type":"order-status-updated","status":"sent"}`, "order_id is missing"},
		{"order id null", `{"event_type":"order-created","order_id":null}`, "order_id is missing"},
		{"order id empty", `{"event_type":"order-refresh-failed","order_id":""}`, "order_id is missing"},
		{"finalized order id absent", `{"event_type":"order-finalized"}`, "order_id is missing"},
		{"certification order id absent", `{"event_type":"certification-completed","link_id":"l1"}`, "order_id is missing"},
		{"task id absent", `{"event_type":"task-status-updated","link_id":"l1","status":"done"}`, "task_id is missing"},
		{"task id null", `{"event_type":"task-status-updated","task_id":null,"status":"done"}`, "task_id is missing"},
		{"task id empty", `{"event_type":"task-status-updated","task_id":"","status":"done"}`, "task_id is missing"},
		{"link id absent", `{"event_type":"link-connected","task_id":"t1"}`, "link_id is missing"},
		{"link id null", `{"event_type":"link-disconnected","link_id":null}`, "link_id is missing"},
		{"link id empty", `{"event_type":"link-deleted","link_id":""}`, "link_id is missing"},
		{"data ids absent", `{"event_type":"statements-created","objects_count":3}`, "task_id and link_id are missing"},
		{"data ids null and empty", `{"event_type":"profile-updated","task_id":null,"link_id":""}`, "task_id and link_id are missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := normalizeOne(t, tt.body).GetUnmapped()
			if u.GetReason() != hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT || u.GetDetail() != tt.wantDetail {
				t.Errorf("unmapped %v %q, want MISSING_SUBJECT %q", u.GetReason(), u.GetDetail(), tt.wantDetail)
			}
		})
	}
}

func TestOrderStatus(t *testing.T) {
	tests := []struct {
		raw  string
		want hooklinev1.OrderStatus
	}{
		{"", hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED},
		{"pending", hooklinev1.OrderStatus_ORDER_STATUS_PENDING},
		{"sent", hooklinev1.OrderStatus_ORDER_STATUS_SENT},
		{"completed", hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED},
		{"done", hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED},
		{"error", hooklinev1.OrderStatus_ORDER_STATUS_ERROR},
		{"canceled", hooklinev1.OrderStatus_ORDER_STATUS_CANCELED},
		{"cancelled", hooklinev1.OrderStatus_ORDER_STATUS_CANCELED},
		{"expired", hooklinev1.OrderStatus_ORDER_STATUS_EXPIRED},
		{"skipped", hooklinev1.OrderStatus_ORDER_STATUS_SKIPPED},
		{"no_data", hooklinev1.OrderStatus_ORDER_STATUS_NO_DATA},
		{"no-data", hooklinev1.OrderStatus_ORDER_STATUS_NO_DATA},
		{"No Data", hooklinev1.OrderStatus_ORDER_STATUS_NO_DATA},
		{"COMPLETED", hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED},
		{" Pending ", hooklinev1.OrderStatus_ORDER_STATUS_PENDING},
		{"on_hold", hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN},
		{"login_error", hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN},
		{"created", hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN},
	}
	for _, tt := range tests {
		t.Run("status="+tt.raw, func(t *testing.T) {
			if got := orderStatus(tt.raw); got != tt.want {
				t.Errorf("orderStatus(%q) = %v, want %v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestOrderEventStatus(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		wantStatus  hooklinev1.OrderStatus
		wantRaw     string
		wantFailure string
	}{
		{"status updated", `{"event_type":"order-status-updated","order_id":"o1","status":"Cancelled"}`,
			hooklinev1.OrderStatus_ORDER_STATUS_CANCELED, "Cancelled", ""},
		{"status updated unknown", `{"event_type":"order-status-updated","order_id":"o1","status":"on_hold"}`,
			hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN, "on_hold", ""},
		{"status updated null", `{"event_type":"order-status-updated","order_id":"o1","status":null}`,
			hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED, "", ""},
		{"refresh failed login error", `{"event_type":"order-refresh-failed","order_id":"o1","status":"login_error"}`,
			hooklinev1.OrderStatus_ORDER_STATUS_ERROR, "login_error", "login_error"},
		{"refresh failed mfa error", `{"event_type":"order-refresh-failed","order_id":"o1","status":"mfa_error"}`,
			hooklinev1.OrderStatus_ORDER_STATUS_ERROR, "mfa_error", "mfa_error"},
		{"refresh failed unknown", `{"event_type":"order-refresh-failed","order_id":"o1","status":"Something New"}`,
			hooklinev1.OrderStatus_ORDER_STATUS_ERROR, "Something New", "Something New"},
		{"refresh failed empty", `{"event_type":"order-refresh-failed","order_id":"o1","status":""}`,
			hooklinev1.OrderStatus_ORDER_STATUS_ERROR, "", ""},
		{"refresh failed absent", `{"event_type":"order-refresh-failed","order_id":"o1"}`,
			hooklinev1.OrderStatus_ORDER_STATUS_ERROR, "", ""},
		{"finalized without status", `{"event_type":"order-finalized","order_id":"o1"}`,
			hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED, "", ""},
		{"finalized with status", `{"event_type":"order-finalized","order_id":"o1","status":"completed"}`,
			hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED, "completed", ""},
		{"certification with status", `{"event_type":"certification-completed","order_id":"o1","status":"done"}`,
			hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED, "done", ""},
		{"created pending", `{"event_type":"order-created","order_id":"o1","status":"pending"}`,
			hooklinev1.OrderStatus_ORDER_STATUS_PENDING, "pending", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := normalizeOne(t, tt.body).GetOrder()
			if o.GetStatus() != tt.wantStatus || o.GetRawStatus() != tt.wantRaw || o.GetFailureReason() != tt.wantFailure {
				t.Errorf("status %v raw %q failure %q, want %v %q %q",
					o.GetStatus(), o.GetRawStatus(), o.GetFailureReason(), tt.wantStatus, tt.wantRaw, tt.wantFailure)
			}
		})
	}
}

func TestTaskStatus(t *testing.T) {
	const (
		started    = hooklinev1.EventType_EVENT_TYPE_SESSION_STARTED
		login      = hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_SUBMITTED
		mfa        = hooklinev1.EventType_EVENT_TYPE_SESSION_MFA_CHALLENGED
		processing = hooklinev1.EventType_EVENT_TYPE_SESSION_PROCESSING
		completed  = hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED
		failed     = hooklinev1.EventType_EVENT_TYPE_SESSION_FAILED
		unknown    = hooklinev1.EventType_EVENT_TYPE_SESSION_STATUS_UNKNOWN
	)
	tests := []struct {
		raw         string
		wantType    hooklinev1.EventType
		wantStage   hooklinev1.SessionStage
		wantFailure string
	}{
		{"new", started, hooklinev1.SessionStage_SESSION_STAGE_STARTED, ""},
		{"pending", started, hooklinev1.SessionStage_SESSION_STAGE_STARTED, ""},
		{"login", login, hooklinev1.SessionStage_SESSION_STAGE_CREDENTIALS_SUBMITTED, ""},
		{"mfa", mfa, hooklinev1.SessionStage_SESSION_STAGE_MFA, ""},
		{"parse", processing, hooklinev1.SessionStage_SESSION_STAGE_PROCESSING, ""},
		{"full_parse", processing, hooklinev1.SessionStage_SESSION_STAGE_PROCESSING, ""},
		{"base_parse", processing, hooklinev1.SessionStage_SESSION_STAGE_PROCESSING, ""},
		{"switch_deposit", processing, hooklinev1.SessionStage_SESSION_STAGE_PROCESSING, ""},
		{"done", completed, hooklinev1.SessionStage_SESSION_STAGE_DONE, ""},
		{"login_error", failed, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "login_error"},
		{"mfa_error", failed, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "mfa_error"},
		{"config_error", failed, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "config_error"},
		{"account_locked", failed, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "account_locked"},
		{"unable_to_reset", failed, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "unable_to_reset"},
		{"no_data", failed, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "no_data"},
		{"unavailable", failed, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "unavailable"},
		{"error", failed, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "error"},
		{"not_supported", failed, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "not_supported"},
		// NormalizeToken folding; the failure reason stays verbatim.
		{"Full-Parse", processing, hooklinev1.SessionStage_SESSION_STAGE_PROCESSING, ""},
		{"LOGIN_ERROR", failed, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "LOGIN_ERROR"},
		{"account locked", failed, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "account locked"},
		// Unknown and empty.
		{"", unknown, hooklinev1.SessionStage_SESSION_STAGE_UNKNOWN, ""},
		{"waiting_for_documents", unknown, hooklinev1.SessionStage_SESSION_STAGE_UNKNOWN, ""},
		{"completed", unknown, hooklinev1.SessionStage_SESSION_STAGE_UNKNOWN, ""},
		{"canceled", unknown, hooklinev1.SessionStage_SESSION_STAGE_UNKNOWN, ""},
	}
	for _, tt := range tests {
		t.Run("status="+tt.raw, func(t *testing.T) {
			body := `{"event_type":"task-status-updated","task_id":"t1","link_id":"l1","status":"` + tt.raw + `"}`
			ev := normalizeOne(t, body)
			s := ev.GetSession()
			if ev.GetType() != tt.wantType || s.GetStage() != tt.wantStage || s.GetFailureReason() != tt.wantFailure {
				t.Errorf("type %v stage %v failure %q, want %v %v %q",
					ev.GetType(), s.GetStage(), s.GetFailureReason(), tt.wantType, tt.wantStage, tt.wantFailure)
			}
			if s.GetRawStatus() != tt.raw || s.GetSessionKey() != "t1" || s.GetTaskId() != "t1" || s.GetLinkId() != "l1" {
				t.Errorf("raw %q key %q task %q link %q, want %q t1 t1 l1",
					s.GetRawStatus(), s.GetSessionKey(), s.GetTaskId(), s.GetLinkId(), tt.raw)
			}
		})
	}
}

func TestTaskStatusNull(t *testing.T) {
	ev := normalizeOne(t, `{"event_type":"task-status-updated","task_id":"t1","status":null}`)
	if ev.GetType() != hooklinev1.EventType_EVENT_TYPE_SESSION_STATUS_UNKNOWN || ev.GetSession().GetRawStatus() != "" {
		t.Errorf("type %v raw %q, want SESSION_STATUS_UNKNOWN and empty raw", ev.GetType(), ev.GetSession().GetRawStatus())
	}
}

func TestDataObject(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantKey   string
		wantTask  string
		wantKind  string
		wantObj   string
		wantEmp   string
		wantCount string // "" means unset
	}{
		{"employment object", `{"event_type":"employment-created","task_id":"t1","link_id":"l1","object_id":"e1"}`,
			"t1", "t1", "employment", "e1", "", ""},
		{"profile object", `{"event_type":"profile-updated","task_id":"t1","object_id":"p1"}`,
			"t1", "t1", "profile", "p1", "", ""},
		{"count number", `{"event_type":"statements-created","task_id":"t1","employment_id":"e1","objects_count":9}`,
			"t1", "t1", "statements", "", "e1", "9"},
		{"count string", `{"event_type":"shifts-updated","task_id":"t1","objects_count":"12"}`,
			"t1", "t1", "shifts", "", "", "12"},
		{"count zero", `{"event_type":"bank-accounts-updated","task_id":"t1","objects_count":0}`,
			"t1", "t1", "bank-accounts", "", "", "0"},
		{"count null", `{"event_type":"bank-accounts-created","task_id":"t1","objects_count":null}`,
			"t1", "t1", "bank-accounts", "", "", ""},
		{"count fractional", `{"event_type":"statements-updated","task_id":"t1","objects_count":2.5}`,
			"t1", "t1", "statements", "", "", ""},
		{"link fallback", `{"event_type":"statements-created","task_id":null,"link_id":"l1","objects_count":3}`,
			"l1", "", "statements", "", "", "3"},
		{"numeric ids", `{"event_type":"employment-updated","task_id":12345678901234567890,"object_id":42}`,
			"12345678901234567890", "12345678901234567890", "employment", "42", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := normalizeOne(t, tt.body)
			s := ev.GetSession()
			d := s.GetData()
			if s.GetSessionKey() != tt.wantKey || s.GetTaskId() != tt.wantTask || s.GetStage() != hooklinev1.SessionStage_SESSION_STAGE_UNSPECIFIED {
				t.Errorf("key %q task %q stage %v, want %q %q UNSPECIFIED", s.GetSessionKey(), s.GetTaskId(), s.GetStage(), tt.wantKey, tt.wantTask)
			}
			if d.GetKind() != tt.wantKind || d.GetObjectId() != tt.wantObj || d.GetEmploymentId() != tt.wantEmp || countString(d) != tt.wantCount {
				t.Errorf("data %v, want kind %q object %q employment %q count %q", d, tt.wantKind, tt.wantObj, tt.wantEmp, tt.wantCount)
			}
		})
	}
}

func countString(d *hooklinev1.DataObject) string {
	if d.ObjectsCount == nil {
		return ""
	}
	return strconv.FormatInt(*d.ObjectsCount, 10)
}

func TestTrackingInfo(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"absent", ``, ""},
		{"null", `,"tracking_info":null`, ""},
		{"empty", `,"tracking_info":""`, ""},
		{"string", `,"tracking_info":"employer-7"`, "employer-7"},
		{"number", `,"tracking_info":1234567890123`, "1234567890123"},
		{"bool", `,"tracking_info":true`, "true"},
		{"object", `,"tracking_info": { "a" : 1, "b" : [ "x", null ] , "c":"<&>" }`, `{"a":1,"b":["x",null],"c":"<&>"}`},
		{"array", `,"tracking_info":[ 1, 2 ]`, `[1,2]`},
		{"empty object", `,"tracking_info":{}`, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"event_type":"link-connected","link_id":"l1"` + tt.raw + `}`
			if got := normalizeOne(t, body).GetSession().GetTrackingInfo(); got != tt.want {
				t.Errorf("tracking_info %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLinkFields(t *testing.T) {
	body := `{"webhook_id":"w1","event_type":"link-disconnected","event_created_at":"2024-07-11T21:55:30.912054Z",` +
		`"updated_at":"2024-07-11T21:55:30.912101+00:00","product":"income","link_id":"l1","user_id":"u1",` +
		`"data_source":"payroll","tracking_info":"t-info","template_id":"tpl1","task_id":"t9","status":"login_error"}`
	s := normalizeOne(t, body).GetSession()
	want := &hooklinev1.SessionEvent{
		SessionKey: "l1", Stage: hooklinev1.SessionStage_SESSION_STAGE_FAILED, FailureReason: "link_disconnected",
		LinkId: "l1", UserId: "u1", Product: "income", DataSource: "payroll", TrackingInfo: "t-info", TemplateId: "tpl1",
	}
	if s.GetSessionKey() != want.SessionKey || s.GetStage() != want.Stage || s.GetFailureReason() != want.FailureReason ||
		s.GetLinkId() != want.LinkId || s.GetUserId() != want.UserId || s.GetProduct() != want.Product ||
		s.GetDataSource() != want.DataSource || s.GetTrackingInfo() != want.TrackingInfo || s.GetTemplateId() != want.TemplateId {
		t.Errorf("session %v, want %v", s, want)
	}
	if s.GetRawStatus() != "" || s.GetTaskId() != "" {
		t.Errorf("link event carries raw status %q / task id %q; the spec fills neither", s.GetRawStatus(), s.GetTaskId())
	}
}

func TestTimes(t *testing.T) {
	created := time.Date(2024, 7, 11, 21, 40, 48, 424610000, time.UTC)
	updated := time.Date(2024, 7, 11, 21, 40, 48, 424655000, time.UTC)
	tests := []struct {
		name       string
		fields     string
		wantTime   time.Time // zero means unset
		wantUpdate time.Time
	}{
		{"both", `"event_created_at":"2024-07-11T21:40:48.424610Z","updated_at":"2024-07-11T21:40:48.424655+00:00"`, created, updated},
		{"created only", `"event_created_at":"2024-07-11T21:40:48.424610Z"`, created, created},
		{"updated only", `"updated_at":"2024-07-11T21:40:48.424655+00:00"`, updated, updated},
		{"created null", `"event_created_at":null,"updated_at":"2024-07-11T21:40:48.424655+00:00"`, updated, updated},
		{"created unparsable", `"event_created_at":"yesterday","updated_at":"2024-07-11T21:40:48.424655+00:00"`, updated, updated},
		{"updated empty", `"event_created_at":"2024-07-11T21:40:48.424610Z","updated_at":""`, created, created},
		{"offset", `"event_created_at":"2024-07-11T23:40:48.42461+02:00"`, created, created},
		{"neither", `"product":"income"`, time.Time{}, time.Time{}},
		{"both unparsable", `"event_created_at":1720734048,"updated_at":"2024-07-11"`, time.Time{}, time.Time{}},
	}
	for _, tt := range tests {
		for _, eventType := range []string{"order-status-updated", "task-status-updated"} {
			t.Run(tt.name+"/"+eventType, func(t *testing.T) {
				body := `{"event_type":"` + eventType + `","order_id":"o1","task_id":"t1",` + tt.fields + `}`
				ev := normalizeOne(t, body)
				if got := timeOf(ev.GetTime()); !got.Equal(tt.wantTime) {
					t.Errorf("time %v, want %v", got, tt.wantTime)
				}
				if got := timeOf(updateTime(ev)); !got.Equal(tt.wantUpdate) {
					t.Errorf("update time %v, want %v", got, tt.wantUpdate)
				}
			})
		}
	}
}

// timeOf returns the time of ts, or the zero time when ts is unset.
func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// updateTime returns the body's update_time of an order or session event.
func updateTime(ev *hooklinev1.Event) *timestamppb.Timestamp {
	if o := ev.GetOrder(); o != nil {
		return o.GetUpdateTime()
	}
	return ev.GetSession().GetUpdateTime()
}

func TestDedup(t *testing.T) {
	t.Run("webhook id verbatim", func(t *testing.T) {
		ev := normalizeOne(t, `{"webhook_id":" ABC-1 ","event_type":"link-deleted","link_id":"l1"}`)
		if ev.GetProviderEventId() != " ABC-1 " || !strings.HasSuffix(ev.GetDedupKey(), "\x1flink-deleted\x1f ABC-1 ") {
			t.Errorf("provider event id %q dedup key %q", ev.GetProviderEventId(), ev.GetDedupKey())
		}
	})
	t.Run("numeric webhook id", func(t *testing.T) {
		ev := normalizeOne(t, `{"webhook_id":123456789012345678901234567890,"event_type":"link-deleted","link_id":"l1"}`)
		if ev.GetProviderEventId() != "123456789012345678901234567890" {
			t.Errorf("provider event id %q", ev.GetProviderEventId())
		}
	})
	t.Run("missing webhook id uses the body hash", func(t *testing.T) {
		body := `{"webhook_id":null,"event_type":"link-deleted","link_id":"l1"}`
		ev := normalizeOne(t, body)
		want := adapters.DedupKey(hooklinev1.Provider_PROVIDER_TRUV, "test", "link-deleted", adapters.BodyKey([]byte(body)))
		if ev.GetProviderEventId() != "" || ev.GetDedupKey() != want {
			t.Errorf("provider event id %q dedup key %q, want empty and %q", ev.GetProviderEventId(), ev.GetDedupKey(), want)
		}
	})
	t.Run("same id on two event types differs", func(t *testing.T) {
		a := normalizeOne(t, `{"webhook_id":"w1","event_type":"statements-created","task_id":"t1"}`)
		b := normalizeOne(t, `{"webhook_id":"w1","event_type":"statements-updated","task_id":"t1"}`)
		if a.GetId() == b.GetId() || a.GetDedupKey() == b.GetDedupKey() {
			t.Errorf("ids %q / %q and keys %q / %q must differ", a.GetId(), b.GetId(), a.GetDedupKey(), b.GetDedupKey())
		}
	})
	t.Run("retry with the same id is the same event", func(t *testing.T) {
		a := normalizeOne(t, `{"webhook_id":"w1","event_type":"task-status-updated","task_id":"t1","status":"login"}`)
		b := normalizeOne(t, `{"webhook_id":"w1","event_type":"task-status-updated","task_id":"t1","status":"login","updated_at":"2024-07-11T21:40:48Z"}`)
		if a.GetId() != b.GetId() {
			t.Errorf("ids %q / %q differ", a.GetId(), b.GetId())
		}
	})
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantReason string
	}{
		{"event type number", `{"event_type":1,"order_id":"o1"}`, "event_type is not a string"},
		{"event type object", `{"event_type":{"name":"order-created"},"order_id":"o1"}`, "event_type is not a string"},
		{"event type array", `{"event_type":["order-created"]}`, "event_type is not a string"},
		{"event type bool", `{"event_type":true}`, "event_type is not a string"},
		{"order id object", `{"event_type":"order-created","order_id":{"id":"o1"}}`, "order_id"},
		{"status array", `{"event_type":"task-status-updated","task_id":"t1","status":["done"]}`, "status"},
		{"objects count object", `{"event_type":"shifts-created","task_id":"t1","objects_count":{}}`, "objects_count"},
		{"not json", `event_type=order-created`, "not a JSON object"},
		{"empty", ``, "empty body"},
		{"null", `null`, "not a JSON object"},
		{"two objects", `{"event_type":"order-created"}{"event_type":"order-created"}`, "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := normalizeErr(t, tt.body, "application/json")
			if !errors.Is(err, adapters.ErrMalformed) || !strings.Contains(err.Error(), tt.wantReason) {
				t.Errorf("Normalize = %v, want ErrMalformed mentioning %q", err, tt.wantReason)
			}
		})
	}
}

func TestContentType(t *testing.T) {
	body := `{"event_type":"link-deleted","link_id":"l1"}`
	tests := []struct {
		contentType string
		wantErr     error
	}{
		{"application/json", nil},
		{"application/json; charset=utf-8", nil},
		{"", nil},
		{"text/plain", adapters.ErrUnsupportedMediaType},
		{"application/x-www-form-urlencoded", adapters.ErrUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run("content-type="+tt.contentType, func(t *testing.T) {
			if err := normalizeErr(t, body, tt.contentType); !errors.Is(err, tt.wantErr) {
				t.Errorf("Normalize = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestEventTypeTablesCovered(t *testing.T) {
	// Every spec in the table must be fully described.
	for name, spec := range eventTypes {
		if spec.kind == 0 || (spec.kind != kindTask && spec.eventType == hooklinev1.EventType_EVENT_TYPE_UNSPECIFIED) {
			t.Errorf("%s: incomplete spec %+v", name, spec)
		}
		if name != eventKey(name) {
			t.Errorf("%s: table key is not folded (%q)", name, eventKey(name))
		}
	}
}
