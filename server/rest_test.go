package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/hookline/hookline/internal/subscription"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// This file tests the REST mapping with a plain net/http client: the
// NDJSON subscription stream and the unary routes.

// open sends a request to the test server and returns the response; the
// body must be closed. The request ends with the test at the latest.
func (e *testEnv) open(t testing.TB, method, path string, body []byte, h http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, e.httpURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// getJSON fetches path, checks the status and decodes the body into m.
func (e *testEnv) getJSON(t testing.TB, method, path string, body []byte, wantCode int, m proto.Message) {
	t.Helper()
	resp := e.open(t, method, path, body, nil)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantCode {
		t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, wantCode)
	}
	if err := protojson.Unmarshal(b, m); err != nil {
		t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
	}
}

// ndjson reads a grpc-gateway stream: one JSON object per line, each
// {"result": frame} or {"error": status}.
type ndjson struct {
	r *bufio.Reader
}

// Recv implements frameReader; an error line becomes a status error.
func (n *ndjson) Recv() (*hooklinev1.SubscribeResponse, error) {
	line, err := n.r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return nil, fmt.Errorf("line %q: %w", line, err)
	}
	if _, ok := obj["error"]; ok && len(obj) == 1 {
		st, err := httpErrorStatus(line)
		if err != nil {
			return nil, fmt.Errorf("error line %q: %w", line, err)
		}
		return nil, st.Err()
	}
	raw, ok := obj["result"]
	if !ok || len(obj) != 1 {
		return nil, fmt.Errorf("line %q is not {\"result\": ...}", line)
	}
	resp := &hooklinev1.SubscribeResponse{}
	if err := protojson.Unmarshal(raw, resp); err != nil {
		return nil, fmt.Errorf("result %q: %w", raw, err)
	}
	if resp.GetFrame() == nil {
		return nil, fmt.Errorf("result %q holds neither an event nor a bookmark", raw)
	}
	return resp, nil
}

// openStream opens a REST subscription and checks that it answers 200.
func (e *testEnv) openStream(t *testing.T, method, path string, body []byte) *ndjson {
	t.Helper()
	resp := e.open(t, method, path, body, nil)
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, b)
	}
	return &ndjson{r: bufio.NewReader(resp.Body)}
}

