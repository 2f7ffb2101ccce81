package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/hookline/adapters/registry"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
)

// cliToken protects the read API of the gateways the CLI tests start.
const cliToken = "cli-test-token"

// devEnv is what `make run` exports (the dev secrets of config/dev.yaml),
// plus a read API token.
var devEnv = map[string]string{
	"HOOKLINE_DEV_TRUV_SECRET":     "dev-truv-access-secret",
	"HOOKLINE_DEV_FINICITY_SECRET": "dev-finicity-partner-secret",
	"HOOKLINE_DEV_SWYFT_AUTH":      "Bearer dev-swyft-token",
	"HOOKLINE_API_TOKENS":          cliToken,
	"HOOKLINE_ADMIN_TOKENS":        cliAdminToken,
}

// cliAdminToken is the admin token of the gateways the CLI tests start.
const cliAdminToken = "cli-admin-token"

// startDev runs the gateway as `make run` does (config/dev.yaml, the dev
// secrets) on :0 ports and dataDir; extra flags come last and win.
func startDev(t *testing.T, dataDir string, extra ...string) *gateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	g := &gateway{cancel: cancel, done: make(chan error, 1), logs: &lockedBuffer{}}
	args := append([]string{"--config", filepath.Join("..", "..", "config", "dev.yaml"), "--data-dir", dataDir,
		"--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	go func() {
		err := run(ctx, args, func(k string) string { return devEnv[k] }, pw, g.logs)
		pw.CloseWithError(fmt.Errorf("run returned: %v", err))
		g.done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("gateway did not start: %v; logs:\n%s", err, g.logs.String())
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

// cliEnv is the environment a CLI user of g has: its addresses and token.
func cliEnv(g *gateway) map[string]string {
	return map[string]string{"HOOKLINE_ADDR": g.grpc, "HOOKLINE_SEND_URL": g.http, "HOOKLINE_TOKEN": cliToken}
}

// cliResult is what one CLI run printed and returned.
type cliResult struct {
	stdout, stderr string
	err            error
}

// runCLI runs `hookline args...` in process with env as its environment.
func runCLI(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return cliResult{out.String(), errb.String(), err}
}

// mustCLI is runCLI that fails the test on an error.
func mustCLI(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, env, args...)
	if r.err != nil {
		t.Fatalf("hookline %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

// answer is the gateway's JSON answer to a webhook.
type answer struct {
	Duplicate bool `json:"duplicate"`
	Ping      bool `json:"ping"`
	Events    []struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Sequence uint64 `json:"sequence"`
	} `json:"events"`
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
}

// send runs `hookline send args...` and decodes the answer.
func send(t *testing.T, env map[string]string, args ...string) answer {
	t.Helper()
	r := mustCLI(t, env, append([]string{"send"}, args...)...)
	var a answer
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatalf("send %v: answer %q: %v", args, r.stdout, err)
	}
	if !strings.Contains(r.stderr, "200 OK") {
		t.Errorf("send %v: stderr %q does not show the status", args, r.stderr)
	}
	return a
}

// sendOne sends and returns the id and sequence of the one event stored.
func sendOne(t *testing.T, env map[string]string, args ...string) (string, uint64) {
	t.Helper()
	a := send(t, env, args...)
	if len(a.Events) != 1 {
		t.Fatalf("send %v: %d events, want 1", args, len(a.Events))
	}
	return a.Events[0].ID, a.Events[0].Sequence
}

// getEvent reads an event back with `hookline events get`.
func getEvent(t *testing.T, env map[string]string, id string) *hooklinev1.Event {
	t.Helper()
	r := getIndexed(t, env, "events", "get", id)
	ev := &hooklinev1.Event{}
	if err := protojson.Unmarshal([]byte(r.stdout), ev); err != nil {
		t.Fatalf("events get %s: %q: %v", id, r.stdout, err)
	}
	return ev
}

// getIndexed runs a get command until what it asks for is in the
// gateway's index, which sees an event a few milliseconds after it is
// stored (README, Current state).
func getIndexed(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := runCLI(t, env, args...)
		if exitCode(r.err) != exitNotFound || time.Now().After(deadline) {
			if r.err != nil {
				t.Fatalf("hookline %s: %v", strings.Join(args, " "), r.err)
			}
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writeFile writes a body for `send --file`.
func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// truvOrder is a Truv order-status-updated body for order id.
func truvOrder(webhookID, orderID, status string) string {
	return fmt.Sprintf(`{"webhook_id":%q,"event_type":"order-status-updated","event_created_at":"2026-01-02T03:04:05.000000Z",`+
		`"updated_at":"2026-01-02T03:04:05.000000+00:00","product":"income","order_id":%q,"status":%q}`, webhookID, orderID, status)
}

// truvTask is a Truv task-status-updated body for task id.
func truvTask(webhookID, taskID string) string {
	return fmt.Sprintf(`{"webhook_id":%q,"event_type":"task-status-updated","event_created_at":"2026-01-02T03:04:05.000000Z",`+
		`"updated_at":"2026-01-02T03:04:05.000000+00:00","product":"income","task_id":%q,"status":"done"}`, webhookID, taskID)
}

// tailRun is one `hookline tail` running in process.
type tailRun struct {
	lines  chan string
	stderr *lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

// startTail starts `hookline tail args...` and waits until it is
// connected, so that events sent from now on reach it.
func startTail(t *testing.T, env map[string]string, args ...string) *tailRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &tailRun{lines: make(chan string, 1000), stderr: &lockedBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := run(ctx, append([]string{"tail"}, args...), func(k string) string { return env[k] }, pw, r.stderr)
		pw.Close()
		r.done <- err
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	r.waitStderr(t, "tail: connected")
	return r
}

// waitStderr waits until tail's stderr contains s.
func (r *tailRun) waitStderr(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(r.stderr.String(), s) {
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("tail ended (%v) before printing %q; stderr:\n%s", err, s, r.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("tail did not print %q within 30s; stderr:\n%s", s, r.stderr.String())
		}
	}
}

// next returns tail's next line of output.
func (r *tailRun) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-r.lines:
		if !ok {
			t.Fatalf("tail's output ended; stderr:\n%s", r.stderr.String())
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("no line from tail within 30s; stderr:\n%s", r.stderr.String())
	}
	return ""
}

// nextEvent returns tail's next JSON line as an event.
func (r *tailRun) nextEvent(t *testing.T) *hooklinev1.Event {
	t.Helper()
	l := r.next(t)
	ev := &hooklinev1.Event{}
	if err := protojson.Unmarshal([]byte(l), ev); err != nil {
		t.Fatalf("tail line %q is not an Event: %v", l, err)
	}
	return ev
}

// stop ends tail as Ctrl-C does and returns what it returned and its
// stderr.
func (r *tailRun) stop(t *testing.T) (string, error) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return r.stderr.String(), err
	case <-time.After(30 * time.Second):
		t.Fatal("tail did not stop within 30s")
	}
	return "", nil
}

var resumeLine = regexp.MustCompile(`resume with: hookline tail (--after (\d+).*)`)

// resumeArgs reads the resume hint tail printed when it stopped.
func resumeArgs(t *testing.T, stderr string) ([]string, uint64) {
	t.Helper()
	m := resumeLine.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no resume line in tail's stderr:\n%s", stderr)
	}
	after, _ := strconv.ParseUint(m[2], 10, 64)
	return strings.Fields(m[1]), after
}

// TestCLI runs the commands against one gateway started as `make run`
// does.
func TestCLI(t *testing.T) {
	g := startDev(t, t.TempDir())
	defer g.stop(t)
	env := cliEnv(g)

	t.Run("send every sample with the dev secrets", func(t *testing.T) {
		for _, f := range registry.Factories() {
			for _, s := range f.Samples() {
				t.Run(f.Name+"/"+s.Name, func(t *testing.T) {
					// No --secret and no HOOKLINE_SEND_SECRET: the dev defaults.
					a := send(t, env, f.Name, s.Name)
					if s.Ping {
						if !a.Ping || len(a.Events) != 0 {
							t.Fatalf("ping answered %+v, want ping and no events", a)
						}
						return
					}
					if a.Duplicate || len(a.Events) != 1 || a.Events[0].Type != s.Type.String() {
						t.Fatalf("answer %+v, want one new %v event", a, s.Type)
					}
					if ev := getEvent(t, env, a.Events[0].ID); ev.GetType() != s.Type || ev.GetSequence() != a.Events[0].Sequence {
						t.Errorf("stored as %v at %d, want %v at %d", ev.GetType(), ev.GetSequence(), s.Type, a.Events[0].Sequence)
					}
				})
			}
		}
	})

	t.Run("send --file", func(t *testing.T) {
		path := writeFile(t, truvOrder("f11e0000000000000000000000000001", "f11e00000000000000000000000000aa", "completed"))
		id, _ := sendOne(t, env, "--file", path, "truv")
		if ev := getEvent(t, env, id); ev.GetSubject() != "f11e00000000000000000000000000aa" || ev.GetOrder().GetStatus() != hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED {
			t.Errorf("stored %v %q %v, want the file's order, completed", ev.GetType(), ev.GetSubject(), ev.GetOrder().GetStatus())
		}
		r := runCLI(t, env, "send", "--file", path, "--secret", "not-the-secret", "truv")
		if exitCode(r.err) != exitFailure || !strings.Contains(r.err.Error(), "401") || !strings.Contains(r.err.Error(), "HOOKLINE_SEND_SECRET") {
			t.Errorf("wrong secret: %v (exit %d), want a 401 that names HOOKLINE_SEND_SECRET", r.err, exitCode(r.err))
		}
	})

	t.Run("send --id twice is a duplicate", func(t *testing.T) {
		for _, c := range [][]string{{"truv", "order-created"}, {"finicity", "added"}, {"swyft", "order_status_change"}, {"finicity", "report_done", "--source", "reports"}} {
			first := send(t, env, append(c, "--id", "fixed-"+c[1])...)
			again := send(t, env, append(c, "--id", "fixed-"+c[1])...)
			if first.Duplicate || !again.Duplicate || len(again.Events) != 1 || again.Events[0] != first.Events[0] {
				t.Errorf("%v: first %+v, again %+v; want the second a duplicate of the first", c, first, again)
			}
		}
	})

	t.Run("send --list and errors", func(t *testing.T) {
		out := mustCLI(t, nil, "send", "--list").stdout
		n := 0
		for _, f := range registry.Factories() {
			for _, s := range f.Samples() {
				n++
				if !regexp.MustCompile(`(?m)^` + f.Name + `\s+` + regexp.QuoteMeta(s.Name) + `\s+\S+\s+` + regexp.QuoteMeta(s.Description) + `$`).MatchString(out) {
					t.Errorf("--list has no line for %s %s", f.Name, s.Name)
				}
			}
		}
		if lines := strings.Count(out, "\n"); lines != n+1 || n != 41 {
			t.Errorf("--list printed %d lines for %d samples; want a header and 41 samples:\n%s", lines, n, out)
		}
		for _, tc := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"stripe", "x"}, exitUsage, "unknown provider"},
			{[]string{"truv", "order-exploded"}, exitUsage, "order-status-updated"},
			{[]string{"mastercard", "DONE", "--url", "http://" + closedAddr(t)}, exitFailure, "connection refused"},
			{[]string{"truv", "link-deleted", "--source", "nope"}, exitFailure, `source "nope"`},
		} {
			r := runCLI(t, env, append([]string{"send"}, tc.args...)...)
			if exitCode(r.err) != tc.code || r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Errorf("send %v: %v (exit %d), want exit %d naming %q", tc.args, r.err, exitCode(r.err), tc.code, tc.want)
			}
		}
	})

	t.Run("tail filters", func(t *testing.T) {
		const order, task = "f17e00000000000000000000000000bb", "f17e00000000000000000000000000cc"
		tests := []struct {
			name           string
			filter         []string
			noMatch, match []string // send arguments
		}{
			{"order id", []string{"--order-id", order}, []string{"truv", "order-status-updated"},
				[]string{"--file", writeFile(t, truvOrder("f17e0000000000000000000000000001", order, "pending")), "truv"}},
			{"session key", []string{"--session-key", task}, []string{"truv", "task-status-updated"},
				[]string{"--file", writeFile(t, truvTask("f17e0000000000000000000000000002", task)), "truv"}},
			{"event type, short", []string{"--event-type", "SESSION_COMPLETED"}, []string{"truv", "order-created"}, []string{"finicity", "done"}},
			{"event type, full", []string{"--event-type", "EVENT_TYPE_ORDER_CREATED"}, []string{"finicity", "done"}, []string{"truv", "order-created"}},
			{"provider", []string{"--provider", "swyft"}, []string{"truv", "order-created"}, []string{"swyft", "order_processing_status_change"}},
			{"provider alias", []string{"--provider", "mastercard"}, []string{"swyft", "order_status_change"}, []string{"finicity", "started"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tail := startTail(t, env, tt.filter...)
				sendOne(t, env, tt.noMatch...)
				id, seq := sendOne(t, env, tt.match...)
				// Log order: had the first event matched, it would come first.
				if ev := tail.nextEvent(t); ev.GetId() != id || ev.GetSequence() != seq {
					t.Errorf("tail printed %s at %d, want %s at %d", ev.GetId(), ev.GetSequence(), id, seq)
				}
				stderr, err := tail.stop(t)
				if err != nil {
					t.Fatalf("tail: %v", err)
				}
				args, after := resumeArgs(t, stderr)
				if after < seq || !strings.Contains(strings.Join(args, " "), strings.Join(tt.filter, " ")) {
					t.Errorf("resume hint %v, want --after ≥ %d and the filter %v", args, seq, tt.filter)
				}
			})
		}
	})

	t.Run("tail --after resumes, --from-start, --since", func(t *testing.T) {
		tail := startTail(t, env, "--provider", "truv")
		first, _ := sendOne(t, env, "truv", "link-connected")
		if ev := tail.nextEvent(t); ev.GetId() != first {
			t.Fatalf("tail printed %s, want %s", ev.GetId(), first)
		}
		stderr, _ := tail.stop(t)
		args, _ := resumeArgs(t, stderr)
		var want []string
		for _, c := range [][]string{{"truv", "link-disconnected"}, {"swyft", "order_status_change"}, {"truv", "link-deleted"}} {
			id, _ := sendOne(t, env, c...)
			if c[0] == "truv" {
				want = append(want, id)
			}
		}
		resumed := startTail(t, env, args...)
		for _, id := range want {
			if ev := resumed.nextEvent(t); ev.GetId() != id {
				t.Errorf("resumed tail printed %s (%s), want %s", ev.GetId(), ev.GetProviderEventType(), id)
			}
		}

		if ev := startTail(t, env, "--from-start").nextEvent(t); ev.GetSequence() != 1 {
			t.Errorf("--from-start began at sequence %d, want 1", ev.GetSequence())
		}

		if ev := startTail(t, env, "--since", "1h").nextEvent(t); ev.GetSequence() != 1 {
			t.Errorf("--since 1h began at sequence %d, want 1 (everything was received in the last hour)", ev.GetSequence())
		}
		sendOne(t, env, "truv", "profile-created")
		since := time.Now()
		id, _ := sendOne(t, env, "truv", "profile-updated")
		// The event acknowledged just before since is left out, however
		// close to it the log stored it.
		tail = startTail(t, env, "--since", since.Format(time.RFC3339Nano))
		if ev := tail.nextEvent(t); ev.GetId() != id {
			t.Errorf("--since %s began at %s (sequence %d), want %s", since.Format(time.RFC3339Nano), ev.GetId(), ev.GetSequence(), id)
		}
	})

	t.Run("tail text and JSON lines", func(t *testing.T) {
		const order = "f0e1000000000000000000000000000d"
		path := writeFile(t, truvOrder("f0e10000000000000000000000000001", order, "completed"))
		text := startTail(t, env, "--format", "text", "--order-id", order)
		jsonl := startTail(t, env, "--order-id", order) // stdout is not a terminal: JSON lines
		id, seq := sendOne(t, env, "--file", path, "truv")
		line := text.next(t)
		re := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  #` + strconv.FormatUint(seq, 10) + `\s+truv\s+ORDER_STATUS_CHANGED\s+` + order + `\s+status COMPLETED$`)
		if !re.MatchString(line) {
			t.Errorf("text line %q does not match %s", line, re)
		}
		ev := jsonl.nextEvent(t)
		if diff := cmp.Diff(getEvent(t, env, id), ev, protocmp.Transform()); diff != "" {
			t.Errorf("the JSON line differs from the stored event (-stored +line):\n%s", diff)
		}
	})

	t.Run("unary commands", func(t *testing.T) {
		const order, task = "f0e2000000000000000000000000000e", "f0e2000000000000000000000000000f"
		sendOne(t, env, "--file", writeFile(t, truvOrder("f0e20000000000000000000000000001", order, "completed")), "truv")
		sendOne(t, env, "--file", writeFile(t, truvTask("f0e20000000000000000000000000002", task)), "truv")

		o := &hooklinev1.OrderState{}
		if err := protojson.Unmarshal([]byte(getIndexed(t, env, "orders", "get", order).stdout), o); err != nil || o.GetStatus() != hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED {
			t.Errorf("orders get: %v %v, want COMPLETED", o, err)
		}
		s := &hooklinev1.SessionState{}
		if err := protojson.Unmarshal([]byte(getIndexed(t, env, "sessions", "get", task).stdout), s); err != nil || s.GetStage() != hooklinev1.SessionStage_SESSION_STAGE_DONE {
			t.Errorf("sessions get: %v %v, want DONE", s, err)
		}

		list := func(args ...string) *hooklinev1.ListEventsResponse {
			t.Helper()
			resp := &hooklinev1.ListEventsResponse{}
			if err := protojson.Unmarshal([]byte(mustCLI(t, env, append([]string{"events", "list"}, args...)...).stdout), resp); err != nil {
				t.Fatalf("events list %v: %v", args, err)
			}
			return resp
		}
		page := list("--page-size", "2")
		if len(page.GetEvents()) != 2 || page.GetNextPageToken() == "" {
			t.Fatalf("--page-size 2: %d events, token %q", len(page.GetEvents()), page.GetNextPageToken())
		}
		next := list("--page-size", "2", "--page-token", page.GetNextPageToken())
		if len(next.GetEvents()) == 0 || next.GetEvents()[0].GetSequence() <= page.GetEvents()[1].GetSequence() {
			t.Errorf("the next page does not continue after %d", page.GetEvents()[1].GetSequence())
		}
		all := list("--all", "--page-size", "7")
		if n := len(all.GetEvents()); n < 50 || all.GetNextPageToken() != "" {
			t.Errorf("--all: %d events, token %q; want every event and no token", n, all.GetNextPageToken())
		}
		for i, ev := range all.GetEvents() {
			if ev.GetSequence() != uint64(i+1) {
				t.Fatalf("--all: event %d has sequence %d", i, ev.GetSequence())
			}
		}
		if after := list("--after", "3", "--page-size", "1"); after.GetEvents()[0].GetSequence() != 4 {
			t.Errorf("--after 3 began at %d", after.GetEvents()[0].GetSequence())
		}
		for _, ev := range list("--all", "--provider", "swyft", "--event-type", "ORDER_STATUS_CHANGED").GetEvents() {
			if ev.GetProvider() != hooklinev1.Provider_PROVIDER_SWYFT || ev.GetType() != hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED {
				t.Errorf("filtered list has %v %v", ev.GetProvider(), ev.GetType())
			}
		}
		if got := list("--all", "--order-id", order).GetEvents(); len(got) != 1 || got[0].GetSubject() != order {
			t.Errorf("--order-id: %d events", len(got))
		}
	})

	t.Run("errors a person can act on", func(t *testing.T) {
		refused := closedAddr(t)
		noToken := map[string]string{"HOOKLINE_ADDR": g.grpc}
		badToken := map[string]string{"HOOKLINE_ADDR": g.grpc, "HOOKLINE_TOKEN": "wrong"}
		tests := []struct {
			name string
			env  map[string]string
			args []string
			code int
			want []string
		}{
			{"refused", env, []string{"events", "list", "--addr", refused}, exitFailure, []string{refused, "connection refused", "make run"}},
			{"refused tail", env, []string{"tail", "--addr", refused}, exitFailure, []string{refused, "connection refused"}},
			{"no token", noToken, []string{"events", "list"}, exitFailure, []string{"none was given", "HOOKLINE_TOKEN"}},
			{"bad token", badToken, []string{"orders", "get", "x"}, exitFailure, []string{"refused the API token", "HOOKLINE_TOKEN"}},
			{"bad token, flag wins over env", badToken, []string{"events", "list", "--token", cliToken, "--page-size", "1"}, exitOK, nil},
			{"bad token tail", badToken, []string{"tail"}, exitFailure, []string{"refused the API token"}},
			{"event not found", env, []string{"events", "get", "evt_00000000000000000000000000000000"}, exitNotFound, []string{"event evt_00000000000000000000000000000000 not found"}},
			{"order not found", env, []string{"orders", "get", "no-such-order"}, exitNotFound, []string{"order no-such-order not found"}},
			{"session not found", env, []string{"sessions", "get", "no/such"}, exitNotFound, []string{"session no/such not found"}},
			{"invalid argument", env, []string{"events", "list", "--order-id", ""}, exitUsage, []string{"the gateway refused the request:", "order"}},
			{"cursor ahead", env, []string{"tail", "--after", "999999"}, exitUsage, []string{"beyond the end"}},
			{"unknown event type", env, []string{"tail", "--event-type", "SESSION_EXPLODED"}, exitUsage, []string{"SESSION_COMPLETED"}},
			{"two starts", env, []string{"tail", "--after", "1", "--from-start"}, exitUsage, []string{"at most one"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := runCLI(t, tt.env, tt.args...)
				if exitCode(r.err) != tt.code {
					t.Fatalf("%v: exit %d (%v), want %d", tt.args, exitCode(r.err), r.err, tt.code)
				}
				for _, w := range tt.want {
					if !strings.Contains(r.err.Error(), w) {
						t.Errorf("%v: %q does not say %q", tt.args, r.err, w)
					}
				}
			})
		}
	})
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestCLICursorExpired: a gateway that keeps 4 KiB of log drops the first
// events as new ones arrive, so cursor 1 expires; tail and events list say
// where to resume and exit 3.
func TestCLICursorExpired(t *testing.T) {
	g := startDev(t, t.TempDir(), "--retention-bytes", "4096")
	defer g.stop(t)
	env := cliEnv(g)
	var earliest uint64
	for i := 0; i < 200 && earliest < 3; i++ {
		sendOne(t, env, "truv", "order-status-updated")
		resp := &hooklinev1.ListEventsResponse{}
		if err := protojson.Unmarshal([]byte(mustCLI(t, env, "events", "list", "--page-size", "1").stdout), resp); err != nil {
			t.Fatal(err)
		}
		earliest = resp.GetEvents()[0].GetSequence()
	}
	if earliest < 3 {
		t.Fatalf("the log still holds sequence %d after 200 events", earliest)
	}
	for _, args := range [][]string{{"tail", "--after", "1", "--provider", "truv"}, {"events", "list", "--after", "1"}} {
		r := runCLI(t, env, args...)
		if exitCode(r.err) != exitExpired {
			t.Fatalf("%v: exit %d (%v), want %d", args, exitCode(r.err), r.err, exitExpired)
		}
		m := regexp.MustCompile(`earliest it holds is sequence (\d+); resume with: hookline (tail|events list) --after (\d+)`).FindStringSubmatch(r.err.Error())
		if m == nil {
			t.Fatalf("%v: %q does not say where to resume", args, r.err)
		}
		e, _ := strconv.ParseUint(m[1], 10, 64)
		resumeAt, _ := strconv.ParseUint(m[3], 10, 64)
		if e < earliest || resumeAt != e-1 {
			t.Errorf("%v: earliest %d (at least %d), resume after %d; want after earliest-1", args, e, earliest, resumeAt)
		}
		if args[0] == "tail" && !strings.Contains(r.err.Error(), "--provider truv") {
			t.Errorf("the tail hint %q drops the filter", r.err)
		}
	}
}

