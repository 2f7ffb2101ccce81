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
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/adaptertest"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

const (
	truvSecret     = "e2e-truv-secret"
	finicitySecret = "e2e-finicity-secret"
	swyftAuth      = "Bearer e2e-swyft"
)

// apiToken protects the read API of the gateways these tests start.
const apiToken = "e2e-api-token"

var testEnv = map[string]string{
	"E2E_TRUV": truvSecret, "E2E_FINICITY": finicitySecret, "E2E_SWYFT": swyftAuth,
	"HOOKLINE_API_TOKENS": apiToken,
}

const testConfig = `
sources:
  - provider: truv
    secret_env: [E2E_TRUV]
  - provider: mastercard
    secret_env: [E2E_FINICITY]
  - provider: swyft
    secret_env: [E2E_SWYFT]
`

// gateway is one running instance of run().
type gateway struct {
	http, grpc string
	cancel     context.CancelFunc
	done       chan error
	logs       *lockedBuffer // what run() wrote to stderr
}

// lockedBuffer is a strings.Builder safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs the gateway on dataDir with configPath; extra flags follow
// the defaults below (a later flag wins).
func start(t *testing.T, dataDir, configPath string, extra ...string) *gateway {
	t.Helper()
	return startEnv(t, testEnv, dataDir, configPath, extra...)
}

// startEnv is start with env as the gateway's environment.
func startEnv(t *testing.T, env map[string]string, dataDir, configPath string, extra ...string) *gateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	g := &gateway{cancel: cancel, done: make(chan error, 1), logs: &lockedBuffer{}}
	args := []string{"--config", configPath, "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--log-level", "warn",
		// A tiny JetStream window: retries after a restart can only be
		// recognized by the (rebuilt) index.
		"--nats-duplicate-window", "100ms", "--max-index-lag", "1s"}
	args = append(args, extra...)
	go func() {
		err := run(ctx, args, func(k string) string { return env[k] }, pw, g.logs)
		pw.CloseWithError(fmt.Errorf("run returned: %v", err))
		g.done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("gateway did not start: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`http=(\S+) grpc=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("unexpected start line %q", line)
	}
	g.http, g.grpc = "http://"+m[1], m[2]
	waitReady(t, g.http)
	return g
}

func (g *gateway) stop(t *testing.T) {
	t.Helper()
	g.cancel()
	select {
	case err := <-g.done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30s")
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	testkit.WaitFor(t, 20*time.Second, "the gateway to be ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// delivery is one signed webhook request.
type delivery struct {
	name, path string
	body       []byte
	header     http.Header
}

func signedFixtures(t *testing.T) []delivery {
	t.Helper()
	var out []delivery
	add := func(provider, path string, sign func([]byte) (string, string)) {
		for _, fx := range (adaptertest.Suite{Dir: filepath.Join("..", "..", "adapters", provider, "testdata")}).Fixtures(t) {
			h := fx.Header.Clone()
			k, v := sign(fx.Body)
			h.Set(k, v)
			out = append(out, delivery{name: provider + "/" + fx.Name, path: path, body: fx.Body, header: h})
		}
	}
	add("truv", "/webhooks/truv", func(b []byte) (string, string) {
		return "X-Webhook-Sign", "v1=" + hex.EncodeToString(adapters.HMACSHA256([]byte(truvSecret), b))
	})
	add("finicity", "/webhooks/finicity", func(b []byte) (string, string) {
		return "X-Finicity-Signature", hex.EncodeToString(adapters.HMACSHA256([]byte(finicitySecret), b))
	})
	add("swyft", "/webhooks/swyft", func([]byte) (string, string) { return "Authorization", swyftAuth })
	return out
}

func post(t *testing.T, base string, d delivery) (int, server.Accepted) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+d.path, bytes.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = d.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", d.name, err)
	}
	defer resp.Body.Close()
	var acc server.Accepted
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &acc); err != nil {
			t.Fatalf("%s: answer %s: %v", d.name, b, err)
		}
	} else {
		t.Logf("%s: %d %s", d.name, resp.StatusCode, b)
	}
	return resp.StatusCode, acc
}

