// Package quickstart runs the README's quick start as a newcomer does, so
// that the README cannot drift from what the gateway does: it reads the
// fenced ```sh blocks between the quickstart markers and runs them in order
// from the repository's root. A block whose command is marked
// `# Ctrl-C to stop` is a stream: it runs in the background until its
// output shows what it is for, and is stopped with SIGINT at the end. Every
// other block is a script that must exit 0. Addresses are the only thing
// changed: the gateway listens on free ports (make passes ARGS on), and
// 127.0.0.1:8080 / 127.0.0.1:9090 in the commands, and the client's
// defaults, point there.
package quickstart

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const streamMark = "# Ctrl-C to stop"

// block is one fenced block of the quick start.
type block struct {
	script string
	stream bool
}

// readQuickStart returns the quick start's blocks.
func readQuickStart(t *testing.T, readme string) []block {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, "<!-- quickstart:begin -->"), strings.Index(s, "<!-- quickstart:end -->")
	if i < 0 || j < i {
		t.Fatal("README.md has no quickstart markers")
	}
	var out []block
	var cur []string
	in := false
	for line := range strings.Lines(s[i:j]) {
		line = strings.TrimRight(line, "\n")
		switch {
		case !in && line == "```sh":
			in, cur = true, nil
		case in && line == "```":
			in = false
			bl := block{script: strings.Join(cur, "\n"), stream: strings.Contains(strings.Join(cur, "\n"), streamMark)}
			if bl.stream && len(cur) != 1 {
				t.Fatalf("a stream block must hold its command alone:\n%s", bl.script)
			}
			out = append(out, bl)
		case in:
			cur = append(cur, line)
		}
	}
	if len(out) < 5 {
		t.Fatalf("the quick start has %d sh blocks", len(out))
	}
	return out
}

// proc is a background stream.
type proc struct {
	cmd            *exec.Cmd
	mu             sync.Mutex
	stdout, stderr bytes.Buffer
	done           chan error
}

func (p *proc) output() (string, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String(), p.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

// interrupt sends SIGINT to the stream's process group (Ctrl-C) and waits.
func (p *proc) interrupt(t *testing.T) error {
	t.Helper()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
	select {
	case err := <-p.done:
		return err
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		t.Errorf("%q did not stop within 30s of Ctrl-C", p.cmd.Args)
		return <-p.done
	}
}

// waitOutput waits until the stream's output matches re.
func (p *proc) waitOutput(t *testing.T, d time.Duration, what string, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		out, errOut := p.output()
		if m := re.FindString(out + errOut); m != "" {
			return m
		}
		select {
		case err := <-p.done:
			t.Fatalf("%s: the stream ended (%v) before showing %s:\n%s\n%s", p.cmd.Args, err, what, out, errOut)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s within %s:\nstdout: %s\nstderr: %s", p.cmd.Args, what, d, out, errOut)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestQuickStart runs the README's quick start.
func TestQuickStart(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	blocks := readQuickStart(t, filepath.Join(root, "README.md"))
	data := t.TempDir()
	env := append(os.Environ(),
		"ARGS=--http-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 --data-dir "+data,
		"HOOKLINE_TOKEN=", "HOOKLINE_ADMIN_TOKEN=")
	var httpAddr, grpcAddr string
	addrs := func(s string) string {
		return strings.NewReplacer("127.0.0.1:8080", httpAddr, "127.0.0.1:9090", grpcAddr).Replace(s)
	}
	start := func(script string) *proc {
		p := &proc{cmd: exec.Command("bash", "-c", script), done: make(chan error, 1)}
		p.cmd.Dir, p.cmd.Env = root, env
		p.cmd.Stdout, p.cmd.Stderr = lockedWriter{&p.mu, &p.stdout}, lockedWriter{&p.mu, &p.stderr}
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		t.Cleanup(func() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) })
		return p
	}

	var gateway *proc
	var streams []*proc
	checks := []func(){} // what the streams must have shown at the end
	for n, bl := range blocks {
		script := addrs(bl.script)
		switch {
		case bl.stream && strings.HasPrefix(bl.script, "make run"):
			gateway = start(script)
			line := gateway.waitOutput(t, 10*time.Minute, "the listening line", regexp.MustCompile(`hookline listening http=\S+ grpc=\S+`))
			m := regexp.MustCompile(`http=(\S+) grpc=(\S+)`).FindStringSubmatch(line)
			httpAddr, grpcAddr = m[1], m[2]
			env = append(env, "HOOKLINE_ADDR="+grpcAddr, "HOOKLINE_SEND_URL=http://"+httpAddr)
			waitReady(t, httpAddr)
		case gateway == nil:
			t.Fatalf("block %d runs before the gateway is started:\n%s", n, bl.script)
		case bl.stream:
			p := start(script)
			streams = append(streams, p)
			want, ready := streamExpectations(t, bl.script)
			p.waitOutput(t, 5*time.Minute, "the stream's first output", ready)
			checks = append(checks, func() { p.waitOutput(t, time.Minute, "the event sent in the quick start", want) })
		default:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
			cmd.Dir, cmd.Env = root, env
			out, err := cmd.Output()
			cancel()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("block %d failed (%v):\n%s\nstdout: %s\nstderr: %s", n, err, bl.script, out, stderr)
			}
			checkOutput(t, bl.script, string(out))
		}
	}
	for _, c := range checks {
		c()
	}
	for _, p := range streams {
		err := p.interrupt(t)
		if strings.Contains(strings.Join(p.cmd.Args, " "), "hookline tail") {
			if _, errOut := p.output(); err != nil || !strings.Contains(errOut, "resume with: hookline tail --after") {
				t.Errorf("tail after Ctrl-C: %v, stderr %q; want exit 0 and the resume line", err, errOut)
			}
		}
	}
	// Ctrl-C on `make run` stops the gateway cleanly, and make with it,
	// without an error of make's own.
	err = gateway.interrupt(t)
	out, errOut := gateway.output()
	if strings.Contains(out+errOut, "make: ***") || !strings.Contains(errOut, "msg=stopped") {
		t.Errorf("make run after Ctrl-C (%v):\nstdout: %s\nstderr: %s\nwant the gateway's clean stop and no make error", err, out, errOut)
	}
}

