package server

import (
	"bytes"
	"context"
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
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/adaptertest"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/index"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The test environment's sources are fake adapters (adaptertest.Fake),
// registered under the real providers' names (and Finicity's alias), so
// that URLs, filters and metric labels read as in production while no test
// of the server depends on a provider's wire format. The tests that are
// about the real providers going through the server are in
// providers_test.go (newProviderEnv).

// testProviders returns the providers the test environment knows: a fake
// for each value of the Provider enum.
func testProviders() []adapters.Factory {
	return []adapters.Factory{
		adaptertest.FakeFactory(hooklinev1.Provider_PROVIDER_TRUV, "truv"),
		adaptertest.FakeFactory(hooklinev1.Provider_PROVIDER_FINICITY, "finicity", "mastercard"),
		adaptertest.FakeFactory(hooklinev1.Provider_PROVIDER_SWYFT, "swyft"),
	}
}

// tokenOf returns the token (the one secret) of the test source
// provider/source.
func tokenOf(provider, source string) string { return "token-" + provider + "-" + source }

// newSource builds the source name of factory f with one secret.
func newSource(t testing.TB, f adapters.Factory, name, secret string) *Source {
	t.Helper()
	a, err := f.New(adapters.Config{Source: name, Secrets: [][]byte{[]byte(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	return &Source{Provider: f.Name, Name: name, Adapter: a}
}

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
	stopFn  func()
	stopped sync.Once
}

// stop shuts the server down and closes its log and index, so that another
// one can start on the same directory. The test's cleanup calls it too.
func (e *testEnv) stop() { e.stopped.Do(e.stopFn) }

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
	fakes := testProviders()
	fake := func(f adapters.Factory, name string) *Source { return newSource(t, f, name, tokenOf(f.Name, name)) }
	cfg := Config{
		Log: lg.Log, Index: idx,
		Sources: []*Source{fake(fakes[0], "default"), fake(fakes[0], "sandbox"), fake(fakes[1], "default"), fake(fakes[2], "default")},
		Ingest:  IngestOptions{Providers: fakes, MaxBodyBytes: 64 << 10, AppendTimeout: 2 * time.Second},
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
	e.stopFn = func() {
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
	}
	t.Cleanup(e.stop)
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

// orderBody returns a fake order delivery: its event id, the order id, the
// status and the provider time (RFC 3339).
func orderBody(id, orderID, status, at string) []byte {
	return adaptertest.FakeBody(adaptertest.FakeEvent{ID: id, Kind: adaptertest.FakeKindOrder, Subject: orderID, Status: status, Time: at})
}

// sessionBody returns a fake session delivery: its event id, the session
// key, the stage (which also gives the event type) and the provider time.
func sessionBody(id, key, stage, at string) []byte {
	return adaptertest.FakeBody(adaptertest.FakeEvent{ID: id, Kind: adaptertest.FakeKindSession, Subject: key, Status: stage, Time: at})
}

// unmappedBody returns a fake delivery that becomes an unmapped event.
func unmappedBody(id, subjectHint string) []byte {
	return adaptertest.FakeBody(adaptertest.FakeEvent{ID: id, Kind: adaptertest.FakeKindUnmapped, Subject: subjectHint})
}

// authHeaders returns the headers that authenticate a delivery to the
// default source of provider.
func authHeaders(provider string) http.Header {
	return adaptertest.FakeHeaders(tokenOf(provider, "default"))
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

// post posts a correctly authenticated delivery to the default source of
// provider and returns the answer; any answer but 200 fails the test.
func (e *testEnv) post(t testing.TB, provider string, body []byte) Accepted {
	t.Helper()
	code, b := e.postRaw(t, http.MethodPost, "/webhooks/"+provider, body, authHeaders(provider))
	if code != http.StatusOK {
		t.Fatalf("post %s: %d %s", provider, code, b)
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
