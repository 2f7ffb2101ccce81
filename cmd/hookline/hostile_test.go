package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/hookline/hookline/internal/testkit"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// These are the regression tests of single requests that used to take
// ingest down or lose a delivery. Each one is followed by an ordinary
// signed delivery and a readiness check: the gateway must still store.

// hostileConfig adds an unsigned Finicity source, reachable by anyone.
const hostileConfig = testConfig + `
  - provider: finicity
    name: reports
    allow_unauthenticated: true
`

func startHostile(t *testing.T, extra ...string) *gateway {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookline.yaml")
	if err := os.WriteFile(cfgPath, []byte(hostileConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	g := start(t, filepath.Join(dir, "data"), cfgPath, extra...)
	t.Cleanup(func() { g.stop(t) })
	return g
}

// truvDelivery signs a Truv order-status-updated delivery.
func truvDelivery(webhookID, orderID string, pad int) delivery {
	body := fmt.Appendf(nil, `{"webhook_id":%q,"event_type":"order-status-updated","event_created_at":"2024-07-11T21:40:48.424610Z",`+
		`"updated_at":"2024-07-11T21:40:48.424655+00:00","product":"income","order_id":%q,"order_number":"4138538","status":"completed","padding":%q}`,
		webhookID, orderID, strings.Repeat("p", pad))
	return signTruvDelivery(body)
}

func signTruvDelivery(body []byte) delivery {
	return delivery{name: "truv", path: "/webhooks/truv", body: body, header: http.Header{
		"Content-Type":   {"application/json"},
		"X-Webhook-Sign": {"v1=" + hex.EncodeToString(adapters.HMACSHA256([]byte(truvSecret), body))},
	}}
}

// rawPost posts d and returns the status and body of the answer.
func rawPost(t *testing.T, base string, d delivery) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+d.path, bytes.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = d.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// stillStores checks that the gateway is ready and stores a fresh delivery.
func stillStores(t *testing.T, g *gateway) {
	t.Helper()
	resp, err := http.Get(g.http + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %d %s", resp.StatusCode, b)
	}
	id := fmt.Sprintf("fresh-%d", time.Now().UnixNano())
	if code, _ := post(t, g.http, truvDelivery(id, "order-"+id, 0)); code != http.StatusOK {
		t.Errorf("an ordinary delivery afterwards: %d, want 200", code)
	}
}

func apiClient(t *testing.T, g *gateway) hooklinev1.EventServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+g.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return hooklinev1.NewEventServiceClient(conn)
}

func apiCtx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+apiToken)
}