func TestRESTSubscribe(t *testing.T) {
	e, midTime, full, last := mixedLog(t)
	cursor := full[len(full)/2].GetSequence()
	all := func(*hooklinev1.Event) bool { return true }

	tests := []struct {
		name   string
		method string
		path   string
		body   string
		want   func(*hooklinev1.Event) bool
	}{
		{"earliest", "GET", "/v1/events:subscribe?position=START_POSITION_EARLIEST", "", all},
		{"earliest_number", "GET", "/v1/events:subscribe?position=1", "", all},
		{"after_sequence_providers", "GET", fmt.Sprintf("/v1/events:subscribe?after_sequence=%d&filter.providers=PROVIDER_FINICITY&filter.providers=PROVIDER_SWYFT", cursor), "",
			func(ev *hooklinev1.Event) bool {
				return ev.GetSequence() > cursor && ev.GetProvider() != hooklinev1.Provider_PROVIDER_TRUV
			}},
		{"start_time_subjects", "GET", "/v1/events:subscribe?start_time=" + url.QueryEscape(midTime.Format(time.RFC3339Nano)) +
			"&filter.order_ids=" + truvOrderA + "&filter.session_keys=" + finicityCustB, "",
			func(ev *hooklinev1.Event) bool {
				return !ev.GetReceiveTime().AsTime().Before(midTime) && matches(&hooklinev1.EventFilter{OrderIds: []string{truvOrderA}, SessionKeys: []string{finicityCustB}}, ev)
			}},
		{"json_names_event_types", "GET", "/v1/events:subscribe?position=START_POSITION_EARLIEST&filter.eventTypes=EVENT_TYPE_SESSION_COMPLETED&filter.sessionKeys=" + truvTaskA, "",
			func(ev *hooklinev1.Event) bool {
				return matches(&hooklinev1.EventFilter{EventTypes: []hooklinev1.EventType{hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED}, SessionKeys: []string{truvTaskA}}, ev)
			}},
		{"post_body", "POST", "/v1/events:subscribe", `{"filter":{"sessionKeys":["` + finicityCustA + `"],"providers":["PROVIDER_FINICITY"]},"position":"START_POSITION_EARLIEST"}`,
			func(ev *hooklinev1.Event) bool {
				return ev.GetSession().GetSessionKey() == finicityCustA
			}},
		{"post_body_after_sequence", "POST", "/v1/events:subscribe", fmt.Sprintf(`{"afterSequence":"%d","filter":{"orderIds":["%s"]}}`, cursor, swyftOrderB),
			func(ev *hooklinev1.Event) bool {
				return ev.GetSequence() > cursor && ev.GetOrder().GetOrderId() == swyftOrderB
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := selectEvents(full, tt.want)
			if len(want) == 0 {
				t.Fatal("test log selects nothing; the case could not fail")
			}
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			got, _ := recvUntil(t, e.openStream(t, tt.method, tt.path, body), last)
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("events (-want +got):\n%s\nwant %v\ngot  %v", diff, eventKeys(want), eventKeys(got))
			}
		})
	}

	t.Run("new_only", func(t *testing.T) {
		stream := e.openStream(t, "GET", "/v1/events:subscribe?bookmark_interval=1s&filter.providers=PROVIDER_SWYFT", nil)
		if evs, joined := recvUntil(t, stream, 0); len(evs) != 0 || joined != last {
			t.Fatalf("first frames %v, bookmark %d; want only a bookmark at %d", eventKeys(evs), joined, last)
		}
		newLast := e.deliverAll(t, mixedRound(4)...)
		got, bookmark := recvUntil(t, stream, newLast)
		want := selectEvents(e.listAll(t), func(ev *hooklinev1.Event) bool {
			return ev.GetSequence() > last && ev.GetSequence() <= bookmark && ev.GetProvider() == hooklinev1.Provider_PROVIDER_SWYFT
		})
		if diff := cmp.Diff(eventKeys(want), eventKeys(got)); diff != "" || len(want) == 0 {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestRESTUnary(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	e.deliverAll(t, rounds(0, 2)...)
	// A session key with a slash, as Finicity's are when a source extends
	// them with a webhookData field.
	last := e.deliverAll(t,
		delivery{"finicity", sessionBody("sess-1-a", "6030781868/sess-1", "started", "2023-11-14T22:15:00Z")},
		delivery{"finicity", sessionBody("sess-1-b", "6030781868/sess-1", "done", "2023-11-14T22:16:40Z")},
	)
	e.waitApplied(t, last)
	full := e.listAll(t)
	sessEvent := full[len(full)-1]
	if sessEvent.GetSubject() != "6030781868/sess-1" {
		t.Fatalf("session key %q, want 6030781868/sess-1", sessEvent.GetSubject())
	}

	t.Run("list_pages", func(t *testing.T) {
		var got []*hooklinev1.Event
		path := "/v1/events?page_size=4"
		for pages := 0; ; pages++ {
			resp := &hooklinev1.ListEventsResponse{}
			e.getJSON(t, "GET", path, nil, http.StatusOK, resp)
			if len(resp.GetEvents()) > 4 || pages > len(full) {
				t.Fatalf("page of %d events after %d pages", len(resp.GetEvents()), pages)
			}
			got = append(got, resp.GetEvents()...)
			if resp.GetNextPageToken() == "" {
				break
			}
			path = "/v1/events?page_size=4&page_token=" + url.QueryEscape(resp.GetNextPageToken())
		}
		if diff := cmp.Diff(full, got, protocmp.Transform()); diff != "" {
			t.Errorf("paged list (-grpc +rest):\n%s", diff)
		}
	})

	lists := []struct {
		name   string
		method string
		path   string
		body   string
		want   func(*hooklinev1.Event) bool
	}{
		{"get_filter", "GET", "/v1/events?filter.providers=PROVIDER_SWYFT&filter.order_ids=" + swyftOrderB, "",
			func(ev *hooklinev1.Event) bool { return ev.GetOrder().GetOrderId() == swyftOrderB }},
		{"get_after_sequence", "GET", "/v1/events?after_sequence=5&filter.event_types=EVENT_TYPE_UNMAPPED", "",
			func(ev *hooklinev1.Event) bool {
				return ev.GetSequence() > 5 && ev.GetType() == hooklinev1.EventType_EVENT_TYPE_UNMAPPED
			}},
		{"get_slash_session_key", "GET", "/v1/events?filter.session_keys=" + url.QueryEscape("6030781868/sess-1"), "",
			func(ev *hooklinev1.Event) bool { return ev.GetSession().GetSessionKey() == "6030781868/sess-1" }},
		{"post_list", "POST", "/v1/events:list", `{"filter":{"sessionKeys":["` + truvTaskB + `"]},"pageSize":100}`,
			func(ev *hooklinev1.Event) bool { return ev.GetSession().GetSessionKey() == truvTaskB }},
	}
	for _, tt := range lists {
		t.Run("list_"+tt.name, func(t *testing.T) {
			want := selectEvents(full, tt.want)
			if len(want) == 0 {
				t.Fatal("test log selects nothing; the case could not fail")
			}
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			resp := &hooklinev1.ListEventsResponse{}
			e.getJSON(t, tt.method, tt.path, body, http.StatusOK, resp)
			if diff := cmp.Diff(eventKeys(want), eventKeys(resp.GetEvents())); diff != "" || resp.GetNextPageToken() != "" {
				t.Errorf("events (-want +got):\n%s\nnext page token %q", diff, resp.GetNextPageToken())
			}
		})
	}

	t.Run("get_event", func(t *testing.T) {
		want := full[3]
		resp := &hooklinev1.GetEventResponse{}
		e.getJSON(t, "GET", "/v1/events/"+want.GetId(), nil, http.StatusOK, resp)
		if diff := cmp.Diff(want, resp.GetEvent(), protocmp.Transform()); diff != "" {
			t.Errorf("event (-want +got):\n%s", diff)
		}
	})

	t.Run("get_order", func(t *testing.T) {
		want, err := e.client.GetOrder(t.Context(), &hooklinev1.GetOrderRequest{OrderId: swyftOrderA})
		if err != nil {
			t.Fatal(err)
		}
		resp := &hooklinev1.GetOrderResponse{}
		e.getJSON(t, "GET", "/v1/orders/"+swyftOrderA, nil, http.StatusOK, resp)
		if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" || resp.GetOrder().GetEventCount() != 2 {
			t.Errorf("order (-grpc +rest):\n%s", diff)
		}
	})

	sessions := []struct{ name, path string }{
		{"plain_key", "/v1/sessions/" + truvTaskA},
		{"slash_key", "/v1/sessions/6030781868/sess-1"},
		{"escaped_slash_key", "/v1/sessions/6030781868%2Fsess-1"},
	}
	for _, tt := range sessions {
		t.Run("get_session_"+tt.name, func(t *testing.T) {
			key, err := url.PathUnescape(tt.path[len("/v1/sessions/"):])
			if err != nil {
				t.Fatal(err)
			}
			want, err := e.client.GetSession(t.Context(), &hooklinev1.GetSessionRequest{SessionKey: key})
			if err != nil {
				t.Fatal(err)
			}
			resp := &hooklinev1.GetSessionResponse{}
			e.getJSON(t, "GET", tt.path, nil, http.StatusOK, resp)
			if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" || resp.GetSession().GetSessionKey() != key {
				t.Errorf("session (-grpc +rest):\n%s", diff)
			}
		})
	}
	t.Run("slash_session_state", func(t *testing.T) {
		resp := &hooklinev1.GetSessionResponse{}
		e.getJSON(t, "GET", "/v1/sessions/6030781868/sess-1", nil, http.StatusOK, resp)
		if s := resp.GetSession(); s.GetStage() != hooklinev1.SessionStage_SESSION_STAGE_DONE || s.GetEventCount() != 2 || s.GetLastEventId() != sessEvent.GetId() {
			t.Errorf("session %v; want stage DONE, 2 events, last event %s", s, sessEvent.GetId())
		}
	})

	errs := []struct {
		name   string
		path   string
		code   int
		reason string
	}{
		{"unknown_order", "/v1/orders/no-such-order", http.StatusNotFound, ReasonNotFound},
		{"unknown_session", "/v1/sessions/6030781868/no-such-session", http.StatusNotFound, ReasonNotFound},
		{"unknown_event", "/v1/events/evt_none", http.StatusNotFound, ReasonNotFound},
		{"bad_page_token", "/v1/events?page_token=bogus", http.StatusBadRequest, ReasonInvalidArgument},
		{"negative_page_size", "/v1/events?page_size=-1", http.StatusBadRequest, ReasonInvalidArgument},
		{"unknown_provider", "/v1/events?filter.providers=9", http.StatusBadRequest, ReasonInvalidArgument},
		{"unknown_route", "/v1/nothing-here", http.StatusNotFound, ReasonNotFound},
	}
	for _, tt := range errs {
		t.Run("error_"+tt.name, func(t *testing.T) {
			resp := e.open(t, "GET", tt.path, nil, nil)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, resp.StatusCode, b, tt.code)
			}
			st, err := httpErrorStatus(b)
			if err != nil {
				t.Fatal(err)
			}
			if info := errorInfo(st); info.GetReason() != tt.reason || info.GetDomain() != ErrorDomain {
				t.Errorf("error %s; want reason %s in domain %s", b, tt.reason, ErrorDomain)
			}
		})
	}
}

