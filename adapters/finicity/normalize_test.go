package finicity_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/adaptertest"
	"github.com/hookline/hookline/adapters/finicity"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// normalize runs a body through a fresh adapter with the given options and
// content type ("" sends none).
func normalize(t *testing.T, options map[string]string, contentType string, body []byte) (adapters.Result, error) {
	t.Helper()
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	d := &adapters.Delivery{Header: h, Body: body, ReceiveTime: adaptertest.ReceiveTime, ID: adaptertest.DeliveryID}
	return newAdapter(t, options).Normalize(d)
}

// normalizeOne normalizes body and requires exactly one event.
func normalizeOne(t *testing.T, options map[string]string, body []byte) *hooklinev1.Event {
	t.Helper()
	res, err := normalize(t, options, "application/json", body)
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	if res.Ping || len(res.Events) != 1 {
		t.Fatalf("Normalize = ping %v, %d events; want one event", res.Ping, len(res.Events))
	}
	return res.Events[0]
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func connectBody(eventType, payload string) []byte {
	return []byte(`{"customerId":"6030781868","eventType":"` + eventType +
		`","eventId":"1688829013433-66338a6a3594d4fefd09a49f","payload":` + payload + `}`)
}

func TestConnectMapping(t *testing.T) {
	tests := []struct {
		eventType string
		payload   string
		wantType  hooklinev1.EventType
		wantStage hooklinev1.SessionStage
		wantFail  string
	}{
		{"started", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_STARTED, hooklinev1.SessionStage_SESSION_STAGE_STARTED, ""},
		{"institutionSupported", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_INSTITUTION_SELECTED, hooklinev1.SessionStage_SESSION_STAGE_INSTITUTION_SELECTED, ""},
		{"institutionNotSupported", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_INSTITUTION_NOT_SUPPORTED, hooklinev1.SessionStage_SESSION_STAGE_INSTITUTION_SELECTED, "institution_not_supported"},
		{"institutionNotFound", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_INSTITUTION_NOT_FOUND, hooklinev1.SessionStage_SESSION_STAGE_INSTITUTION_SELECTED, "institution_not_found"},
		{"adding", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_SUBMITTED, hooklinev1.SessionStage_SESSION_STAGE_CREDENTIALS_SUBMITTED, ""},
		{"credentialsUpdated", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_SUBMITTED, hooklinev1.SessionStage_SESSION_STAGE_CREDENTIALS_SUBMITTED, ""},
		{"invalidCredentials", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_INVALID, hooklinev1.SessionStage_SESSION_STAGE_CREDENTIALS_SUBMITTED, "invalid_credentials"},
		{"mfa", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_MFA_CHALLENGED, hooklinev1.SessionStage_SESSION_STAGE_MFA, ""},
		{"mfaUpdated", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_MFA_ANSWERED, hooklinev1.SessionStage_SESSION_STAGE_MFA, ""},
		{"discovered", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_DISCOVERED, hooklinev1.SessionStage_SESSION_STAGE_ACCOUNTS_DISCOVERED, ""},
		{"added", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_ADDED, hooklinev1.SessionStage_SESSION_STAGE_ACCOUNTS_ADDED, ""},
		{"accountsDeleted", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_DELETED, hooklinev1.SessionStage_SESSION_STAGE_REVOKED, ""},
		{"processing", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_PROCESSING, hooklinev1.SessionStage_SESSION_STAGE_PROCESSING, ""},
		{"done", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, hooklinev1.SessionStage_SESSION_STAGE_DONE, ""},
		{"done", `[{"id":"a"},{"id":"b"}]`, hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, hooklinev1.SessionStage_SESSION_STAGE_DONE, ""},
		{"done", `[]`, hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, hooklinev1.SessionStage_SESSION_STAGE_DONE, ""},
		{"done", `null`, hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, hooklinev1.SessionStage_SESSION_STAGE_DONE, ""},
		{"unableToConnect", `{}`, hooklinev1.EventType_EVENT_TYPE_SESSION_FAILED, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "unable_to_connect"},
		{"unableToConnect", `{"code":102}`, hooklinev1.EventType_EVENT_TYPE_SESSION_FAILED, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "unable_to_connect:102"},
		{"unableToConnect", `{"code":"103"}`, hooklinev1.EventType_EVENT_TYPE_SESSION_FAILED, hooklinev1.SessionStage_SESSION_STAGE_FAILED, "unable_to_connect:103"},
	}
	for _, tt := range tests {
		for _, spelling := range []string{tt.eventType, strings.ToUpper(tt.eventType), strings.ToLower(tt.eventType)} {
			t.Run(spelling+"/"+tt.payload, func(t *testing.T) {
				ev := normalizeOne(t, nil, connectBody(spelling, tt.payload))
				s := ev.GetSession()
				if ev.GetType() != tt.wantType || s.GetStage() != tt.wantStage || s.GetFailureReason() != tt.wantFail {
					t.Errorf("got %v %v %q, want %v %v %q", ev.GetType(), s.GetStage(), s.GetFailureReason(),
						tt.wantType, tt.wantStage, tt.wantFail)
				}
				if ev.GetProviderEventType() != spelling {
					t.Errorf("provider_event_type = %q, want %q verbatim", ev.GetProviderEventType(), spelling)
				}
				if ev.GetSubject() != "6030781868" || s.GetCustomerId() != "6030781868" {
					t.Errorf("subject %q customer %q, want 6030781868", ev.GetSubject(), s.GetCustomerId())
				}
			})
		}
	}
}

func TestUnmappedConnect(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantReason hooklinev1.UnmappedReason
		wantHint   string
	}{
		{"unknown eventType", `{"customerId":"6030781868","eventType":"accountsRefreshed","eventId":"1688829013433-66338a6a3594d4fefd09a49f","payload":{}}`,
			hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE, "6030781868"},
		{"financialConsentCreated", `{"customerId":"1463546","eventType":"financialConsentCreated","eventId":"1700000091234-f8b8d39fd45bec7ef3d32b9c","payload":{}}`,
			hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE, "1463546"},
		{"missing customerId", `{"eventType":"processing","eventId":"1688829013433-66338a6a3594d4fefd09a49f","payload":{}}`,
			hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT, ""},
		{"empty customerId", `{"customerId":"","eventType":"processing","eventId":"1688829013433-66338a6a3594d4fefd09a49f","payload":{}}`,
			hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT, ""},
		{"no eventType nor eventName", `{"customerId":"6030781868","eventId":"1688829013433-66338a6a3594d4fefd09a49f","payload":{}}`,
			hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "6030781868"},
		{"empty eventType", `{"customerId":"6030781868","eventType":"","payload":{}}`,
			hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "6030781868"},
		{"null eventType", `{"customerId":"6030781868","eventType":null,"payload":{}}`,
			hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "6030781868"},
		{"accounts is an object", `{"customerId":"6030781868","eventType":"added","payload":{"accounts":{"id":"secret-value"}}}`,
			hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "6030781868"},
		{"account is a boolean", `{"customerId":"6030781868","eventType":"added","payload":{"accounts":[true]}}`,
			hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "6030781868"},
		{"balance is an object", `{"customerId":"6030781868","eventType":"added","payload":{"accounts":[{"id":"1","balance":{"secret-value":1}}]}}`,
			hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "6030781868"},
		{"institutionId is an array", `{"customerId":"6030781868","eventType":"adding","payload":{"institutionId":["secret-value"]}}`,
			hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "6030781868"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := normalizeOne(t, nil, []byte(tt.body))
			u := ev.GetUnmapped()
			if ev.GetType() != hooklinev1.EventType_EVENT_TYPE_UNMAPPED || u.GetReason() != tt.wantReason {
				t.Fatalf("got %v %v, want UNMAPPED %v", ev.GetType(), u.GetReason(), tt.wantReason)
			}
			if u.GetSubjectHint() != tt.wantHint || ev.GetSubject() != "" {
				t.Errorf("subject %q hint %q, want no subject and hint %q", ev.GetSubject(), u.GetSubjectHint(), tt.wantHint)
			}
			if u.GetDetail() == "" || strings.Contains(u.GetDetail(), "secret-value") {
				t.Errorf("detail %q is empty or quotes the payload", u.GetDetail())
			}
		})
	}
}