// TestCLITailReconnect: tail, connected through a proxy, follows a gateway
// that stops and starts again on the same data dir (at another address the
// proxy then forwards to); the events stored while it was away come first,
// and nothing is missed or printed twice.
func TestCLITailReconnect(t *testing.T) {
	dataDir := t.TempDir()
	g := startDev(t, dataDir)
	px := newProxy(t, g.grpc)
	env := cliEnv(g)
	env["HOOKLINE_ADDR"] = px.addr()
	tail := startTail(t, env, "--from-start")
	var want []uint64
	for _, s := range []string{"order-created", "order-status-updated", "link-connected"} {
		_, seq := sendOne(t, env, "truv", s)
		want = append(want, seq)
	}
	var got []uint64
	for range want {
		got = append(got, tail.nextEvent(t).GetSequence())
	}
	g.stop(t)
	tail.waitStderr(t, "reconnecting")

	g = startDev(t, dataDir)
	defer g.stop(t)
	env["HOOKLINE_SEND_URL"] = g.http
	for _, s := range []string{"order-finalized", "task-status-updated"} { // stored while tail cannot reach the gateway
		_, seq := sendOne(t, env, "truv", s)
		want = append(want, seq)
	}
	px.setTarget(g.grpc)
	tail.waitStderr(t, "reconnected")
	_, seq := sendOne(t, env, "swyft", "order_status_change") // live
	want = append(want, seq)
	for len(got) < len(want) {
		got = append(got, tail.nextEvent(t).GetSequence())
	}
	for i := range want {
		if got[i] != uint64(i+1) || want[i] != uint64(i+1) {
			t.Fatalf("tail printed sequences %v, sent %v; want 1..%d once each", got, want, len(want))
		}
	}
	stderr, err := tail.stop(t)
	if _, after := resumeArgs(t, stderr); err != nil || after != want[len(want)-1] {
		t.Errorf("tail returned %v, resume after %d; want nil and %d", err, after, want[len(want)-1])
	}
}

