package adaptertest_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/adaptertest"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeSuite runs the shared adapter tests over the fake, registered under
// a name that is not its provider's, as a test may do.
var fakeSuite = adaptertest.Suite{
	Factory: adaptertest.FakeFactory(hooklinev1.Provider_PROVIDER_SWYFT, "fake"),
	Sign: func(_, secret []byte) http.Header {
		return http.Header{adaptertest.FakeTokenHeader: {string(secret)}} // the fixture's own Content-Type stays
	},
	SignsBody:        false,
	BadAuth:          adaptertest.StandardBadAuth(adaptertest.FakeTokenHeader),
	Dir:              "testdata/fake",
	UnknownEventBody: adaptertest.FakeBody(adaptertest.FakeEvent{ID: "u-1", Kind: "no-such-kind", Subject: "order-1"}),
}

func TestFakeGoldens(t *testing.T) { adaptertest.RunGoldens(t, fakeSuite) }

func TestFakeConformance(t *testing.T) { adaptertest.RunConformance(t, fakeSuite) }

func FuzzFakeNormalize(f *testing.F) { adaptertest.FuzzNormalize(f, fakeSuite) }

func FuzzFakeVerify(f *testing.F) { adaptertest.FuzzVerify(f, fakeSuite, adaptertest.FakeTokenHeader) }

