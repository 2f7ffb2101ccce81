package reliability

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Filter limits the read API enforces: each filter value at most
// filterValueBytes, each list at most filterValues values.
const (
	filterValueBytes = 1024
	filterValues     = 1000
)

// restCase is one REST or SSE request and the HTTP status it must get.
// Error bodies are not compared: their JSON shape is being unified.
type restCase struct {
	name   string
	req    request
	status int
	fix    string
}

func runRESTCases(t *testing.T, e *corpusEnv) []caseResult {
	var out []caseResult
	for _, c := range restCases() {
		out = append(out, checkedRun(t, e, c.name, c.fix, func(t *testing.T) {
			a := e.send(t, c.req)
			if a.status != c.status {
				t.Errorf("%s %s: %d (%s), want %d", c.req.method, clip([]byte(c.req.target)), a.status, clip(a.body), c.status)
			}
		}))
	}
	return out
}

// values repeats key=value n times as a query string, each value unique.
func values(key string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%s=v%d", key, i)
	}
	return strings.Join(parts, "&")
}

// jsonList is a JSON array of n unique strings.
func jsonList(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"v%d"`, i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// stream marks a request whose successful answer is an endless stream.
func stream(r request) request {
	r.stream = true
	return r
}

// Cursors and tokens that are not the server's.
var (
	beyondEnd      = "1099511627776" // 2^40: far past the end of any test log
	foreignToken   = base64.RawURLEncoding.EncodeToString([]byte("before:5"))
	long5000       = longID("order", 5000, false)
	longOverLimit  = longID("order", filterValueBytes+1, false)
	longAtLimit    = longID("order", filterValueBytes, false)
	listOverLimit  = jsonList(filterValues + 1)
	listAtLimit    = jsonList(filterValues)
	typesOverLimit = "[" + strings.Repeat(`"EVENT_TYPE_ORDER_CREATED",`, filterValues) + `"EVENT_TYPE_ORDER_CREATED"]`
)

func restCases() []restCase {
	const (
		ok    = http.StatusOK
		bad   = http.StatusBadRequest
		unaut = http.StatusUnauthorized
	)
	noToken := func(r request) request { r.header.Del("Authorization"); return r }
	withAuth := func(r request, vs ...string) request { r.header["Authorization"] = vs; return r }
	return []restCase{
		{name: "list/valid page (control)", req: apiGet("/v1/events?page_size=5"), status: ok},
		{name: "list/order id of 5000 bytes", req: apiGet("/v1/events?filter.order_ids=" + long5000), status: bad, fix: fixFilters},
		{name: "list/session key of 5000 bytes", req: apiGet("/v1/events?filter.session_keys=" + long5000), status: bad, fix: fixFilters},
		{name: "list/order id one byte over the limit", req: apiGet("/v1/events?filter.order_ids=" + longOverLimit), status: bad, fix: fixFilters},
		{name: "list/order id at the limit", req: apiGet("/v1/events?filter.order_ids=" + longAtLimit), status: ok},
		{name: "list/1001 order ids (one over the limit)", req: apiPost("/v1/events:list", []byte(`{"filter":{"orderIds":`+listOverLimit+`}}`)), status: bad, fix: fixFilters},
		{name: "list/1000 order ids (the limit)", req: apiPost("/v1/events:list", []byte(`{"filter":{"orderIds":`+listAtLimit+`}}`)), status: ok},
		{name: "list/1001 session keys (one over the limit)", req: apiPost("/v1/events:list", []byte(`{"filter":{"sessionKeys":`+listOverLimit+`}}`)), status: bad, fix: fixFilters},
		{name: "list/1001 event types (one over the limit)", req: apiPost("/v1/events:list", []byte(`{"filter":{"eventTypes":`+typesOverLimit+`}}`)), status: bad, fix: fixFilters},
		{name: "list/empty order id", req: apiGet("/v1/events?filter.order_ids="), status: bad},
		{name: "list/unknown event type name", req: apiGet("/v1/events?filter.event_types=EVENT_TYPE_NOPE"), status: bad},
		{name: "list/event type UNSPECIFIED", req: apiGet("/v1/events?filter.event_types=EVENT_TYPE_UNSPECIFIED"), status: bad},
		{name: "list/unknown provider number", req: apiGet("/v1/events?filter.providers=99"), status: bad},
		{name: "list/negative page_size", req: apiGet("/v1/events?page_size=-1"), status: bad},
		{name: "list/page_size not a number", req: apiGet("/v1/events?page_size=ten"), status: bad},
		{name: "list/page_token not base64", req: apiGet("/v1/events?page_token=%25%25%25"), status: bad},
		{name: "list/page_token of another form", req: apiGet("/v1/events?page_token=" + foreignToken), status: bad},
		{name: "list/after_sequence beyond the end", req: apiGet("/v1/events?after_sequence=" + beyondEnd), status: bad},
		{name: "list/after_sequence not a number", req: apiGet("/v1/events?after_sequence=-3"), status: bad},
		{name: "list/POST body not JSON", req: apiPost("/v1/events:list", []byte("page_size=5")), status: bad},

		{name: "subscribe/order id of 5000 bytes", req: stream(apiGet("/v1/events:subscribe?position=START_POSITION_EARLIEST&filter.order_ids=" + long5000)), status: bad, fix: fixFilters},
		{name: "subscribe/1001 order ids (one over the limit)", req: stream(apiPost("/v1/events:subscribe", []byte(`{"filter":{"orderIds":`+listOverLimit+`}}`))), status: bad, fix: fixFilters},
		{name: "subscribe/after_sequence beyond the end", req: stream(apiGet("/v1/events:subscribe?after_sequence=" + beyondEnd)), status: bad},
		{name: "subscribe/start_time not a time", req: stream(apiGet("/v1/events:subscribe?start_time=yesterday")), status: bad},
		{name: "subscribe/bookmark_interval not a duration", req: stream(apiGet("/v1/events:subscribe?bookmark_interval=often")), status: bad},
		{name: "subscribe/unknown position", req: stream(apiGet("/v1/events:subscribe?position=START_POSITION_MIDDLE")), status: bad},
		{name: "subscribe/empty session key", req: stream(apiGet("/v1/events:subscribe?filter.session_keys=")), status: bad},

		{name: "sse/order id of 5000 bytes", req: stream(apiGet("/v1/events:sse?position=earliest&order_id=" + long5000)), status: bad, fix: fixFilters},
		{name: "sse/1001 order ids (one over the limit)", req: stream(apiGet("/v1/events:sse?" + values("order_id", filterValues+1))), status: bad, fix: fixFilters},
		{name: "sse/unknown event type", req: stream(apiGet("/v1/events:sse?event_type=NOPE")), status: bad},
		{name: "sse/unknown provider", req: stream(apiGet("/v1/events:sse?provider=stripe")), status: bad},
		{name: "sse/after_sequence beyond the end", req: stream(apiGet("/v1/events:sse?after_sequence=" + beyondEnd)), status: bad},
		{name: "sse/after_sequence not a number", req: stream(apiGet("/v1/events:sse?after_sequence=last")), status: bad},
		{name: "sse/start_time not RFC 3339", req: stream(apiGet("/v1/events:sse?start_time=" + url.QueryEscape("2026-01-02 03:04:05"))), status: bad},
		{name: "sse/bookmark_interval not a duration", req: stream(apiGet("/v1/events:sse?bookmark_interval=5")), status: bad},
		{name: "sse/unknown position", req: stream(apiGet("/v1/events:sse?position=middle")), status: bad},
		{name: "sse/Last-Event-ID not a sequence", status: bad,
			req: stream(func() request { r := apiGet("/v1/events:sse"); r.header.Set("Last-Event-ID", "evt_1"); return r }())},

		{name: "auth/list without a token", req: noToken(apiGet("/v1/events")), status: unaut},
		{name: "auth/list with a wrong token", req: withAuth(apiGet("/v1/events"), "Bearer wrong-token"), status: unaut},
		{name: "auth/list with the token under the Basic scheme", req: withAuth(apiGet("/v1/events"), "Basic "+apiToken), status: unaut},
		{name: "auth/list with two Authorization headers", req: withAuth(apiGet("/v1/events"), "Bearer wrong-token", "Bearer "+apiToken), status: unaut},
		{name: "auth/subscribe without a token", req: stream(noToken(apiGet("/v1/events:subscribe"))), status: unaut},
		{name: "auth/sse without a token", req: stream(noToken(apiGet("/v1/events:sse"))), status: unaut},
		{name: "auth/order without a token", req: noToken(apiGet("/v1/orders/some-order")), status: unaut},

		{name: "get/unknown event id", req: apiGet("/v1/events/evt_0000000000000000"), status: http.StatusNotFound},
		{name: "get/unknown order", req: apiGet("/v1/orders/no-such-order"), status: http.StatusNotFound},
		{name: "get/unknown session", req: apiGet("/v1/sessions/no/such/session"), status: http.StatusNotFound},
	}
}

// grpcCase is one read API call over gRPC and the code (and ErrorInfo
// reason) it must fail with.
type grpcCase struct {
	name   string
	call   func(ctx context.Context, e *corpusEnv) error
	code   codes.Code
	reason string
	fix    string
}

func runGRPCCases(t *testing.T, e *corpusEnv) []caseResult {
	var out []caseResult
	for _, c := range grpcCases() {
		out = append(out, checkedRun(t, e, c.name, c.fix, func(t *testing.T) {
			ctx, cancel := withTimeout()
			defer cancel()
			err := c.call(ctx, e)
			if grpcCode(err) != c.code || (c.reason != "" && errorReason(err) != c.reason) {
				t.Errorf("got %v (reason %q), want %s %s", err, errorReason(err), c.code, c.reason)
			}
		}))
	}
	return out
}

// firstFrame subscribes and returns the error of the first frame (nil if
// a frame arrived).
func firstFrame(ctx context.Context, c hooklinev1.EventServiceClient, req *hooklinev1.SubscribeRequest) error {
	st, err := c.Subscribe(ctx, req)
	if err != nil {
		return err
	}
	_, err = st.Recv()
	return err
}

// clientWithToken is an EventService client that sends token (none if "").
func clientWithToken(e *corpusEnv, token string) (hooklinev1.EventServiceClient, func()) {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient("passthrough:///"+e.gw.grpc, opts...)
	if err != nil {
		return nil, func() {}
	}
	return hooklinev1.NewEventServiceClient(conn), func() { conn.Close() }
}

func list(f *hooklinev1.EventFilter) func(context.Context, *corpusEnv) error {
	return func(ctx context.Context, e *corpusEnv) error {
		_, err := e.api.ListEvents(ctx, &hooklinev1.ListEventsRequest{Filter: f})
		return err
	}
}

func subscribe(req *hooklinev1.SubscribeRequest) func(context.Context, *corpusEnv) error {
	return func(ctx context.Context, e *corpusEnv) error { return firstFrame(ctx, e.api, req) }
}

func manyIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("v%d", i)
	}
	return ids
}

func grpcCases() []grpcCase {
	earliest := &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_EARLIEST}
	withToken := func(token string, call func(context.Context, hooklinev1.EventServiceClient) error) func(context.Context, *corpusEnv) error {
		return func(ctx context.Context, e *corpusEnv) error {
			c, done := clientWithToken(e, token)
			defer done()
			return call(ctx, c)
		}
	}
	return []grpcCase{
		{name: "list/order id of 5000 bytes", call: list(&hooklinev1.EventFilter{OrderIds: []string{long5000}}), code: codes.InvalidArgument, fix: fixFilters},
		{name: "list/order id one byte over the limit", call: list(&hooklinev1.EventFilter{OrderIds: []string{longOverLimit}}), code: codes.InvalidArgument, fix: fixFilters},
		{name: "list/order id at the limit", call: list(&hooklinev1.EventFilter{OrderIds: []string{longAtLimit}}), code: codes.OK},
		{name: "list/1001 order ids (one over the limit)", call: list(&hooklinev1.EventFilter{OrderIds: manyIDs(filterValues + 1)}), code: codes.InvalidArgument, fix: fixFilters},
		{name: "list/1000 order ids (the limit)", call: list(&hooklinev1.EventFilter{OrderIds: manyIDs(filterValues)}), code: codes.OK},
		{name: "list/unknown event type", call: list(&hooklinev1.EventFilter{EventTypes: []hooklinev1.EventType{999}}), code: codes.InvalidArgument},
		{name: "list/unknown provider", call: list(&hooklinev1.EventFilter{Providers: []hooklinev1.Provider{99}}), code: codes.InvalidArgument},
		{name: "list/empty session key", call: list(&hooklinev1.EventFilter{SessionKeys: []string{""}}), code: codes.InvalidArgument},
		{name: "list/negative page_size", code: codes.InvalidArgument,
			call: func(ctx context.Context, e *corpusEnv) error {
				_, err := e.api.ListEvents(ctx, &hooklinev1.ListEventsRequest{PageSize: -1})
				return err
			}},
		{name: "list/page_token of another form", code: codes.InvalidArgument,
			call: func(ctx context.Context, e *corpusEnv) error {
				_, err := e.api.ListEvents(ctx, &hooklinev1.ListEventsRequest{PageToken: foreignToken})
				return err
			}},
		{name: "list/after_sequence beyond the end", code: codes.OutOfRange, reason: "CURSOR_AHEAD",
			call: func(ctx context.Context, e *corpusEnv) error {
				_, err := e.api.ListEvents(ctx, &hooklinev1.ListEventsRequest{AfterSequence: 1 << 40})
				return err
			}},
		{name: "subscribe/order id of 5000 bytes", code: codes.InvalidArgument, fix: fixFilters,
			call: subscribe(&hooklinev1.SubscribeRequest{Start: earliest, Filter: &hooklinev1.EventFilter{OrderIds: []string{long5000}}})},
		{name: "subscribe/1001 session keys (one over the limit)", code: codes.InvalidArgument, fix: fixFilters,
			call: subscribe(&hooklinev1.SubscribeRequest{Start: earliest, Filter: &hooklinev1.EventFilter{SessionKeys: manyIDs(filterValues + 1)}})},
		{name: "subscribe/empty order id", code: codes.InvalidArgument,
			call: subscribe(&hooklinev1.SubscribeRequest{Start: earliest, Filter: &hooklinev1.EventFilter{OrderIds: []string{"a", ""}}})},
		{name: "subscribe/unknown event type", code: codes.InvalidArgument,
			call: subscribe(&hooklinev1.SubscribeRequest{Filter: &hooklinev1.EventFilter{EventTypes: []hooklinev1.EventType{-4}}})},
		{name: "subscribe/after_sequence beyond the end", code: codes.OutOfRange, reason: "CURSOR_AHEAD",
			call: subscribe(&hooklinev1.SubscribeRequest{Start: &hooklinev1.SubscribeRequest_AfterSequence{AfterSequence: 1 << 40}})},
		{name: "subscribe/start_time out of range", code: codes.InvalidArgument,
			call: subscribe(&hooklinev1.SubscribeRequest{Start: &hooklinev1.SubscribeRequest_StartTime{StartTime: &timestamppb.Timestamp{Seconds: 1, Nanos: 2e9}}})},
		{name: "get/empty event id", code: codes.InvalidArgument,
			call: func(ctx context.Context, e *corpusEnv) error {
				_, err := e.api.GetEvent(ctx, &hooklinev1.GetEventRequest{})
				return err
			}},
		{name: "get/unknown event id", code: codes.NotFound,
			call: func(ctx context.Context, e *corpusEnv) error {
				_, err := e.api.GetEvent(ctx, &hooklinev1.GetEventRequest{Id: "evt_0000"})
				return err
			}},
		{name: "get/unknown order", code: codes.NotFound,
			call: func(ctx context.Context, e *corpusEnv) error {
				_, err := e.api.GetOrder(ctx, &hooklinev1.GetOrderRequest{OrderId: "no-such-order"})
				return err
			}},
		{name: "get/unknown session", code: codes.NotFound,
			call: func(ctx context.Context, e *corpusEnv) error {
				_, err := e.api.GetSession(ctx, &hooklinev1.GetSessionRequest{SessionKey: "no-such-session"})
				return err
			}},
		{name: "auth/list without a token", code: codes.Unauthenticated,
			call: withToken("", func(ctx context.Context, c hooklinev1.EventServiceClient) error {
				_, err := c.ListEvents(ctx, &hooklinev1.ListEventsRequest{})
				return err
			})},
		{name: "auth/subscribe with a wrong token", code: codes.Unauthenticated,
			call: withToken("wrong-token", func(ctx context.Context, c hooklinev1.EventServiceClient) error {
				return firstFrame(ctx, c, &hooklinev1.SubscribeRequest{Start: earliest})
			})},
		{name: "auth/order with a wrong token", code: codes.Unauthenticated,
			call: withToken("wrong-token", func(ctx context.Context, c hooklinev1.EventServiceClient) error {
				_, err := c.GetOrder(ctx, &hooklinev1.GetOrderRequest{OrderId: "x"})
				return err
			})},
	}
}

// runLargePageCases stores several ~600 KiB deliveries, then pages through
// the whole log with page_size 1000 over REST and over gRPC (with the
// client's default 4 MiB message limit): every page must be served, each
// bounded by bytes and pointing to the next, rather than the call failing
// with RESOURCE_EXHAUSTED (429).
func runLargePageCases(t *testing.T, e *corpusEnv) []caseResult {
	var out []caseResult
	out = append(out, checkedRun(t, e, "store 8 deliveries of 600 KiB", "", func(t *testing.T) {
		for range 8 {
			d := e.validDelivery("truv")
			setBody(&d, paddedTruv(e, 600<<10))
			if a := e.send(t, d.request()); a.status != http.StatusOK {
				t.Fatalf("600 KiB delivery: %d %s", a.status, a.code)
			}
		}
	}))
	want := len(listAll(t, e.api, e.f))
	out = append(out, checkedRun(t, e, "REST pages of page_size 1000", fixPageBytes, func(t *testing.T) {
		got, pages, tok := 0, 0, ""
		for {
			target := "/v1/events?page_size=1000"
			if tok != "" {
				target += "&page_token=" + url.QueryEscape(tok)
			}
			a := e.send(t, apiGet(target))
			if a.status != http.StatusOK {
				t.Fatalf("page %d: %d (%s), want 200", pages+1, a.status, clip(a.body))
			}
			var page struct {
				Events        []json.RawMessage `json:"events"`
				NextPageToken string            `json:"nextPageToken"`
			}
			if err := json.Unmarshal(a.body, &page); err != nil {
				t.Fatalf("page %d: %v", pages+1, err)
			}
			got, pages = got+len(page.Events), pages+1
			if tok = page.NextPageToken; tok == "" || len(page.Events) == 0 {
				break
			}
		}
		if got < want || pages < 2 {
			t.Errorf("%d pages with %d events; the log holds %d events, more than 2 MiB: want them all, on several pages", pages, got, want)
		}
	}))
	out = append(out, checkedRun(t, e, "gRPC pages of page_size 1000 within the default 4 MiB", fixPageBytes, func(t *testing.T) {
		c, done := clientWithToken(e, apiToken)
		defer done()
		got, pages, tok := 0, 0, ""
		for {
			ctx, cancel := withTimeout()
			resp, err := c.ListEvents(ctx, &hooklinev1.ListEventsRequest{PageSize: 1000, PageToken: tok})
			cancel()
			if err != nil {
				t.Fatalf("page %d: %v", pages+1, err)
			}
			got, pages = got+len(resp.GetEvents()), pages+1
			if tok = resp.GetNextPageToken(); tok == "" || len(resp.GetEvents()) == 0 {
				break
			}
		}
		if got < want || pages < 2 {
			t.Errorf("%d pages with %d events; the log holds %d events, more than 2 MiB: want them all, on several pages", pages, got, want)
		}
	}))
	return out
}