// TestCLITailOutlivesTimeout: --timeout bounds the wait for a
// connection's first frame only; a tail that has received frames keeps
// following long after it, on the same connection, and still stops
// cleanly with the resume line.
func TestCLITailOutlivesTimeout(t *testing.T) {
	g := startDev(t, t.TempDir())
	defer g.stop(t)
	env := cliEnv(g)
	tail := startTail(t, env, "--timeout", "200ms")
	_, first := sendOne(t, env, "truv", "order-created")
	if got := tail.nextEvent(t).GetSequence(); got != first {
		t.Fatalf("tail printed sequence %d, want %d", got, first)
	}
	// The tail must still be following five times --timeout later; before
	// the fix it ended one --timeout after connecting.
	select {
	case err := <-tail.done:
		tail.done <- err
		t.Fatalf("tail ended (%v) while following:\n%s", err, tail.stderr.String())
	case <-time.After(time.Second):
	}
	_, second := sendOne(t, env, "truv", "order-status-updated")
	if got := tail.nextEvent(t).GetSequence(); got != second {
		t.Fatalf("tail printed sequence %d, want %d", got, second)
	}
	stderr, err := tail.stop(t)
	if _, after := resumeArgs(t, stderr); err != nil || after != second {
		t.Errorf("tail returned %v, resume after %d; want nil and %d\n%s", err, after, second, stderr)
	}
	if strings.Contains(stderr, "reconnect") {
		t.Errorf("tail reconnected:\n%s", stderr)
	}
}

