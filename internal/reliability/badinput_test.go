package reliability

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// maxBody is the --max-body-bytes of the corpus's gateway (its default).
const maxBody = 1 << 20

// TestBadInput is scenario 6: a corpus of bad (and borderline) requests to
// the webhooks and the read API, each with the status it must get (and for
// webhooks the error.code). Every case is followed by a valid signed
// delivery, which must be stored (200, not a duplicate), and by /readyz,
// which must answer 200: no bad request may hurt the next good one.
//
// The expected statuses describe the gateway as it is meant to be (README,
// "Webhook answers"); cases marked with a fix fail until that fix is in.
func TestBadInput(t *testing.T) {
	f := newFigures(t, "6. bad-input corpus")
	e := &corpusEnv{t: t, f: f}
	e.start()
	defer func() { f.PeakRSS = e.set.peakRSS() }()

	groups := []struct {
		name string
		run  func(t *testing.T, e *corpusEnv) []caseResult
	}{
		{"webhooks", runWebhookCases},
		{"rest", runRESTCases},
		{"grpc", runGRPCCases},
		{"large-pages", runLargePageCases},
	}
	var all []caseResult
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { all = append(all, g.run(t, e)...) })
	}
	e.gw.checkAlive(t)
	f.Stored = len(listAll(t, e.api, f))
	failed := 0
	for _, r := range all {
		if !r.passed {
			failed++
			line := "failing: `" + r.name + "`"
			if r.fix != "" {
				line += " (waits for a fix: " + r.fix + ")"
			}
			f.note("%s", line)
		}
	}
	f.Rounds = len(all)
	f.note("%d cases, %d passed, %d failed; each followed by a valid signed delivery (200) and /readyz (200)", len(all), len(all)-failed, failed)
	if len(all) < 100 {
		t.Errorf("the corpus has %d cases, want at least 100", len(all))
	}
}

// corpusEnv is the gateway the corpus runs against.
type corpusEnv struct {
	t        *testing.T // the corpus test, which owns the gateway processes
	gw       *gateway
	api      hooklinev1.EventServiceClient
	f        *figures
	n        atomic.Int64 // makes ids unique
	restarts int
	set      gatewaySet
}

// start starts a fresh gateway (new data directory) for the corpus.
func (e *corpusEnv) start() {
	e.gw = e.set.add(startReady(e.t, fmt.Sprintf("gateway-%d", e.restarts+1), gatewayOptions{
		dataDir: e.t.TempDir(), logLevel: "info", args: []string{"--max-body-bytes", strconv.Itoa(maxBody)},
	}))
	e.api = dialAPI(e.t, e.gw.grpc)
}

// replace kills a gateway that a case left unable to store or not ready,
// and starts a fresh one, so that the cases after it are judged on their
// own. The report names the case.
func (e *corpusEnv) replace(after string) {
	e.f.note("GATEWAY BROKEN: after `%s` the gateway no longer stored valid deliveries or was not ready; it was replaced by a fresh one", after)
	e.gw.kill()
	e.restarts++
	e.start()
}

// caseResult is the verdict of one case, for the report.
type caseResult struct {
	name   string
	fix    string
	passed bool
}

// uid returns an id unique in the corpus run.
func (e *corpusEnv) uid(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, e.n.Add(1))
}

// afterCase checks that a valid delivery is still stored and the gateway
// still ready; it reports whether both held.
func (e *corpusEnv) afterCase(t *testing.T) bool {
	t.Helper()
	healthy := true
	d := e.validDelivery([]string{"truv", "finicity", "swyft"}[e.n.Load()%3])
	a := e.send(t, d.request())
	if a.status != http.StatusOK || a.ok.Duplicate || len(a.ok.Events) != 1 {
		healthy = false
		t.Errorf("the valid delivery after the case: %d %s (%s), want 200 with one new event", a.status, a.code, clip(a.body))
	}
	resp, err := plainClient.Get(e.gw.http + "/readyz")
	if err != nil {
		t.Errorf("/readyz after the case: %v", err)
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		healthy = false
		t.Errorf("/readyz after the case: %d, want 200", resp.StatusCode)
	}
	return healthy
}

// validDelivery returns a new valid signed delivery of provider.
func (e *corpusEnv) validDelivery(provider string) delivery {
	switch provider {
	case "truv":
		return signTruv("truv", truvBody(q(hexID(e.uid("wh"))), q(e.uid("order")), ""))
	case "finicity":
		return signFinicity("finicity", finicityBody(q(finicityEventID(e.uid("ev"))), q(e.uid("cust")), ""))
	default:
		return signSwyft("swyft", swyftBody(q(e.uid("ev")), q(e.uid("uuid")), ""))
	}
}