func listAll(t *testing.T, grpcAddr string) []*hooklinev1.Event {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := hooklinev1.NewEventServiceClient(conn)
	var all []*hooklinev1.Event
	tok := ""
	for {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+apiToken)
		resp, err := c.ListEvents(ctx, &hooklinev1.ListEventsRequest{PageSize: 7, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, resp.GetEvents()...)
		if tok = resp.GetNextPageToken(); tok == "" {
			return all
		}
	}
}

// TestEndToEnd drives the real program: every provider fixture, signed as
// the provider signs it, is accepted once; retries are duplicates, also
// after a restart on the same data directory with the index deleted; every
// event reads back once.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookline.yaml")
	if err := os.WriteFile(cfgPath, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	fixtures := signedFixtures(t)

	g := start(t, dataDir, cfgPath)
	// The test's --max-index-lag exceeds what its tiny duplicate window
	// covers; the gateway says so at start.
	if !strings.Contains(g.logs.String(), "msg=dedup_gap_possible") {
		t.Errorf("no dedup_gap_possible warning at start; logs:\n%s", g.logs.String())
	}
	// The read API wants the token from HOOKLINE_API_TOKENS.
	resp, err := http.Get(g.http + "/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/events without the API token: %d, want 401", resp.StatusCode)
	}
	stored := map[string]uint64{}
	providers := map[string]bool{}
	for _, d := range fixtures {
		code, acc := post(t, g.http, d)
		if code != http.StatusOK {
			t.Fatalf("%s: status %d, want 200", d.name, code)
		}
		for _, ev := range acc.Events {
			if ev.Duplicate {
				t.Errorf("%s: first delivery reported as duplicate", d.name)
			}
			if prev, ok := stored[ev.ID]; ok {
				t.Errorf("%s: event %s already stored at %d", d.name, ev.ID, prev)
			}
			stored[ev.ID] = ev.Sequence
			providers[d.path] = true
		}
	}
	t.Logf("stored %d events from %d fixtures of %d providers", len(stored), len(fixtures), len(providers))
	if len(providers) != 3 || len(stored) < 40 {
		t.Fatalf("stored %d events from %d providers; want ≥40 from 3", len(stored), len(providers))
	}
	for _, d := range fixtures[:5] {
		if code, acc := post(t, g.http, d); code != http.StatusOK || (len(acc.Events) > 0 && !acc.Duplicate) {
			t.Errorf("%s retry: status %d duplicate=%v, want 200 duplicate", d.name, code, acc.Duplicate)
		}
	}
	g.stop(t)

	// The index is a projection of the log: delete it, and the restarted
	// gateway rebuilds it before it accepts webhooks, so every retry is
	// still recognized.
	if err := os.RemoveAll(filepath.Join(dataDir, "index")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // past JetStream's window
	g = start(t, dataDir, cfgPath)
	defer g.stop(t)
	for _, d := range fixtures {
		code, acc := post(t, g.http, d)
		if code != http.StatusOK {
			t.Fatalf("%s after restart: status %d", d.name, code)
		}
		for _, ev := range acc.Events {
			if !ev.Duplicate || stored[ev.ID] != ev.Sequence {
				t.Errorf("%s after restart: event %s duplicate=%v seq=%d, want duplicate of %d", d.name, ev.ID, ev.Duplicate, ev.Sequence, stored[ev.ID])
			}
		}
	}
	got := listAll(t, g.grpc)
	seen := map[string]bool{}
	for _, ev := range got {
		if seen[ev.GetId()] {
			t.Errorf("event %s listed twice", ev.GetId())
		}
		seen[ev.GetId()] = true
		if stored[ev.GetId()] != ev.GetSequence() {
			t.Errorf("event %s listed at %d, stored at %d", ev.GetId(), ev.GetSequence(), stored[ev.GetId()])
		}
	}
	if len(got) != len(stored) {
		t.Errorf("listed %d events, stored %d", len(got), len(stored))
	}
}