// normalizeFake verifies and normalizes body, sent with the given
// Content-Type, by a fake for Truv on source "test".
func normalizeFake(t *testing.T, body []byte, contentType string) (adapters.Result, error) {
	t.Helper()
	a, err := adaptertest.FakeFactory(hooklinev1.Provider_PROVIDER_TRUV, "truv").New(adapters.Config{Source: "test", Secrets: [][]byte{adaptertest.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	h := adaptertest.FakeHeaders(string(adaptertest.Secret))
	h.Set("Content-Type", contentType)
	d := &adapters.Delivery{Header: h, Body: body, ReceiveTime: adaptertest.ReceiveTime, ID: adaptertest.DeliveryID}
	if err := a.Verify(d); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return a.Normalize(d)
}

// TestFakeMapping checks each field's mapping on the event it yields: the
// type, the subject, the status or stage, the times and the
// de-duplication key, built as for a real provider.
func TestFakeMapping(t *testing.T) {
	ts := timestamppb.New(adaptertest.ReceiveTime.Add(-1))
	at := ts.AsTime().Format(time.RFC3339Nano)
	type want struct {
		typ     hooklinev1.EventType
		subject string
		body    any // *OrderEvent, *SessionEvent or *UnmappedEvent
		dedup   string
	}
	key := func(kind, id string) string {
		return adapters.DedupKey(hooklinev1.Provider_PROVIDER_TRUV, "test", kind, id)
	}
	order := func(status hooklinev1.OrderStatus, raw string) *hooklinev1.OrderEvent {
		return &hooklinev1.OrderEvent{OrderId: "o-1", Status: status, RawStatus: raw, UpdateTime: ts}
	}
	session := func(stage hooklinev1.SessionStage, raw string) *hooklinev1.SessionEvent {
		return &hooklinev1.SessionEvent{SessionKey: "s-1", Stage: stage, RawStatus: raw, UpdateTime: ts}
	}
	unmapped := func(reason hooklinev1.UnmappedReason, detail string) *hooklinev1.UnmappedEvent {
		return &hooklinev1.UnmappedEvent{Reason: reason, Detail: detail, SubjectHint: "x-1"}
	}
	body := func(kind, subject, status, typ string) []byte {
		return adaptertest.FakeBody(adaptertest.FakeEvent{ID: "d-1", Kind: kind, Subject: subject, Status: status, Time: at, Type: typ})
	}
	const ord, sess = adaptertest.FakeKindOrder, adaptertest.FakeKindSession
	tests := []struct {
		name string
		body []byte
		want want
	}{
		{"order default type", body(ord, "o-1", "completed", ""),
			want{hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, "o-1", order(hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED, "completed"), key(ord, "d-1")}},
		{"order status with spaces and case", body(ord, "o-1", "Under Review", ""),
			want{hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, "o-1", order(hooklinev1.OrderStatus_ORDER_STATUS_UNDER_REVIEW, "Under Review"), key(ord, "d-1")}},
		{"order status enum name", body(ord, "o-1", "ORDER_STATUS_NO_DATA", ""),
			want{hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, "o-1", order(hooklinev1.OrderStatus_ORDER_STATUS_NO_DATA, "ORDER_STATUS_NO_DATA"), key(ord, "d-1")}},
		{"order unknown status", body(ord, "o-1", "on hold", ""),
			want{hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, "o-1", order(hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN, "on hold"), key(ord, "d-1")}},
		{"order status naming unspecified", body(ord, "o-1", "unspecified", ""),
			want{hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, "o-1", order(hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN, "unspecified"), key(ord, "d-1")}},
		{"order without status", body(ord, "o-1", "", ""),
			want{hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, "o-1", order(hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED, ""), key(ord, "d-1")}},
		{"order named type", body(ord, "o-1", "pending", "order-created"),
			want{hooklinev1.EventType_EVENT_TYPE_ORDER_CREATED, "o-1", order(hooklinev1.OrderStatus_ORDER_STATUS_PENDING, "pending"), key(ord, "d-1")}},
		{"session started", body(sess, "s-1", "started", ""),
			want{hooklinev1.EventType_EVENT_TYPE_SESSION_STARTED, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_STARTED, "started"), key(sess, "d-1")}},
		{"session institution selected", body(sess, "s-1", "institution_selected", ""),
			want{hooklinev1.EventType_EVENT_TYPE_SESSION_INSTITUTION_SELECTED, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_INSTITUTION_SELECTED, "institution_selected"), key(sess, "d-1")}},
		{"session credentials submitted", body(sess, "s-1", "credentials submitted", ""),
			want{hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_SUBMITTED, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_CREDENTIALS_SUBMITTED, "credentials submitted"), key(sess, "d-1")}},
		{"session mfa", body(sess, "s-1", "mfa", ""),
			want{hooklinev1.EventType_EVENT_TYPE_SESSION_MFA_CHALLENGED, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_MFA, "mfa"), key(sess, "d-1")}},
		{"session accounts discovered", body(sess, "s-1", "accounts-discovered", ""),
			want{hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_DISCOVERED, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_ACCOUNTS_DISCOVERED, "accounts-discovered"), key(sess, "d-1")}},
		{"session accounts added", body(sess, "s-1", "accounts_added", ""),
			want{hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_ADDED, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_ACCOUNTS_ADDED, "accounts_added"), key(sess, "d-1")}},
		{"session processing", body(sess, "s-1", "processing", ""),
			want{hooklinev1.EventType_EVENT_TYPE_SESSION_PROCESSING, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_PROCESSING, "processing"), key(sess, "d-1")}},
		{"session connected", body(sess, "s-1", "connected", ""),
			want{hooklinev1.EventType_EVENT_TYPE_LINK_CONNECTED, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_CONNECTED, "connected"), key(sess, "d-1")}},
		{"session done", body(sess, "s-1", "done", ""),
			want{hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_DONE, "done"), key(sess, "d-1")}},
		{"session failed", body(sess, "s-1", "FAILED", ""),
			want{hooklinev1.EventType_EVENT_TYPE_SESSION_FAILED, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_FAILED, "FAILED"), key(sess, "d-1")}},
		{"session revoked", body(sess, "s-1", "SESSION_STAGE_REVOKED", ""),
			want{hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_DELETED, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_REVOKED, "SESSION_STAGE_REVOKED"), key(sess, "d-1")}},
		{"session unknown stage", body(sess, "s-1", "teleported", ""),
			want{hooklinev1.EventType_EVENT_TYPE_SESSION_STATUS_UNKNOWN, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_UNKNOWN, "teleported"), key(sess, "d-1")}},
		{"session without stage", body(sess, "s-1", "", ""),
			want{hooklinev1.EventType_EVENT_TYPE_SESSION_STATUS_UNKNOWN, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_UNSPECIFIED, ""), key(sess, "d-1")}},
		{"session named type", body(sess, "s-1", "done", "report_completed"),
			want{hooklinev1.EventType_EVENT_TYPE_REPORT_COMPLETED, "s-1", session(hooklinev1.SessionStage_SESSION_STAGE_DONE, "done"), key(sess, "d-1")}},
		{"kind unmapped", body(adaptertest.FakeKindUnmapped, "x-1", "done", ""),
			want{hooklinev1.EventType_EVENT_TYPE_UNMAPPED, "", unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE, "the delivery is of kind unmapped"), key("unmapped", "d-1")}},
		{"unknown kind", body("payroll-report-ready", "x-1", "", ""),
			want{hooklinev1.EventType_EVENT_TYPE_UNMAPPED, "", unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE, "unknown fake kind"), key("payroll-report-ready", "d-1")}},
		{"no kind", body("", "x-1", "", ""),
			want{hooklinev1.EventType_EVENT_TYPE_UNMAPPED, "", unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "the delivery has no kind"), key("(missing)", "d-1")}},
		{"unknown type", body(ord, "x-1", "", "order_teleported"),
			want{hooklinev1.EventType_EVENT_TYPE_UNMAPPED, "", unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE, "unknown event type"), key(ord, "d-1")}},
		{"session type on an order", body(ord, "x-1", "", "session_started"),
			want{hooklinev1.EventType_EVENT_TYPE_UNMAPPED, "", unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "the event type does not fit the kind"), key(ord, "d-1")}},
		{"order type on a session", body(sess, "x-1", "", "order_created"),
			want{hooklinev1.EventType_EVENT_TYPE_UNMAPPED, "", unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "the event type does not fit the kind"), key(sess, "d-1")}},
		{"type unmapped on a session", body(sess, "x-1", "", "unmapped"),
			want{hooklinev1.EventType_EVENT_TYPE_UNMAPPED, "", unmapped(hooklinev1.UnmappedReason_UNMAPPED_REASON_UNEXPECTED_SHAPE, "the event type does not fit the kind"), key(sess, "d-1")}},
		{"order without subject", body(ord, "", "", ""),
			want{hooklinev1.EventType_EVENT_TYPE_UNMAPPED, "", &hooklinev1.UnmappedEvent{Reason: hooklinev1.UnmappedReason_UNMAPPED_REASON_MISSING_SUBJECT, Detail: "the delivery has no subject"}, key(ord, "d-1")}},
		{"no id: the body's hash", []byte(`{"kind":"order","subject":"o-1","status":"sent","time":"` + at + `"}`),
			want{hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, "o-1", order(hooklinev1.OrderStatus_ORDER_STATUS_SENT, "sent"),
				key(ord, adapters.BodyKey([]byte(`{"kind":"order","subject":"o-1","status":"sent","time":"`+at+`"}`)))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := normalizeFake(t, tt.body, "application/json")
			if err != nil || res.Ping || len(res.Events) != 1 {
				t.Fatalf("Normalize = %+v, %v; want one event", res, err)
			}
			ev := res.Events[0]
			var gotBody any
			switch b := ev.GetBody().(type) {
			case *hooklinev1.Event_Order:
				gotBody = b.Order
			case *hooklinev1.Event_Session:
				gotBody = b.Session
			case *hooklinev1.Event_Unmapped:
				gotBody = b.Unmapped
			}
			got := want{ev.GetType(), ev.GetSubject(), gotBody, ev.GetDedupKey()}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform(), cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
			if !ev.GetTime().AsTime().Equal(ts.AsTime()) || ev.GetProviderEventType() == "" {
				t.Errorf("time %v, provider event type %q; want %v and the kind", ev.GetTime(), ev.GetProviderEventType(), ts.AsTime())
			}
		})
	}
}