// q quotes s as a JSON string; bytes that are not valid UTF-8 are kept as
// they are (so that a case can send them).
func q(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// hexID turns any unique string into a 32-character lowercase hex id, as
// Truv's webhook ids are.
func hexID(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// finicityEventID is an eventId in Finicity's form (13-digit millis, 24
// hex) unique to s.
func finicityEventID(s string) string {
	h := sha256.Sum256([]byte(s))
	return "1744671850866-" + hex.EncodeToString(h[:12])
}

// Bodies with their ids given as raw JSON values (already quoted, or any
// other JSON), and extra members appended to the object ("" for none;
// otherwise starting with a comma).
func truvBody(webhookID, orderID, extra string) []byte {
	return fmt.Appendf(nil, `{"webhook_id":%s,"event_type":"order-status-updated","event_created_at":"2026-01-02T03:04:05.123456Z",`+
		`"updated_at":"2026-01-02T03:04:05.123456+00:00","product":"income","order_id":%s,"order_number":"4138538","status":"completed"%s}`,
		webhookID, orderID, extra)
}

func finicityBody(eventID, customerID, extra string) []byte {
	return fmt.Appendf(nil, `{"customerId":%s,"eventType":"done","eventId":%s,"payload":{"institutionId":"102176"}%s}`,
		customerID, eventID, extra)
}

func swyftBody(eventID, uuid, extra string) []byte {
	return fmt.Appendf(nil, `{"event_id":%s,"event":{"name":"order_status_change","changed_field":"status","old_status":"Active","new_status":"Cancelled"},`+
		`"order":{"id":7,"uuid":%s,"service":"ein","status":"Cancelled","processing_status":"Under Review","updated_at":"2026-01-02 03:04:05"}%s}`,
		eventID, uuid, extra)
}

// framing says how a request's body goes on the wire.
type framing int

const (
	contentLength framing = iota // Content-Length: len(body)
	chunked                      // Transfer-Encoding: chunked, correctly framed
	verbatim                     // body bytes as they are; the headers say what they claim
)

// request is one raw HTTP/1.1 request. The target is sent exactly as
// given (no client cleans the path or follows a redirect).
type request struct {
	method, target string
	header         http.Header
	body           []byte
	framing        framing
	// closeWrite half-closes the connection after the request, so that a
	// body shorter than it claims ends there.
	closeWrite bool
	// stream: the answer may be an endless stream; its body is not read.
	stream bool
	// webhook: a delivery, whose 200 answer is read as one and counted.
	webhook bool
}

// request returns the HTTP request of a delivery.
func (d delivery) request() request {
	return request{method: http.MethodPost, target: d.path, header: d.header.Clone(), body: d.body, webhook: true}
}

// send writes r on a new connection to the gateway and reads the answer.
func (e *corpusEnv) send(t *testing.T, r request) answer {
	t.Helper()
	a := sendRaw(e.gw.http, r)
	if a.err != nil {
		t.Errorf("%s %s: %v", r.method, clip([]byte(r.target)), a.err)
	}
	if r.webhook && r.method == http.MethodPost {
		e.f.Sent++
		if a.status == http.StatusOK {
			e.f.OK++
		} else {
			e.f.Failures[a.outcome()]++
		}
	}
	return a
}

func sendRaw(base string, r request) answer {
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return answer{err: err}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", r.method, r.target, host)
	for _, k := range slices.Sorted(maps.Keys(r.header)) {
		for _, v := range r.header[k] {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	body := r.body
	switch r.framing {
	case contentLength:
		if r.header.Get("Content-Length") == "" && (body != nil || r.method == http.MethodPost) {
			fmt.Fprintf(&head, "Content-Length: %d\r\n", len(body))
		}
	case chunked:
		head.WriteString("Transfer-Encoding: chunked\r\n")
		var cb bytes.Buffer
		for chunk := range slices.Chunk(body, 64<<10) {
			fmt.Fprintf(&cb, "%x\r\n%s\r\n", len(chunk), chunk)
		}
		cb.WriteString("0\r\n\r\n")
		body = cb.Bytes()
	}
	head.WriteString("\r\n")
	if _, err := conn.Write(append(head.Bytes(), body...)); err != nil {
		return answer{err: fmt.Errorf("write request: %w", err)}
	}
	if r.closeWrite {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	req, _ := http.NewRequest(r.method, base+"/", nil)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return answer{err: fmt.Errorf("read answer: %w", err)}
	}
	if r.stream && resp.StatusCode == http.StatusOK {
		conn.Close() // first: closing the body of an endless stream would read it to its end
		resp.Body.Close()
		return answer{status: resp.StatusCode, header: resp.Header}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return answer{err: fmt.Errorf("read answer body: %w", err)}
	}
	if !r.webhook && resp.StatusCode == http.StatusOK {
		return answer{status: resp.StatusCode, header: resp.Header, body: b}
	}
	return parseAnswer(resp.StatusCode, resp.Header, b)
}

// apiGet is a read API request with the token.
func apiGet(target string) request {
	return request{method: http.MethodGet, target: target, header: http.Header{"Authorization": {"Bearer " + apiToken}}}
}

// apiPost is a read API POST of a JSON body with the token.
func apiPost(target string, body []byte) request {
	return request{method: http.MethodPost, target: target, body: body,
		header: http.Header{"Authorization": {"Bearer " + apiToken}, "Content-Type": {"application/json"}}}
}

// checkedRun runs one case as a subtest followed by afterCase, and returns
// its verdict. A case that leaves the gateway broken fails, and the
// gateway is replaced for the next case.
func checkedRun(t *testing.T, e *corpusEnv, name, fix string, body func(t *testing.T)) caseResult {
	t.Helper()
	healthy := true
	ok := t.Run(name, func(t *testing.T) {
		defer func() { healthy = e.afterCase(t) }()
		body(t)
	})
	res := caseResult{name: t.Name() + "/" + name, fix: fix, passed: ok}
	if !healthy {
		e.replace(res.name)
	}
	return res
}

// withTimeout is a context for one read API call.
func withTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}
