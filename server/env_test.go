package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/hookline/hookline/internal/eventlog/eventlogtest"
	"github.com/hookline/hookline/internal/testkit"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/finicity"
	"github.com/hookline/hookline/adapters/registry"
	"github.com/hookline/hookline/adapters/swyft"
	"github.com/hookline/hookline/adapters/truv"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/index"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Secrets of the test sources.
const (
	testTruvSecret     = "truv-test-secret"
	testFinicitySecret = "finicity-test-secret"
	testSwyftAuth      = "Bearer swyft-test"
)

// testEnv is a running Server on loopback listeners (port 0) with an
// embedded event log and index in a temporary directory.
type testEnv struct {
	srv     *Server
	log     *eventlogtest.Log
	idx     *index.Index
	httpURL string
	conn    *grpc.ClientConn
	client  hooklinev1.EventServiceClient
	cancel  context.CancelFunc
	done    chan error
}

// envOptions tune newTestEnv.
type envOptions struct {
	logOpts eventlog.Options
	cfg     func(*Config)
	// dir holds the log and the index; empty: a new temporary directory.
	// Set it to start a server on a store left by an earlier one.
	dir string
}

func newTestEnv(t testing.TB, eo envOptions) *testEnv {
	t.Helper()
	dir := eo.dir
	if dir == "" {
		dir = t.TempDir()
	}
	lo := eo.logOpts
	lo.DataDir = dir
	lg := eventlogtest.Open(t, lo)
	idx, err := index.Open(filepath.Join(dir, "index"))
	if err != nil {
		t.Fatal(err)
	}
	mk := func(f adapters.Factory, name string, secret string, opts map[string]string) *Source {
		a, err := f.New(adapters.Config{Source: name, Secrets: [][]byte{[]byte(secret)}, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		return &Source{Provider: f.Name, Name: name, Adapter: a}
	}
	cfg := Config{
		Log: lg.Log, Index: idx,
		Sources: []*Source{
			mk(truv.Factory, "default", testTruvSecret, nil),
			mk(truv.Factory, "sandbox", "truv-sandbox-secret", nil),
			mk(finicity.Factory, "default", testFinicitySecret, nil),
			mk(swyft.Factory, "default", testSwyftAuth, nil),
		},
		Ingest: IngestOptions{Providers: registry.Factories(), MaxBodyBytes: 64 << 10, AppendTimeout: 2 * time.Second},
	}
	if eo.cfg != nil {
		eo.cfg(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &testEnv{srv: srv, log: lg, idx: idx, httpURL: "http://" + httpLn.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- srv.Run(ctx, httpLn, grpcLn) }()
	e.conn, err = grpc.NewClient("passthrough:///"+grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	e.client = hooklinev1.NewEventServiceClient(e.conn)
	t.Cleanup(func() {
		e.conn.Close()
		cancel()
		select {
		case err := <-e.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return within 20s")
		}
		idx.Close()
		lg.Close()
	})
	select {
	case <-srv.pipeline.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready after 10s")
	}
	return e
}

// lagging reports whether the lag guard refuses webhooks.
func (e *testEnv) lagging() bool { return e.srv.pipeline.Stats().Lagging }

// waitApplied waits until seq has reached both the live fan-out and the
// index.
func (e *testEnv) waitApplied(t testing.TB, seq uint64) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, fmt.Sprintf("sequence %d applied", seq), func() bool {
		return e.srv.pipeline.Hub().Last() >= seq && e.srv.pipeline.Stats().Applied >= seq
	})
}

// truvOrderBody returns a Truv order-status-updated body.
func truvOrderBody(webhookID, orderID, status, updatedAt string) []byte {
	return fmt.Appendf(nil, `{"webhook_id":%q,"event_type":"order-status-updated","event_created_at":%q,"updated_at":%q,`+
		`"product":"income","order_id":%q,"order_number":"4138538","status":%q,"user_id":"adbe707dddee4334bffaeb5866272740"}`,
		webhookID, updatedAt, updatedAt, orderID, status)
}

// truvTaskBody returns a Truv task-status-updated body.
func truvTaskBody(webhookID, taskID, status, updatedAt string) []byte {
	return fmt.Appendf(nil, `{"webhook_id":%q,"event_type":"task-status-updated","event_created_at":%q,"updated_at":%q,`+
		`"task_id":%q,"link_id":"d39d86dcc20c46e0ae75ba9ab1311a21","product":"income","status":%q}`,
		webhookID, updatedAt, updatedAt, taskID, status)
}

// finicityBody returns a Finicity Connect event body.
func finicityBody(eventType, customerID string, millis int64, hex24 string) []byte {
	return fmt.Appendf(nil, `{"customerId":%q,"eventType":%q,"eventId":"%d-%s","payload":{"institutionId":"102176"}}`,
		customerID, eventType, millis, hex24)
}

// swyftBody returns a Swyft order_status_change body.
func swyftBody(eventID, uuid, oldStatus, newStatus, updatedAt string) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"event":{"name":"order_status_change","changed_field":"status","old_status":%q,"new_status":%q},`+
		`"order":{"id":7,"uuid":%q,"service":"ein","status":%q,"processing_status":"Under Review","updated_at":%q}}`,
		eventID, oldStatus, newStatus, uuid, newStatus, updatedAt)
}

// signTruv returns the Truv signature header value of body.
func signTruv(secret string, body []byte) string {
	return "v1=" + hex.EncodeToString(adapters.HMACSHA256([]byte(secret), body))
}

// signFinicity returns the Finicity signature header value of body.
func signFinicity(secret string, body []byte) string {
	return hex.EncodeToString(adapters.HMACSHA256([]byte(secret), body))
}

// postRaw posts body to path with headers and returns status and body.
func (e *testEnv) postRaw(t testing.TB, method, path string, body []byte, h http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.httpURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// postTruv posts a correctly signed Truv delivery and returns the answer.
func (e *testEnv) postTruv(t testing.TB, body []byte) Accepted {
	t.Helper()
	code, b := e.postRaw(t, http.MethodPost, "/webhooks/truv", body, http.Header{
		"Content-Type": {"application/json"}, "X-Webhook-Sign": {signTruv(testTruvSecret, body)},
	})
	if code != http.StatusOK {
		t.Fatalf("post truv: %d %s", code, b)
	}
	var acc Accepted
	if err := json.Unmarshal(b, &acc); err != nil {
		t.Fatal(err)
	}
	return acc
}

// httpErrorStatus decodes the JSON error body every HTTP surface answers
// (errors.go) into the status a gRPC caller would get for the same error:
// the message, and an ErrorInfo whose reason is the upper-case code and
// whose metadata are the details. Tests then compare HTTP errors as they
// compare gRPC ones.
func httpErrorStatus(b []byte) (*status.Status, error) {
	var eb errorBody
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code == "" {
		return nil, fmt.Errorf("not an error body: %s (%v)", b, err)
	}
	return status.New(grpcCodeOf(strings.ToUpper(eb.Error.Code)), eb.Error.Message).WithDetails(&errdetails.ErrorInfo{
		Reason: strings.ToUpper(eb.Error.Code), Domain: ErrorDomain, Metadata: eb.Error.Details,
	})
}

// grpcCodeOf is the gRPC code the API uses with a reason.
func grpcCodeOf(reason string) codes.Code {
	switch reason {
	case ReasonCursorExpired, ReasonCursorAhead:
		return codes.OutOfRange
	case ReasonInvalidArgument:
		return codes.InvalidArgument
	case ReasonNotFound:
		return codes.NotFound
	case ReasonUnavailable, ReasonShuttingDown:
		return codes.Unavailable
	case ReasonTooManySubscriptions:
		return codes.ResourceExhausted
	case ReasonUnauthenticated:
		return codes.Unauthenticated
	default:
		return codes.Unknown
	}
}