// streamExpectations says what a stream block shows once it runs (ready)
// and once the quick start's delivery reached it (want). An unknown stream
// fails the test: the README and this test change together.
func streamExpectations(t *testing.T, script string) (want, ready *regexp.Regexp) {
	t.Helper()
	switch {
	case strings.Contains(script, "hookline tail"):
		return regexp.MustCompile(`ORDER_STATUS_CHANGED`), regexp.MustCompile(`tail: connected to`)
	case strings.Contains(script, "events:subscribe"):
		return regexp.MustCompile(`\{"result":\{"event":\{[^\n]*ORDER_STATUS_CHANGED`), regexp.MustCompile(`\{"result":`)
	case strings.Contains(script, "events:sse"):
		return regexp.MustCompile(`event: event\ndata: [^\n]*ORDER_STATUS_CHANGED`), regexp.MustCompile(`event: `)
	case strings.Contains(script, "grpcurl") && strings.Contains(script, "/Subscribe"):
		return regexp.MustCompile(`EVENT_TYPE_ORDER_STATUS_CHANGED`), regexp.MustCompile(`"event"|"bookmark"`)
	}
	t.Fatalf("the quick start has a stream this test does not know:\n%s", script)
	return nil, nil
}

// checkOutput checks a script block's output shape: every line that looks
// like JSON is JSON, and what each kind of command must print.
func checkOutput(t *testing.T, script, out string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") {
			continue
		}
		// curl prints no newline after a body: several objects can share
		// a line.
		dec := json.NewDecoder(strings.NewReader(line))
		for dec.More() {
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Errorf("%s printed a line that is not JSON (%v): %s", script, err, line)
				break
			}
		}
	}
	var wants []string
	switch {
	case strings.Contains(script, "hookline send --list"):
		wants = []string{"order-status-updated", "swyft"}
	case strings.Contains(script, "X-Webhook-Sign"):
		wants = []string{`"duplicate":false`, `"duplicate":true`, `"code":"unauthenticated"`}
	case strings.Contains(script, "grpcurl") && strings.Contains(script, " list"):
		wants = []string{"hookline.v1.EventService"}
	case strings.Contains(script, "hookline orders get"):
		wants = []string{`"ORDER_STATUS_COMPLETED"`, `"events"`}
	}
	if strings.Contains(script, "hookline send truv") {
		wants = append(wants, `"EVENT_TYPE_ORDER_STATUS_CHANGED"`)
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s\nprinted:\n%s\nwant %s in it", script, out, w)
		}
	}
	if len(wants) == 0 && strings.TrimSpace(out) == "" {
		t.Errorf("%s printed nothing", script)
	}
}

func waitReady(t *testing.T, httpAddr string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		out, err := exec.Command("curl", "-sf", fmt.Sprintf("http://%s/readyz", httpAddr)).Output()
		if err == nil && strings.Contains(string(out), "ready") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the gateway was not ready within a minute")
}