func TestRESTCursorOutOfRange(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	last := e.deliverAll(t, rounds(0, 2)...)
	e.waitApplied(t, last)
	const first = 8
	purgeBefore(t, e.log, first)

	cases := []struct {
		name     string
		method   string
		path     string
		body     string
		code     int
		reason   string
		inStream bool // the error is a stream line {"error": ...}
	}{
		{"subscribe_expired", "GET", fmt.Sprintf("/v1/events:subscribe?after_sequence=%d", first-2), "", http.StatusGone, ReasonCursorExpired, true},
		{"subscribe_post_expired", "POST", "/v1/events:subscribe", fmt.Sprintf(`{"afterSequence":"%d"}`, first-2), http.StatusGone, ReasonCursorExpired, true},
		{"subscribe_ahead", "GET", fmt.Sprintf("/v1/events:subscribe?after_sequence=%d", last+1), "", http.StatusBadRequest, ReasonCursorAhead, true},
		{"list_expired", "GET", fmt.Sprintf("/v1/events?after_sequence=%d", first-2), "", http.StatusGone, ReasonCursorExpired, false},
		{"list_token_expired", "GET", "/v1/events?page_token=" + subscription.PageToken(first-2), "", http.StatusGone, ReasonCursorExpired, false},
		{"list_ahead", "GET", fmt.Sprintf("/v1/events?after_sequence=%d", last+1), "", http.StatusBadRequest, ReasonCursorAhead, false},
		{"list_token_ahead", "GET", "/v1/events?page_token=" + subscription.PageToken(last+1), "", http.StatusBadRequest, ReasonCursorAhead, false},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			resp := e.open(t, tt.method, tt.path, body, nil)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d; body %s", resp.StatusCode, tt.code, b)
			}
			// Unary calls and streams answer the same body (a stream's
			// is its one line).
			st, err := httpErrorStatus(bytes.TrimSuffix(b, []byte("\n")))
			if err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			want := cursorInfo(tt.reason, first, last)
			if diff := cmp.Diff(want, errorInfo(st), protocmp.Transform()); diff != "" {
				t.Errorf("ErrorInfo (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("list_without_cursor", func(t *testing.T) {
		resp := &hooklinev1.ListEventsResponse{}
		e.getJSON(t, "GET", "/v1/events?page_size=1", nil, http.StatusOK, resp)
		if len(resp.GetEvents()) != 1 || resp.GetEvents()[0].GetSequence() != first {
			t.Errorf("first page %v, want the event at %d", eventKeys(resp.GetEvents()), first)
		}
	})
}