func apiGet(t *testing.T, g *gateway, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.http+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestLongIDs: ids of any length are stored whole, under a bounded subject,
// with their state, and the append connection stays up. A 5 000-character
// id used to close it for good (every later delivery got 503), also on the
// unsigned source; one over 32 KiB would not fit a state key.
func TestLongIDs(t *testing.T) {
	g := startHostile(t)
	c := apiClient(t, g)
	for _, tc := range []struct{ name, id string }{
		{"plain 5000", strings.Repeat("a", 5000)},
		{"dots 2000", strings.Repeat(".", 2000)},
		{"over a state key", strings.Repeat("b", 40000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _ := post(t, g.http, truvDelivery("wh-"+tc.name, tc.id, 0)); code != http.StatusOK {
				t.Fatalf("delivery with a %d-byte order id: %d, want 200", len(tc.id), code)
			}
			stillStores(t, g)
			var resp *hooklinev1.GetOrderResponse
			testkit.WaitFor(t, 10*time.Second, "the order in the index", func() bool {
				var err error
				resp, err = c.GetOrder(apiCtx(), &hooklinev1.GetOrderRequest{OrderId: tc.id})
				if err != nil && status.Code(err) != codes.NotFound {
					t.Fatalf("GetOrder(long id): %v", err)
				}
				return err == nil
			})
			if resp.GetOrder().GetOrderId() != tc.id {
				t.Fatalf("GetOrder returned an order id of %d bytes, want the full %d", len(resp.GetOrder().GetOrderId()), len(tc.id))
			}
		})
	}
	t.Run("unsigned source", func(t *testing.T) {
		body := fmt.Appendf(nil, `{"eventName":"done","id":"r1","type":"voa","status":"success","customerId":%q}`, strings.Repeat("7", 5000))
		d := delivery{name: "reports", path: "/webhooks/finicity/reports", body: body, header: http.Header{"Content-Type": {"application/json"}}}
		if code, _ := post(t, g.http, d); code != http.StatusOK {
			t.Fatalf("unsigned report with a long customer id: %d, want 200", code)
		}
		stillStores(t, g)
	})
}

// TestLongFilters: a filter value or list beyond the documented limits is
// INVALID_ARGUMENT / 400 naming the limit, on every transport, and the read
// connection stays up. One such GET used to close it: the follower stopped
// and, after --max-index-lag, every webhook got 503.
func TestLongFilters(t *testing.T) {
	g := startHostile(t)
	c := apiClient(t, g)
	long := strings.Repeat("o", 5000)
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("o%d", i)
	}
	filters := map[string]*hooklinev1.EventFilter{
		"long order id":    {OrderIds: []string{long}},
		"long session key": {SessionKeys: []string{long}},
		"1001 order ids":   {OrderIds: many},
	}
	for name, f := range filters {
		t.Run(name, func(t *testing.T) {
			_, err := c.ListEvents(apiCtx(), &hooklinev1.ListEventsRequest{Filter: f})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "at most") {
				t.Errorf("ListEvents: %v, want INVALID_ARGUMENT naming the limit", err)
			}
			st, err := c.Subscribe(apiCtx(), &hooklinev1.SubscribeRequest{Filter: f})
			if err == nil {
				_, err = st.Recv()
			}
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("Subscribe: %v, want INVALID_ARGUMENT", err)
			}
			stillStores(t, g)
		})
	}
	for name, path := range map[string]string{
		"REST list":   "/v1/events?filter.order_ids=" + long,
		"REST stream": "/v1/events:subscribe?filter.session_keys=" + long,
		"SSE":         "/v1/events:sse?order_id=" + long,
	} {
		t.Run(name, func(t *testing.T) {
			if code, b := apiGet(t, g, path); code != http.StatusBadRequest {
				t.Errorf("%d %s, want 400", code, b)
			}
			stillStores(t, g)
		})
	}
}

// TestBodyAtTheCap: a signed body of exactly --max-body-bytes is stored (it
// used to get 503 on every retry: the event did not fit the server's max
// payload), one byte more is 413, and a page of large events is served in
// parts instead of failing with RESOURCE_EXHAUSTED / 429.
func TestBodyAtTheCap(t *testing.T) {
	g := startHostile(t)
	const limit = 1 << 20
	base := truvDelivery("wh-cap", "order-cap", 0)
	atCap := truvDelivery("wh-cap", "order-cap", limit-len(base.body))
	if len(atCap.body) != limit {
		t.Fatalf("built a %d-byte body", len(atCap.body))
	}
	if code, _ := post(t, g.http, atCap); code != http.StatusOK {
		t.Fatalf("body of exactly --max-body-bytes: %d, want 200", code)
	}
	over := truvDelivery("wh-over", "order-cap", limit-len(base.body)+1)
	if code, _ := post(t, g.http, over); code != http.StatusRequestEntityTooLarge {
		t.Errorf("body one byte over the cap: %d, want 413", code)
	}
	// A body within the cap whose normalized copy makes the event larger
	// than the store takes (its order id is copied twice) is 413 with the
	// reason, never a 503 the provider would retry for days.
	bigID := strings.Repeat("i", 600<<10)
	wide := truvDelivery("wh-wide", bigID, limit-len(truvDelivery("wh-wide", bigID, 0).body))
	code, b := rawPost(t, g.http, wide)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "payload_too_large") || !strings.Contains(string(b), "limit") {
		t.Errorf("event over the store's limit: %d %.300s, want 413 payload_too_large with the limit", code, b)
	}
	for i := range 4 {
		if code, _ := post(t, g.http, truvDelivery(fmt.Sprintf("wh-big-%d", i), "order-big", 900<<10)); code != http.StatusOK {
			t.Fatalf("large delivery %d: %d", i, code)
		}
	}
	stillStores(t, g)

	c := apiClient(t, g)
	seen, pages, tok := 0, 0, ""
	for {
		resp, err := c.ListEvents(apiCtx(), &hooklinev1.ListEventsRequest{PageSize: 1000, PageToken: tok})
		if err != nil {
			t.Fatalf("ListEvents page %d: %v", pages, err)
		}
		seen += len(resp.GetEvents())
		pages++
		if tok = resp.GetNextPageToken(); tok == "" {
			break
		}
	}
	if seen != 6 || pages < 2 {
		t.Errorf("listed %d events in %d pages, want the 6 stored in several pages", seen, pages)
	}
	code, b = apiGet(t, g, "/v1/events?page_size=1000")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/events of large events: %d %.200s", code, b)
	}
	var page struct {
		Events        []json.RawMessage `json:"events"`
		NextPageToken string            `json:"nextPageToken"`
	}
	if err := json.Unmarshal(b, &page); err != nil || len(page.Events) == 0 || page.NextPageToken == "" {
		t.Errorf("REST page: %d events, next %q, %v; want a short page with a token", len(page.Events), page.NextPageToken, err)
	}
}

