package swyft_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/adaptertest"
	"github.com/hookline/hookline/adapters/swyft"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// suite describes the Swyft adapter to the shared tests. The secret is the
// full Authorization header value.
var suite = adaptertest.Suite{
	Factory: swyft.Factory,
	Sign: func(_, secret []byte) http.Header {
		return http.Header{swyft.AuthorizationHeader: {string(secret)}}
	},
	// A static credential: a tampered body cannot be detected.
	SignsBody: false,
	BadAuth:   badAuth(),
	Dir:       "testdata",
	UnknownEventBody: []byte(`{"event_id":"1000000099","event":{"name":"filings_error"},` +
		`"order":{"id":1,"uuid":"a746224f-d569-4aba-a271-4532259aba42"}}`),
}

// badAuth is the standard set of header mutations plus a different scheme
// and a changed case: the comparison is exact.
func badAuth() map[string]func(http.Header) {
	bad := adaptertest.StandardBadAuth(swyft.AuthorizationHeader)
	bad["different-scheme"] = func(h http.Header) {
		h.Set(swyft.AuthorizationHeader, "Basic "+h.Get(swyft.AuthorizationHeader))
	}
	bad["case-changed"] = func(h http.Header) {
		h.Set(swyft.AuthorizationHeader, strings.ToUpper(h.Get(swyft.AuthorizationHeader)))
	}
	return bad
}

func TestGoldens(t *testing.T) { adaptertest.RunGoldens(t, suite) }

func TestConformance(t *testing.T) { adaptertest.RunConformance(t, suite) }

func FuzzNormalize(f *testing.F) { adaptertest.FuzzNormalize(f, suite) }

func FuzzVerify(f *testing.F) { adaptertest.FuzzVerify(f, suite, swyft.AuthorizationHeader) }

func TestFactory(t *testing.T) {
	f := swyft.Factory
	if f.Provider != hooklinev1.Provider_PROVIDER_SWYFT || f.Name != "swyft" || len(f.Aliases) != 0 {
		t.Errorf("Factory = {%v %q %v}, want {PROVIDER_SWYFT \"swyft\" []}", f.Provider, f.Name, f.Aliases)
	}
}