// TestListEventsPageSize: no page_size means 100 events a page, and a
// larger one than 1000 is cut to 1000; the next page token carries on.
func TestListEventsPageSize(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	const n = 1001
	var last uint64
	for i := range n {
		res, err := e.log.Append(t.Context(), benchEvent(i))
		if err != nil {
			t.Fatal(err)
		}
		last = res.Sequence
	}
	e.waitApplied(t, last)
	for _, tc := range []struct {
		size        int32
		first, next int
	}{{0, 100, 0}, {5000, 1000, 1}} {
		resp, err := e.client.ListEvents(t.Context(), &hooklinev1.ListEventsRequest{PageSize: tc.size})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetEvents()) != tc.first || resp.GetNextPageToken() == "" {
			t.Fatalf("page_size %d: %d events, next token %q; want %d and a token", tc.size, len(resp.GetEvents()), resp.GetNextPageToken(), tc.first)
		}
		if tc.size == 0 {
			continue
		}
		resp, err = e.client.ListEvents(t.Context(), &hooklinev1.ListEventsRequest{PageSize: tc.size, PageToken: resp.GetNextPageToken()})
		if err != nil || len(resp.GetEvents()) != tc.next || resp.GetEvents()[0].GetSequence() != last {
			t.Fatalf("page_size %d, second page: %v, %v; want the last event alone", tc.size, resp, err)
		}
	}
}