// proxy forwards TCP connections to a target that can change.
type proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) setTarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

func (p *proxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		b, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c, true)
		p.track(b, true)
		p.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.track(dst, false)
			p.track(src, false)
		}
		go pipe(b, c)
		go pipe(c, b)
	}
}

// TestCLIHelp: every command has --help with examples, exit 0.
func TestCLIHelp(t *testing.T) {
	for _, c := range cliCommands() {
		if c.name == "help" || c.name == "serve" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, nil, c.name, "--help")
			if !errors.Is(r.err, flag.ErrHelp) || exitCode(r.err) != exitOK {
				t.Fatalf("%s --help returned %v", c.name, r.err)
			}
			if !strings.Contains(r.stderr, "Usage:") || !strings.Contains(r.stderr, "Examples:") || !strings.Contains(r.stderr, "hookline "+c.name) {
				t.Errorf("%s --help lacks usage or examples:\n%s", c.name, r.stderr)
			}
		})
	}
	if r := runCLI(t, nil, "help"); r.err != nil || !strings.Contains(r.stdout, "hookline send truv order-status-updated") {
		t.Errorf("help: %v\n%s", r.err, r.stdout)
	}
	if r := runCLI(t, nil, "help", "tail"); !errors.Is(r.err, flag.ErrHelp) || !strings.Contains(r.stdout, "resume with") {
		t.Errorf("help tail: %v\n%s", r.err, r.stdout)
	}
	if r := runCLI(t, nil, "--help"); !errors.Is(r.err, flag.ErrHelp) || !strings.Contains(r.stderr, "Commands:") || !strings.Contains(r.stderr, "-grpc-addr") {
		t.Errorf("--help shows neither the commands nor the gateway's flags: %v\n%s", r.err, r.stderr)
	}
	if r := runCLI(t, nil, "send", "--help"); !strings.Contains(r.stderr, "dev-truv-access-secret") {
		t.Error("send --help does not say which secrets it defaults to")
	}
}