// TestIDsWithInvalidUTF8: webhook ids that differ only in bytes JSON
// decoding would replace (invalid UTF-8, lone surrogate escapes) are
// refused, never merged into one id (the second used to be answered as a
// duplicate of the first and lost).
func TestIDsWithInvalidUTF8(t *testing.T) {
	g := startHostile(t)
	for name, id := range map[string]string{
		"invalid byte ff":   "wh-\xff",
		"invalid byte fe":   "wh-\xfe",
		"surrogate escape":  `wh-\ud800`,
		"other surrogate":   `wh-\udfff`,
		"invalid in the id": "wh\xc3(",
	} {
		t.Run(name, func(t *testing.T) {
			body := []byte(`{"webhook_id":"` + id + `","event_type":"order-status-updated","event_created_at":"2024-07-11T21:40:48Z",` +
				`"updated_at":"2024-07-11T21:40:48+00:00","order_id":"o-utf8","status":"completed"}`)
			code, _ := post(t, g.http, signTruvDelivery(body))
			if code != http.StatusBadRequest {
				t.Errorf("webhook_id %q: %d, want 400", id, code)
			}
		})
	}
	stillStores(t, g)
}

// rawRequest writes req on a new connection, half-closes it and returns the
// status line and headers of the answer.
func rawRequest(t *testing.T, g *gateway, req string) (int, http.Header) {
	t.Helper()
	u, _ := url.Parse(g.http)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestBrokenBodies: a body cut off in transit or with a broken chunked
// encoding is the client's fault: 400, logged at info, never 500.
func TestBrokenBodies(t *testing.T) {
	g := startHostile(t)
	head := "POST /webhooks/truv HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Webhook-Sign: v1=00\r\n"
	for name, req := range map[string]string{
		"cut off":         head + "Content-Length: 100\r\n\r\n{\"webhook_id\":",
		"bad chunk size":  head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
		"chunk cut off":   head + "Transfer-Encoding: chunked\r\n\r\n10\r\n{\"a\"",
		"no last chunk":   head + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n",
		"bad chunk end":   head + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
		"empty, too long": head + "Content-Length: 10\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			if code, _ := rawRequest(t, g, req); code != http.StatusBadRequest {
				t.Errorf("%d, want 400", code)
			}
		})
	}
	if strings.Contains(g.logs.String(), "level=ERROR") {
		t.Errorf("broken bodies were logged at error level:\n%s", g.logs.String())
	}
	stillStores(t, g)
}

// TestWebhookPathsNeverRedirect: a webhook path that is not clean gets the
// documented JSON 404, not a redirect to the cleaned path.
func TestWebhookPathsNeverRedirect(t *testing.T) {
	g := startHostile(t)
	for _, path := range []string{
		"/webhooks/truv/../finicity", "//webhooks/truv", "/webhooks//truv", "/webhooks/truv/./", "/webhooks/./truv",
		"/webhooks/truv/", "/webhooks/truv/default/x", "/a/../webhooks/truv", "/webhooks/truv%2Fdefault", "/webhooks/truv%2fsandbox",
	} {
		t.Run(path, func(t *testing.T) {
			code, h := rawRequest(t, g, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
			if code != http.StatusNotFound || h.Get("Location") != "" {
				t.Errorf("%d (Location %q), want 404 and no redirect", code, h.Get("Location"))
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want the JSON error", ct)
			}
		})
	}
	stillStores(t, g)
}