// TestFakeRefuses checks the deliveries Normalize refuses, and with which
// sentinel.
func TestFakeRefuses(t *testing.T) {
	valid := adaptertest.FakeBody(adaptertest.FakeEvent{ID: "d-1", Kind: adaptertest.FakeKindOrder, Subject: "o-1"})
	tests := []struct {
		name        string
		body        []byte
		contentType string
		want        error
	}{
		{"text content type", valid, "text/plain", adapters.ErrUnsupportedMediaType},
		{"form content type", valid, "application/x-www-form-urlencoded", adapters.ErrUnsupportedMediaType},
		{"not JSON", []byte("kind=order"), "application/json", adapters.ErrMalformed},
		{"kind is a number", []byte(`{"id":"d-1","kind":7}`), "application/json", adapters.ErrMalformed},
		{"id is an object", []byte(`{"id":{},"kind":"order"}`), "application/json", adapters.ErrMalformed},
		{"array", []byte(`[{"kind":"order"}]`), "application/json", adapters.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := normalizeFake(t, tt.body, tt.contentType); !errors.Is(err, tt.want) {
				t.Errorf("Normalize = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestFakeAuthentication checks Verify beyond the conformance suite:
// unauthenticated sources, and a token sent twice.
func TestFakeAuthentication(t *testing.T) {
	f := adaptertest.FakeFactory(hooklinev1.Provider_PROVIDER_FINICITY, "finicity", "mastercard")
	open, err := f.New(adapters.Config{Source: "test", AllowUnauthenticated: true})
	if err != nil {
		t.Fatal(err)
	}
	locked, err := f.New(adapters.Config{Source: "test", AllowUnauthenticated: true, Secrets: [][]byte{adaptertest.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	twice := adaptertest.FakeHeaders(string(adaptertest.Secret))
	twice.Add(adaptertest.FakeTokenHeader, string(adaptertest.Secret))
	tests := []struct {
		name   string
		a      adapters.Adapter
		header http.Header
		want   error
	}{
		{"unauthenticated source, no token", open, adaptertest.FakeHeaders(""), nil},
		{"unauthenticated source, any token", open, adaptertest.FakeHeaders("guess"), nil},
		{"secrets win over AllowUnauthenticated", locked, adaptertest.FakeHeaders(""), adapters.ErrUnauthenticated},
		{"secret accepted", locked, adaptertest.FakeHeaders(string(adaptertest.Secret)), nil},
		{"token sent twice", locked, twice, adapters.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &adapters.Delivery{Header: tt.header, Body: []byte(`{}`), ReceiveTime: adaptertest.ReceiveTime}
			if err := tt.a.Verify(d); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	if f.Name != "finicity" || len(f.Aliases) != 1 || f.Aliases[0] != "mastercard" || open.Provider() != hooklinev1.Provider_PROVIDER_FINICITY {
		t.Errorf("factory %q %v, provider %v; want finicity [mastercard], PROVIDER_FINICITY", f.Name, f.Aliases, open.Provider())
	}
}

// TestMappingVersionGuard: goldens that change under an unchanged mapping
// version fail; after the version is raised they are recorded for it, and
// an old version's record is never rewritten.
func TestMappingVersionGuard(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/fake")); err != nil {
		t.Fatal(err)
	}
	s := fakeSuite
	s.Dir = dir
	if err := adaptertest.CheckMappingVersion(s, false); err != nil {
		t.Fatalf("unchanged goldens: %v", err)
	}
	golden := filepath.Join(dir, "golden", "order.json")
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(golden, bytes.Replace(b, []byte("ORDER_STATUS_COMPLETED"), []byte("ORDER_STATUS_PENDING"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, record := range []bool{false, true} {
		if err := adaptertest.CheckMappingVersion(s, record); err == nil || !strings.Contains(err.Error(), "raise Factory.MappingVersion to 2") {
			t.Errorf("changed goldens, same version, record=%v: %v; want the advice to raise it", record, err)
		}
	}
	s.Factory.MappingVersion = 2
	if err := adaptertest.CheckMappingVersion(s, false); err == nil {
		t.Error("a raised version that is not recorded passed")
	}
	if err := adaptertest.CheckMappingVersion(s, true); err != nil {
		t.Fatalf("recording version 2: %v", err)
	}
	if err := adaptertest.CheckMappingVersion(s, false); err != nil {
		t.Errorf("recorded version 2: %v", err)
	}
	s.Factory.MappingVersion = 1
	if err := adaptertest.CheckMappingVersion(s, true); err == nil {
		t.Error("version 1's record was rewritten for the changed goldens")
	}
}