// TestCLIDispatch: the gateway's flags still start the gateway, serve is
// its alias, and a word that is no command is refused.
func TestCLIDispatch(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"gateway flags", []string{"--data-dir", t.TempDir()}, exitFailure, "--config is required"},
		{"serve", []string{"serve", "--data-dir", t.TempDir()}, exitFailure, "--config is required"},
		{"serve, bad flag", []string{"serve", "--no-such-flag"}, exitFailure, "flag provided but not defined"},
		{"unknown command", []string{"tial"}, exitUsage, `unknown command "tial"`},
		{"events without a verb", []string{"events"}, exitUsage, "list or get"},
		{"tail with an argument", []string{"tail", "x"}, exitUsage, "no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, tt.args...)
			if r.err == nil || exitCode(r.err) != tt.code || !strings.Contains(r.err.Error(), tt.want) {
				t.Errorf("%v: %v (exit %d), want exit %d and %q", tt.args, r.err, exitCode(r.err), tt.code, tt.want)
			}
		})
	}
	for _, args := range [][]string{{"version"}, {"--version"}, {"--config", "x.yaml", "-version"}} {
		if r := runCLI(t, nil, args...); r.err != nil || !strings.HasPrefix(r.stdout, "hookline ") || !strings.Contains(r.stdout, "\ngo      go1.") {
			t.Errorf("%v: %v\n%s", args, r.err, r.stdout)
		}
	}
}

// TestDevSecretsMatchDevConfig: send's default secrets are the ones `make
// run` gives config/dev.yaml's sources.
func TestDevSecretsMatchDevConfig(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join("..", "..", "config", "dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for provider, envVar := range map[string]string{"truv": "HOOKLINE_DEV_TRUV_SECRET", "finicity": "HOOKLINE_DEV_FINICITY_SECRET", "swyft": "HOOKLINE_DEV_SWYFT_AUTH"} {
		m := regexp.MustCompile(envVar + `='?([^'\\\n]+?)'?\s*(\\|\n)`).FindSubmatch(mk)
		if m == nil || string(m[1]) != devSecret(provider) {
			t.Errorf("Makefile sets %s to %q, send's default for %s is %q", envVar, m, provider, devSecret(provider))
		}
		if !regexp.MustCompile(`provider: ` + provider + `\n\s+secret_env: \[` + envVar + `\]`).Match(cfg) {
			t.Errorf("config/dev.yaml's %s source does not read %s", provider, envVar)
		}
		if devEnv[envVar] != devSecret(provider) {
			t.Errorf("the tests' devEnv[%s] = %q, want %q", envVar, devEnv[envVar], devSecret(provider))
		}
	}
}