func TestPing(t *testing.T) {
	for _, body := range []string{
		`{"eventType":"ping","payload":{}}`,
		`{"eventType":"PING"}`,
		`{"eventType":"Ping","customerId":"6030781868","webhookData":{"sessionId":"x"}}`,
	} {
		res, err := normalize(t, nil, "application/json", []byte(body))
		if err != nil || !res.Ping || len(res.Events) != 0 {
			t.Errorf("%s: Normalize = %+v, %v; want a ping without events", body, res, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"eventType number": `{"customerId":"6030781868","eventType":5}`,
		"eventType object": `{"customerId":"6030781868","eventType":{"name":"started"}}`,
		"eventType array":  `{"customerId":"6030781868","eventType":["started"]}`,
		"customerId array": `{"customerId":["6030781868"],"eventType":"started"}`,
		"duplicate object": `{"eventType":"started"}{"eventType":"started"}`,
		"not an object":    `["eventType","started"]`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := normalize(t, nil, "application/json", []byte(body)); !errors.Is(err, adapters.ErrMalformed) {
				t.Errorf("Normalize = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestContentTypes(t *testing.T) {
	xml := []byte(`<?xml version="1.0"?><reportEvent><eventName>done</eventName></reportEvent>`)
	tests := []struct {
		contentType string
		body        []byte
		wantErr     error
		wantXML     bool
	}{
		{"", startedBody, nil, false},
		{"application/json", startedBody, nil, false},
		{"application/json; charset=utf-8", startedBody, nil, false},
		{"Application/JSON", startedBody, nil, false},
		{"application/xml", xml, nil, true},
		{"text/xml; charset=UTF-8", xml, nil, true},
		{"APPLICATION/XML", xml, nil, true},
		{"application/xml", startedBody, nil, true},
		{"text/plain", startedBody, adapters.ErrUnsupportedMediaType, false},
		{"application/x-www-form-urlencoded", startedBody, adapters.ErrUnsupportedMediaType, false},
		{"application/soap+xml", xml, adapters.ErrUnsupportedMediaType, false},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			res, err := normalize(t, nil, tt.contentType, tt.body)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Normalize = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(res.Events) != 1 {
				t.Fatalf("Normalize = %d events, %v; want one event", len(res.Events), err)
			}
			ev := res.Events[0]
			isXML := ev.GetProviderEventType() == "xml-report"
			if isXML != tt.wantXML {
				t.Fatalf("provider_event_type %q, want XML report %v", ev.GetProviderEventType(), tt.wantXML)
			}
			if !isXML {
				return
			}
			u := ev.GetUnmapped()
			if u.GetReason() != hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE ||
				u.GetDetail() != "XML report webhook kept unparsed" ||
				ev.GetProviderEventId() != "" || ev.GetTime() != nil ||
				!strings.HasSuffix(ev.GetDedupKey(), "\x1f"+adapters.BodyKey(tt.body)) {
				t.Errorf("XML report event = %v", ev)
			}
		})
	}
}

func TestEventTime(t *testing.T) {
	tests := []struct {
		eventID string
		want    time.Time // zero: unset
	}{
		{"1688828990123-a1f4e86d81aea57916fa5d65", time.UnixMilli(1688828990123)},
		{"1688828990123-", time.UnixMilli(1688828990123)},
		{"168882899012-a1f4e86d81aea57916fa5d65", time.Time{}},
		{"16888289901234-a1f4e86d81aea57916fa5d65", time.Time{}},
		{"1688828990123", time.Time{}},
		{"+688828990123-a1f4e86d81aea57916fa5d65", time.Time{}},
		{"168882899O123-a1f4e86d81aea57916fa5d65", time.Time{}},
		{"0000000000000-a1f4e86d81aea57916fa5d65", time.Time{}},
		{"", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.eventID, func(t *testing.T) {
			body := []byte(`{"customerId":"6030781868","eventType":"started","eventId":"` + tt.eventID + `","payload":{}}`)
			ev := normalizeOne(t, nil, body)
			got, update := ev.GetTime(), ev.GetSession().GetUpdateTime()
			if tt.want.IsZero() {
				if got != nil || update != nil {
					t.Errorf("time %v, update_time %v; want both unset", got, update)
				}
				return
			}
			if !got.AsTime().Equal(tt.want) || !update.AsTime().Equal(tt.want) {
				t.Errorf("time %v, update_time %v; want %v", got.AsTime(), update.AsTime(), tt.want)
			}
		})
	}
}

func TestDedup(t *testing.T) {
	key := func(body string) string {
		t.Helper()
		return normalizeOne(t, nil, []byte(body)).GetDedupKey()
	}
	const id = "1688828990123-a1f4e86d81aea57916fa5d65"
	connect := `{"customerId":"6030781868","eventType":"started","eventId":"` + id + `","payload":{}}`
	if k := key(connect); !strings.HasSuffix(k, "\x1fstarted\x1f"+id) {
		t.Errorf("Connect dedup key %q does not end with the eventType and eventId", k)
	}
	if a, b := key(connect), key(`{"eventId":"`+id+`","eventType":"started","customerId":"6030781868"}`); a != b {
		t.Errorf("same eventId, different byte order: keys %q and %q differ", a, b)
	}
	noID := `{"customerId":"6030781868","eventType":"started","payload":{}}`
	if k := key(noID); !strings.HasSuffix(k, adapters.BodyKey([]byte(noID))) {
		t.Errorf("Connect dedup key without eventId %q does not use the body hash", k)
	}

	report := `{"eventName":"done","id":"ft81ayiv0i3i","status":"success","customerId":6030781868}`
	reordered := `{"customerId":6030781868,"status":"success","id":"ft81ayiv0i3i","eventName":"done","type":"voa"}`
	if a, b := key(report), key(reordered); a != b || !strings.HasSuffix(a, "\x1fdone\x1freport:ft81ayiv0i3i:done:success") {
		t.Errorf("report dedup keys %q and %q, want equal and ending in report:ft81ayiv0i3i:done:success", a, b)
	}
	if a, b := key(report), key(strings.Replace(report, `"success"`, `"failure"`, 1)); a == b {
		t.Errorf("report dedup key ignores the status: %q", a)
	}
	noReportID := `{"eventName":"done","status":"success","customerId":6030781868}`
	if k := key(noReportID); !strings.HasSuffix(k, adapters.BodyKey([]byte(noReportID))) {
		t.Errorf("report dedup key without id %q does not use the body hash", k)
	}
}

func TestSessionKey(t *testing.T) {
	withField := map[string]string{finicity.OptionSessionField: "sessionId"}
	tests := []struct {
		name        string
		options     map[string]string
		webhookData string
		want        string
	}{
		{"string", withField, `{"sessionId":"sess_7f3c2a9e41d8"}`, "6030781868/sess_7f3c2a9e41d8"},
		{"number keeps digits", withField, `{"sessionId":88123456789012345678}`, "6030781868/88123456789012345678"},
		{"empty string", withField, `{"sessionId":""}`, "6030781868"},
		{"null", withField, `{"sessionId":null}`, "6030781868"},
		{"object", withField, `{"sessionId":{"id":"x"}}`, "6030781868"},
		{"boolean", withField, `{"sessionId":true}`, "6030781868"},
		{"key differs in case", withField, `{"SessionID":"sess_x"}`, "6030781868"},
		{"field absent", withField, `{"loanNumber":"LN-1"}`, "6030781868"},
		{"webhookData array", withField, `["sessionId"]`, "6030781868"},
		{"webhookData absent", withField, ``, "6030781868"},
		{"option unset", nil, `{"sessionId":"sess_7f3c2a9e41d8"}`, "6030781868"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"customerId":"6030781868","eventType":"started","eventId":"1688828990123-a1f4e86d81aea57916fa5d65","payload":{}`
			if tt.webhookData != "" {
				body += `,"webhookData":` + tt.webhookData
			}
			ev := normalizeOne(t, tt.options, []byte(body+`}`))
			if ev.GetSubject() != tt.want || ev.GetSession().GetSessionKey() != tt.want {
				t.Errorf("subject %q session key %q, want %q", ev.GetSubject(), ev.GetSession().GetSessionKey(), tt.want)
			}
			if ev.GetSession().GetCustomerId() != "6030781868" {
				t.Errorf("customer_id %q, want the bare customerId", ev.GetSession().GetCustomerId())
			}
		})
	}
	t.Run("no customerId", func(t *testing.T) {
		ev := normalizeOne(t, withField, []byte(`{"eventType":"started","webhookData":{"sessionId":"sess_x"}}`))
		if ev.GetUnmapped().GetReason() != hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT {
			t.Errorf("got %v, want MISSING_SUBJECT", ev)
		}
	})
}

func TestAccounts(t *testing.T) {
	s := normalizeOne(t, nil, fixture(t, "added")).GetSession()
	if len(s.GetAccounts()) != 2 {
		t.Fatalf("%d accounts, want 2", len(s.GetAccounts()))
	}
	checking, card := s.GetAccounts()[0], s.GetAccounts()[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"checking balance", checking.GetBalance(), "2304.5"},
		{"checking available balance", checking.GetAvailableBalance(), "2290.05"},
		{"checking period interest rate", checking.GetPeriodInterestRate(), "0.01"},
		{"checking aggregation status code set to 0", checking.AggregationStatusCode != nil && *checking.AggregationStatusCode == 0, true},
		{"checking last update", checking.GetLastUpdateTime().AsTime(), time.Unix(1688829055, 0).UTC()},
		{"checking balance time", checking.GetBalanceTime().AsTime(), time.Unix(1688828400, 0).UTC()},
		{"checking last4", checking.GetRealAccountNumberLast4(), "8810"},
		{"card balance", card.GetBalance(), "-1952.71"},
		{"card login id above int32", card.GetInstitutionLoginId(), "6026370998"},
		{"card lastUpdatedDate 0 is unset", card.GetLastUpdateTime() == nil, true},
		{"card aggregation status code unset", card.AggregationStatusCode == nil, true},
		{"card created", card.GetCreateTime().AsTime(), time.Unix(1688829021, 0).UTC()},
		{"card display position", card.GetDisplayPosition(), int64(4)},
		{"card type", card.GetType(), "creditCard"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if s.Oauth == nil || *s.Oauth || s.GetInstitutionId() != "101732" {
		t.Errorf("oauth %v institution %q, want false and 101732", s.Oauth, s.GetInstitutionId())
	}
}

func TestAccountIDs(t *testing.T) {
	ev := normalizeOne(t, nil, connectBody("accountsDeleted", `{"accounts":["6055993951",6055993967,null],"institutionId":"101732"}`))
	got := ev.GetSession().GetAccountIds()
	if len(got) != 2 || got[0] != "6055993951" || got[1] != "6055993967" || len(ev.GetSession().GetAccounts()) != 0 {
		t.Errorf("account_ids %q accounts %d, want [6055993951 6055993967] and none", got, len(ev.GetSession().GetAccounts()))
	}
}

func TestReports(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantType   hooklinev1.EventType
		wantReason hooklinev1.UnmappedReason
		wantKey    string
	}{
		{"numeric customerId", `{"eventName":"done","id":"r1","status":"success","customerId":6030781868,"consumerId":"c1"}`,
			hooklinev1.EventType_EVENT_TYPE_REPORT_COMPLETED, 0, "6030781868"},
		{"consumerId fallback", `{"eventName":"inProgress","id":"r1","status":"inProgress","consumerId":"c1"}`,
			hooklinev1.EventType_EVENT_TYPE_REPORT_IN_PROGRESS, 0, "c1"},
		{"case-insensitive", `{"eventName":"PRIMARYFIELDUPDATE","id":"r1","status":"editing","customerId":"6030781868"}`,
			hooklinev1.EventType_EVENT_TYPE_REPORT_UPDATED, 0, "6030781868"},
		{"failed", `{"eventName":"failed","id":"r1","status":"failure","customerId":"6030781868"}`,
			hooklinev1.EventType_EVENT_TYPE_REPORT_FAILED, 0, "6030781868"},
		{"unknown eventName", `{"eventName":"archived","id":"r1","status":"success","customerId":"6030781868"}`,
			hooklinev1.EventType_EVENT_TYPE_UNMAPPED, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE, ""},
		{"no subject", `{"eventName":"done","id":"r1","status":"success"}`,
			hooklinev1.EventType_EVENT_TYPE_UNMAPPED, hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT, ""},
		{"custom fields not an array", `{"eventName":"done","id":"r1","status":"success","customerId":1,"reportCustomFields":{"label":"x"}}`,
			hooklinev1.EventType_EVENT_TYPE_UNMAPPED, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, ""},
		{"eventType wins over eventName", `{"eventName":"done","eventType":"processing","customerId":"6030781868"}`,
			hooklinev1.EventType_EVENT_TYPE_SESSION_PROCESSING, 0, "6030781868"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := normalizeOne(t, nil, []byte(tt.body))
			if ev.GetType() != tt.wantType || ev.GetUnmapped().GetReason() != tt.wantReason || ev.GetSubject() != tt.wantKey {
				t.Fatalf("got %v %v subject %q, want %v %v %q", ev.GetType(), ev.GetUnmapped().GetReason(), ev.GetSubject(),
					tt.wantType, tt.wantReason, tt.wantKey)
			}
			if strings.HasPrefix(tt.wantType.String(), "EVENT_TYPE_REPORT_") {
				s := ev.GetSession()
				if s.GetStage() != hooklinev1.SessionStage_SESSION_STAGE_UNSPECIFIED || s.GetReport().GetId() != "r1" ||
					ev.GetTime() != nil || ev.GetProviderEventId() != "" {
					t.Errorf("report event = %v", ev)
				}
			}
		})
	}
}

func TestReportFields(t *testing.T) {
	s := normalizeOne(t, nil, fixture(t, "report_done")).GetSession()
	r := s.GetReport()
	if r.GetId() != "ft81ayiv0i3i" || r.GetType() != "voa" || r.GetStatus() != "success" ||
		r.GetPortfolioId() != "8f8ub3lkx5xp-1-port" || s.GetCustomerId() != "6030781868" ||
		s.GetConsumerId() != "0bf46322c167b562e5f2a6ed0fbb6e9b" {
		t.Errorf("report session = %v", s)
	}
	f := r.GetCustomFields()
	if len(f) != 2 || f[0].GetLabel() != "loanID" || f[0].GetValue() != "12345" || !f[0].GetShown() || f[1].GetShown() {
		t.Errorf("custom fields = %v", f)
	}
}

// TestNoSSN checks that consumerSsn reaches no normalized field: only the raw
// delivery may hold it.
func TestNoSSN(t *testing.T) {
	const ssn = "4917"
	body := []byte(`{"eventName":"done","id":"ft81ayiv0i3i","consumerId":"0bf46322c167b562e5f2a6ed0fbb6e9b",` +
		`"consumerSsn":"` + ssn + `","type":"voa","status":"success","customerId":6030781868}`)
	ev := normalizeOne(t, nil, body)
	c := proto.Clone(ev).(*hooklinev1.Event)
	c.Raw = nil
	b, err := protojson.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), ssn) {
		t.Errorf("normalized event carries the SSN digits: %s", b)
	}
	if !strings.Contains(string(ev.GetRaw().GetBody()), ssn) {
		t.Errorf("raw delivery lost the body")
	}
}