func TestNewConfig(t *testing.T) {
	valid := func() adapters.Config {
		return adapters.Config{Source: "prod", Secrets: [][]byte{[]byte("Bearer s3cr3t")}}
	}
	tests := []struct {
		name    string
		mutate  func(*adapters.Config)
		wantErr bool
	}{
		{"default zone", func(*adapters.Config) {}, false},
		{"UTC", func(c *adapters.Config) { c.Options = map[string]string{"time_zone": "UTC"} }, false},
		{"empty zone means default", func(c *adapters.Config) { c.Options = map[string]string{"time_zone": ""} }, false},
		{"IANA zone", func(c *adapters.Config) { c.Options = map[string]string{"time_zone": "America/New_York"} }, false},
		{"unknown zone", func(c *adapters.Config) { c.Options = map[string]string{"time_zone": "Mars/Olympus_Mons"} }, true},
		{"offset is not a zone name", func(c *adapters.Config) { c.Options = map[string]string{"time_zone": "+02:00"} }, true},
		{"machine-local zone", func(c *adapters.Config) { c.Options = map[string]string{"time_zone": "Local"} }, true},
		{"unknown option", func(c *adapters.Config) { c.Options = map[string]string{"timezone": "UTC"} }, true},
		{"no secrets", func(c *adapters.Config) { c.Secrets = nil }, true},
		{"no secrets, explicitly unauthenticated", func(c *adapters.Config) {
			c.Secrets, c.AllowUnauthenticated = nil, true
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mutate(&cfg)
			_, err := swyft.New(cfg)
			if (err != nil) != tt.wantErr {
				t.Errorf("New = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	a, err := swyft.New(adapters.Config{Source: "prod", Secrets: [][]byte{
		[]byte("Bearer old-s3cr3t"), []byte("Bearer new-s3cr3t"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"old secret (rotation)", http.Header{"Authorization": {"Bearer old-s3cr3t"}}, true},
		{"new secret (rotation)", http.Header{"Authorization": {"Bearer new-s3cr3t"}}, true},
		{"missing", http.Header{}, false},
		{"empty", http.Header{"Authorization": {""}}, false},
		{"wrong value", http.Header{"Authorization": {"Bearer other"}}, false},
		{"prefix of a secret", http.Header{"Authorization": {"Bearer new-s3cr"}}, false},
		{"bare token without scheme", http.Header{"Authorization": {"new-s3cr3t"}}, false},
		{"scheme case changed", http.Header{"Authorization": {"bearer new-s3cr3t"}}, false},
		{"trailing space", http.Header{"Authorization": {"Bearer new-s3cr3t "}}, false},
		{"different scheme", http.Header{"Authorization": {"Basic new-s3cr3t"}}, false},
		{"two headers", http.Header{"Authorization": {"Bearer new-s3cr3t", "Bearer old-s3cr3t"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Verify(&adapters.Delivery{Header: tt.header, Body: []byte(`{}`)})
			switch {
			case tt.ok && err != nil:
				t.Errorf("Verify = %v, want nil", err)
			case !tt.ok && !errors.Is(err, adapters.ErrUnauthenticated):
				t.Errorf("Verify = %v, want ErrUnauthenticated", err)
			case err != nil && strings.Contains(err.Error(), "s3cr3t"):
				t.Errorf("Verify error %q reveals the credential", err)
			}
		})
	}
}

func TestVerifyAllowUnauthenticated(t *testing.T) {
	open, err := swyft.New(adapters.Config{Source: "dev", AllowUnauthenticated: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := open.Verify(&adapters.Delivery{Header: http.Header{}}); err != nil {
		t.Errorf("no secrets + AllowUnauthenticated: Verify = %v, want nil", err)
	}
	// Secrets still apply when configured alongside the flag.
	both, err := swyft.New(adapters.Config{Source: "dev", AllowUnauthenticated: true, Secrets: [][]byte{[]byte("Bearer x")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := both.Verify(&adapters.Delivery{Header: http.Header{}}); !errors.Is(err, adapters.ErrUnauthenticated) {
		t.Errorf("secrets + AllowUnauthenticated, no header: Verify = %v, want ErrUnauthenticated", err)
	}
}

// baseBody returns a valid order_status_change body with the order at the
// top level; tests mutate a fresh copy.
func baseBody() map[string]any {
	return map[string]any{
		"event_id": "2000000001",
		"event": map[string]any{
			"name": "order_status_change", "changed_field": "status",
			"old_status": "Active", "new_status": "Cancelled",
		},
		"order": baseOrder(),
	}
}

func baseOrder() map[string]any {
	return map[string]any{
		"id":                1,
		"uuid":              "a746224f-d569-4aba-a271-4532259aba42",
		"service":           "incorporation-package",
		"status":            "Cancelled",
		"processing_status": "Under Review",
		"submit_date":       "2025-08-07",
		"first_name":        "Example",
		"last_name":         "Owner",
		"email":             "owner@example.com",
		"phone_number":      "5550100000",
		"created_at":        "2025-01-15 08:00:00",
		"updated_at":        "2025-08-09 14:05:12",
		"business_data":     map[string]any{"name": "Example Ventures", "type": 1, "type_name": "LLC", "category": "541211"},
		"managers_data":     []any{map[string]any{"title": "Member", "full_name": "Example Manager"}},
		"registered_agent":  map[string]any{"name": "Example Agent", "email": "agent@example.com"},
		"order_items":       []any{map[string]any{"submitted_at": "2025-01-15 08:00:01", "type": "sale", "items": []any{"SF_1180_SG_0"}}},
		"required_actions": map[string]any{"required_actions": map[string]any{
			"rejections": []any{map[string]any{"id": nil, "error_code": 103, "reason": "r", "message": "m"}},
		}},
	}
}

func event(m map[string]any) map[string]any { return m["event"].(map[string]any) }
func order(m map[string]any) map[string]any { return m["order"].(map[string]any) }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newAdapter(t *testing.T, opts map[string]string) adapters.Adapter {
	t.Helper()
	a, err := swyft.New(adapters.Config{Source: "test", Secrets: [][]byte{adaptertest.Secret}, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func normalize(t *testing.T, a adapters.Adapter, body []byte, contentType string) (*hooklinev1.Event, error) {
	t.Helper()
	d := &adapters.Delivery{
		Header:      http.Header{"Content-Type": {contentType}},
		Body:        body,
		ReceiveTime: adaptertest.ReceiveTime,
		ID:          adaptertest.DeliveryID,
	}
	res, err := a.Normalize(d)
	if err != nil {
		return nil, err
	}
	if len(res.Events) != 1 || res.Ping {
		t.Fatalf("got %d events (ping %v), want exactly one", len(res.Events), res.Ping)
	}
	for _, e := range adaptertest.Invariants(hooklinev1.Provider_PROVIDER_SWYFT, "test", d, res.Events) {
		t.Error(e)
	}
	return res.Events[0], nil
}

// TestNormalize applies one mutation to a valid body per case and checks
// what the mutation is about.
func TestNormalize(t *testing.T) {
	tests := []struct {
		name        string
		mutate      func(m map[string]any)
		contentType string
		wantErr     error
		check       func(t *testing.T, ev *hooklinev1.Event)
	}{
		{
			name:   "valid",
			mutate: func(map[string]any) {},
			check: func(t *testing.T, ev *hooklinev1.Event) {
				wantOrder(t, ev, hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, &hooklinev1.OrderEvent{
					Status: hooklinev1.OrderStatus_ORDER_STATUS_CANCELED, RawStatus: "Cancelled",
					PreviousStatus: hooklinev1.OrderStatus_ORDER_STATUS_ACTIVE, RawPreviousStatus: "Active",
					ProcessingStatus: hooklinev1.OrderStatus_ORDER_STATUS_UNDER_REVIEW, RawProcessingStatus: "Under Review",
				})
			},
		},
		{
			name: "order under data.order",
			mutate: func(m map[string]any) {
				m["data"] = map[string]any{"order": m["order"]}
				delete(m, "order")
			},
			check: func(t *testing.T, ev *hooklinev1.Event) {
				if ev.GetSubject() != "a746224f-d569-4aba-a271-4532259aba42" {
					t.Errorf("subject = %q, want the data.order uuid", ev.GetSubject())
				}
			},
		},
		{
			name: "top-level order wins over data.order",
			mutate: func(m map[string]any) {
				other := baseOrder()
				other["uuid"] = "00000000-0000-4000-8000-000000000000"
				m["data"] = map[string]any{"order": other}
			},
			check: func(t *testing.T, ev *hooklinev1.Event) {
				if ev.GetSubject() != "a746224f-d569-4aba-a271-4532259aba42" {
					t.Errorf("subject = %q, want the top-level uuid", ev.GetSubject())
				}
			},
		},
		{
			name: "top-level order as PHP empty array falls back to data.order",
			mutate: func(m map[string]any) {
				m["data"] = map[string]any{"order": m["order"]}
				m["order"] = []any{}
			},
			check: func(t *testing.T, ev *hooklinev1.Event) {
				if ev.GetSubject() != "a746224f-d569-4aba-a271-4532259aba42" {
					t.Errorf("subject = %q, want the data.order uuid", ev.GetSubject())
				}
			},
		},
		{
			name:   "empty new_status falls back to order.status",
			mutate: func(m map[string]any) { event(m)["new_status"] = ""; order(m)["status"] = "Active" },
			check: func(t *testing.T, ev *hooklinev1.Event) {
				if o := ev.GetOrder(); o.GetStatus() != hooklinev1.OrderStatus_ORDER_STATUS_ACTIVE || o.GetRawStatus() != "Active" {
					t.Errorf("status = %v %q, want ACTIVE \"Active\"", o.GetStatus(), o.GetRawStatus())
				}
			},
		},
		{
			name: "processing change: old/new are the processing status, status from the order",
			mutate: func(m map[string]any) {
				event(m)["name"] = "order_processing_status_change"
				event(m)["old_status"], event(m)["new_status"] = "Under Review", "Processing"
				order(m)["status"], order(m)["processing_status"] = "Active", "Processing"
			},
			check: func(t *testing.T, ev *hooklinev1.Event) {
				wantOrder(t, ev, hooklinev1.EventType_EVENT_TYPE_ORDER_PROCESSING_STATUS_CHANGED, &hooklinev1.OrderEvent{
					Status: hooklinev1.OrderStatus_ORDER_STATUS_ACTIVE, RawStatus: "Active",
					ProcessingStatus: hooklinev1.OrderStatus_ORDER_STATUS_PROCESSING, RawProcessingStatus: "Processing",
					PreviousProcessingStatus:    hooklinev1.OrderStatus_ORDER_STATUS_UNDER_REVIEW,
					RawPreviousProcessingStatus: "Under Review",
				})
			},
		},
		{
			name: "processing change: empty new_status falls back to order.processing_status",
			mutate: func(m map[string]any) {
				event(m)["name"] = "order_processing_status_change"
				delete(event(m), "new_status")
				order(m)["processing_status"] = "Complete"
			},
			check: func(t *testing.T, ev *hooklinev1.Event) {
				if o := ev.GetOrder(); o.GetProcessingStatus() != hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED || o.GetRawProcessingStatus() != "Complete" {
					t.Errorf("processing status = %v %q, want COMPLETED \"Complete\"", o.GetProcessingStatus(), o.GetRawProcessingStatus())
				}
			},
		},
		{
			name:   "event name compared after normalization, kept verbatim",
			mutate: func(m map[string]any) { event(m)["name"] = "Order-Status-Change" },
			check: func(t *testing.T, ev *hooklinev1.Event) {
				if ev.GetType() != hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED || ev.GetProviderEventType() != "Order-Status-Change" {
					t.Errorf("type %v, provider type %q", ev.GetType(), ev.GetProviderEventType())
				}
			},
		},
		{
			name:    "event name not a string",
			mutate:  func(m map[string]any) { event(m)["name"] = 7 },
			wantErr: adapters.ErrMalformed,
		},
		{
			name:    "event not an object",
			mutate:  func(m map[string]any) { m["event"] = "order_status_change" },
			wantErr: adapters.ErrMalformed,
		},
		{
			name:    "order not an object",
			mutate:  func(m map[string]any) { m["order"] = "a746224f" },
			wantErr: adapters.ErrMalformed,
		},
		{
			name:        "content type not JSON",
			mutate:      func(map[string]any) {},
			contentType: "application/x-www-form-urlencoded",
			wantErr:     adapters.ErrUnsupportedMediaType,
		},
		{
			name:   "event name null",
			mutate: func(m map[string]any) { event(m)["name"] = nil },
			check:  wantUnmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "(missing)"),
		},
		{
			name:   "no event",
			mutate: func(m map[string]any) { delete(m, "event") },
			check:  wantUnmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "(missing)"),
		},
		{
			name:   "no order anywhere",
			mutate: func(m map[string]any) { delete(m, "order") },
			check:  wantUnmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT, "order_status_change"),
		},
		{
			name:   "empty uuid",
			mutate: func(m map[string]any) { order(m)["uuid"] = "" },
			check:  wantUnmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT, "order_status_change"),
		},
		{
			name:   "unknown event name keeps the uuid as a hint",
			mutate: func(m map[string]any) { event(m)["name"] = "filings_error" },
			check: func(t *testing.T, ev *hooklinev1.Event) {
				wantUnmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE, "filings_error")(t, ev)
				if h := ev.GetUnmapped().GetSubjectHint(); h != "a746224f-d569-4aba-a271-4532259aba42" {
					t.Errorf("subject hint = %q, want the order uuid", h)
				}
			},
		},
		{
			name:   "numeric event_id kept as text",
			mutate: func(m map[string]any) { m["event_id"] = json.Number("2000000002") },
			check: func(t *testing.T, ev *hooklinev1.Event) {
				if ev.GetProviderEventId() != "2000000002" {
					t.Errorf("provider event id = %q, want \"2000000002\"", ev.GetProviderEventId())
				}
			},
		},
		{
			name: "string order id, numeric category",
			mutate: func(m map[string]any) {
				order(m)["id"] = "42"
				order(m)["business_data"].(map[string]any)["category"] = 541211
			},
			check: func(t *testing.T, ev *hooklinev1.Event) {
				o := ev.GetOrder()
				if o.GetOrderNumber() != "42" || o.GetSwyft().GetInternalId() != 42 || o.GetSwyft().GetBusiness().GetCategory() != "541211" {
					t.Errorf("order number %q, internal id %d, category %q", o.GetOrderNumber(), o.GetSwyft().GetInternalId(), o.GetSwyft().GetBusiness().GetCategory())
				}
			},
		},
		{
			name:   "unparsable updated_at leaves the times unset",
			mutate: func(m map[string]any) { order(m)["updated_at"] = "0000-00-00 00:00:00" },
			check: func(t *testing.T, ev *hooklinev1.Event) {
				if ev.GetTime() != nil || ev.GetOrder().GetUpdateTime() != nil {
					t.Errorf("time %v, update time %v, want both unset", ev.GetTime(), ev.GetOrder().GetUpdateTime())
				}
			},
		},
		{
			name: "single-level required_actions",
			mutate: func(m map[string]any) {
				order(m)["required_actions"] = map[string]any{
					"questionnaires": []any{map[string]any{"questionnaire_name": "Post checkout", "status": "Not started", "message": "m"}},
				}
			},
			check: func(t *testing.T, ev *hooklinev1.Event) {
				want := &hooklinev1.SwyftRequiredActions{Questionnaires: []*hooklinev1.SwyftQuestionnaire{{Name: "Post checkout", Status: "Not started", Message: "m"}}}
				if diff := cmp.Diff(want, ev.GetOrder().GetSwyft().GetRequiredActions(), protocmp.Transform()); diff != "" {
					t.Errorf("required actions (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "PHP empty arrays for objects",
			mutate: func(m map[string]any) {
				order(m)["business_data"] = []any{}
				order(m)["required_actions"] = map[string]any{"required_actions": []any{}}
			},
			check: func(t *testing.T, ev *hooklinev1.Event) {
				if s := ev.GetOrder().GetSwyft(); s.GetBusiness() != nil || s.GetRequiredActions() != nil {
					t.Errorf("business %v, required actions %v, want both unset", s.GetBusiness(), s.GetRequiredActions())
				}
			},
		},
		{
			name: "null rejection id is 0",
			mutate: func(m map[string]any) {
				order(m)["required_actions"] = map[string]any{"required_actions": map[string]any{
					"rejections": []any{map[string]any{"id": nil, "error_code": "103", "reason": "r"}, nil},
				}}
			},
			check: func(t *testing.T, ev *hooklinev1.Event) {
				want := []*hooklinev1.SwyftRejection{{Id: 0, ErrorCode: 103, Reason: "r"}}
				if diff := cmp.Diff(want, ev.GetOrder().GetSwyft().GetRequiredActions().GetRejections(), protocmp.Transform()); diff != "" {
					t.Errorf("rejections (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:   "contact data is not copied",
			mutate: func(map[string]any) {},
			check: func(t *testing.T, ev *hooklinev1.Event) {
				ev.Raw = nil
				b, err := protojson.Marshal(ev)
				if err != nil {
					t.Fatal(err)
				}
				for _, pii := range []string{"Example Owner", "Owner", "owner@example.com", "5550100000", "Example Manager", "Example Agent", "agent@example.com"} {
					if strings.Contains(string(b), pii) {
						t.Errorf("normalized event contains contact data %q", pii)
					}
				}
			},
		},
	}
	a := newAdapter(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := baseBody()
			tt.mutate(m)
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			ev, err := normalize(t, a, mustJSON(t, m), ct)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Normalize = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			tt.check(t, ev)
		})
	}
}

// wantOrder checks the type and the status fields of an order event.
func wantOrder(t *testing.T, ev *hooklinev1.Event, typ hooklinev1.EventType, want *hooklinev1.OrderEvent) {
	t.Helper()
	if ev.GetType() != typ {
		t.Fatalf("type = %v, want %v", ev.GetType(), typ)
	}
	got := ev.GetOrder()
	opts := []cmp.Option{protocmp.Transform(), protocmp.IgnoreFields(&hooklinev1.OrderEvent{},
		"order_id", "order_number", "changed_field", "update_time", "swyft")}
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

func wantUnmapped(reason hooklinev1.UnmappedReason, providerType string) func(*testing.T, *hooklinev1.Event) {
	return func(t *testing.T, ev *hooklinev1.Event) {
		t.Helper()
		if ev.GetType() != hooklinev1.EventType_EVENT_TYPE_UNMAPPED || ev.GetUnmapped().GetReason() != reason {
			t.Errorf("type %v reason %v, want UNMAPPED %v", ev.GetType(), ev.GetUnmapped().GetReason(), reason)
		}
		if ev.GetProviderEventType() != providerType {
			t.Errorf("provider event type = %q, want %q", ev.GetProviderEventType(), providerType)
		}
	}
}

func TestTimeZone(t *testing.T) {
	body := mustJSON(t, baseBody())
	tests := []struct {
		zone string
		// updated_at "2025-08-09 14:05:12" (summer), created_at
		// "2025-01-15 08:00:00" (winter), submitted_at "2025-01-15 08:00:01".
		wantUpdate, wantCreate, wantSubmit time.Time
		wantName                           string
	}{
		{
			zone:       "",
			wantUpdate: time.Date(2025, 8, 9, 14, 5, 12, 0, time.UTC),
			wantCreate: time.Date(2025, 1, 15, 8, 0, 0, 0, time.UTC),
			wantSubmit: time.Date(2025, 1, 15, 8, 0, 1, 0, time.UTC),
			wantName:   "UTC",
		},
		{
			zone:       "America/New_York", // EDT (UTC-4) in August, EST (UTC-5) in January
			wantUpdate: time.Date(2025, 8, 9, 18, 5, 12, 0, time.UTC),
			wantCreate: time.Date(2025, 1, 15, 13, 0, 0, 0, time.UTC),
			wantSubmit: time.Date(2025, 1, 15, 13, 0, 1, 0, time.UTC),
			wantName:   "America/New_York",
		},
	}
	for _, tt := range tests {
		t.Run("zone="+tt.wantName, func(t *testing.T) {
			var opts map[string]string
			if tt.zone != "" {
				opts = map[string]string{"time_zone": tt.zone}
			}
			ev, err := normalize(t, newAdapter(t, opts), body, "application/json")
			if err != nil {
				t.Fatal(err)
			}
			s := ev.GetOrder().GetSwyft()
			for name, c := range map[string]struct {
				got  *timestamppb.Timestamp
				want time.Time
			}{
				"Event.time":                 {ev.GetTime(), tt.wantUpdate},
				"OrderEvent.update_time":     {ev.GetOrder().GetUpdateTime(), tt.wantUpdate},
				"SwyftOrder.create_time":     {s.GetCreateTime(), tt.wantCreate},
				"SwyftOrderItem.submit_time": {s.GetOrderItems()[0].GetSubmitTime(), tt.wantSubmit},
			} {
				if c.got == nil || !c.got.AsTime().Equal(c.want) {
					t.Errorf("%s = %v, want %v", name, c.got.AsTime(), c.want)
				}
			}
			if s.GetTimeZone() != tt.wantName {
				t.Errorf("time_zone = %q, want %q", s.GetTimeZone(), tt.wantName)
			}
		})
	}
}

func TestDedup(t *testing.T) {
	a := newAdapter(t, nil)
	dedupKey := func(t *testing.T, m map[string]any) string {
		t.Helper()
		ev, err := normalize(t, a, mustJSON(t, m), "application/json")
		if err != nil {
			t.Fatal(err)
		}
		return ev.GetDedupKey()
	}
	key := func(id string) string {
		return adapters.DedupKey(hooklinev1.Provider_PROVIDER_SWYFT, "test", "order_status_change", id)
	}

	t.Run("event_id", func(t *testing.T) {
		if got := dedupKey(t, baseBody()); got != key("2000000001") {
			t.Errorf("dedup key = %q, want one built from event_id", got)
		}
	})
	t.Run("fallback without event_id", func(t *testing.T) {
		m := baseBody()
		delete(m, "event_id")
		want := key("fallback:a746224f-d569-4aba-a271-4532259aba42|order_status_change|Active|Cancelled|2025-08-09 14:05:12")
		if got := dedupKey(t, m); got != want {
			t.Errorf("dedup key = %q, want %q", got, want)
		}
		// A retry that differs only in fields outside the tuple (here the
		// contact data) is still the same event.
		order(m)["email"] = "changed@example.com"
		if got := dedupKey(t, m); got != want {
			t.Errorf("retry dedup key = %q, want %q", got, want)
		}
	})
	t.Run("fallback tells transitions apart", func(t *testing.T) {
		m1, m2 := baseBody(), baseBody()
		delete(m1, "event_id")
		delete(m2, "event_id")
		event(m2)["old_status"], event(m2)["new_status"] = "Cancelled", "Active"
		if dedupKey(t, m1) == dedupKey(t, m2) {
			t.Error("two different transitions share a dedup key")
		}
	})
	t.Run("no event_id, no updated_at: body hash", func(t *testing.T) {
		m := baseBody()
		delete(m, "event_id")
		delete(order(m), "updated_at")
		if got, want := dedupKey(t, m), key(adapters.BodyKey(mustJSON(t, m))); got != want {
			t.Errorf("dedup key = %q, want %q", got, want)
		}
	})
}

// TestEventTypes maps every known event name, its spelling variants and
// unknown names.
func TestEventTypes(t *testing.T) {
	tests := []struct {
		name   string
		want   hooklinev1.EventType
		reason hooklinev1.UnmappedReason
	}{
		{"order_status_change", hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, 0},
		{"ORDER_STATUS_CHANGE", hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, 0},
		{"order status change", hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, 0},
		{"order_processing_status_change", hooklinev1.EventType_EVENT_TYPE_ORDER_PROCESSING_STATUS_CHANGED, 0},
		{"Order-Processing-Status-Change", hooklinev1.EventType_EVENT_TYPE_ORDER_PROCESSING_STATUS_CHANGED, 0},
		{"document_status_change", hooklinev1.EventType_EVENT_TYPE_UNMAPPED, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE},
		{"filings_error", hooklinev1.EventType_EVENT_TYPE_UNMAPPED, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE},
		{"order_status_changed", hooklinev1.EventType_EVENT_TYPE_UNMAPPED, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE},
		{"", hooklinev1.EventType_EVENT_TYPE_UNMAPPED, hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE},
	}
	a := newAdapter(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := baseBody()
			event(m)["name"] = tt.name
			ev, err := normalize(t, a, mustJSON(t, m), "application/json")
			if err != nil {
				t.Fatal(err)
			}
			if ev.GetType() != tt.want || ev.GetUnmapped().GetReason() != tt.reason {
				t.Errorf("type %v reason %v, want %v %v", ev.GetType(), ev.GetUnmapped().GetReason(), tt.want, tt.reason)
			}
		})
	}
}
