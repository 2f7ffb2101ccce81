package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/server"
)

// process is the built hookline binary running as a child process.
type process struct {
	cmd        *exec.Cmd
	http, grpc string
}

// startProcess runs bin on dataDir with the test configuration and waits
// until it is ready.
func startProcess(t *testing.T, bin, dataDir, cfgPath string) *process {
	t.Helper()
	cmd := exec.Command(bin, "--config", cfgPath, "--data-dir", dataDir, "--http-addr", "127.0.0.1:0",
		"--grpc-addr", "127.0.0.1:0", "--log-level", "warn", "--nats-duplicate-window", "100ms", "--max-index-lag", "1s")
	cmd.Env = os.Environ()
	for k, v := range testEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("hookline did not start: %v", err)
	}
	m := regexp.MustCompile(`http=(\S+) grpc=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		_ = cmd.Process.Kill()
		t.Fatalf("unexpected start line %q", line)
	}
	p := &process{cmd: cmd, http: "http://" + m[1], grpc: m[2]}
	waitReady(t, p.http)
	return p
}

// truvDeliveries returns n distinct Truv order deliveries signed with the
// test secret.
func truvDeliveries(n int) []delivery {
	out := make([]delivery, n)
	for i := range out {
		body := fmt.Appendf(nil, `{"webhook_id":"crash%027d","event_type":"order-status-updated",`+
			`"updated_at":"2026-01-02T03:04:05Z","product":"income","order_id":"crash-order-%d","status":"completed"}`, i, i)
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("X-Webhook-Sign", "v1="+hex.EncodeToString(adapters.HMACSHA256([]byte(truvSecret), body)))
		out[i] = delivery{name: fmt.Sprintf("truv/crash-%d", i), path: "/webhooks/truv", body: body, header: h}
	}
	return out
}

// TestKillDuringIngest kills the gateway process (SIGKILL: no shutdown, no
// flush) while deliveries are arriving, restarts it on the same data
// directory after JetStream's duplicate window has passed, and sends every
// delivery again. Every delivery acknowledged before the kill must come back
// as a duplicate of the same sequence, every other one is stored, and the
// log holds each delivery exactly once.
func TestKillDuringIngest(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hookline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(dir, "hookline.yaml")
	if err := os.WriteFile(cfgPath, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	deliveries := truvDeliveries(400)

	p := startProcess(t, bin, dataDir, cfgPath)
	var (
		mu    sync.Mutex
		acked = map[int]uint64{} // delivery → sequence, answered 200 before the kill
		next  atomic.Int64
		count atomic.Int64
		wg    sync.WaitGroup
	)
	killed := make(chan struct{})
	var once sync.Once
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(deliveries) {
					return
				}
				code, acc, err := tryPost(p.http, deliveries[i])
				if err != nil {
					return // the process is gone
				}
				if code != http.StatusOK || len(acc.Events) != 1 {
					t.Errorf("%s: status %d, %d events", deliveries[i].name, code, len(acc.Events))
					return
				}
				mu.Lock()
				acked[i] = acc.Events[0].Sequence
				mu.Unlock()
				if count.Add(1) == int64(len(deliveries)/2) {
					once.Do(func() {
						_ = p.cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
			}
		})
	}
	<-killed
	wg.Wait()
	_ = p.cmd.Wait()
	if len(acked) < len(deliveries)/2 {
		t.Fatalf("only %d deliveries acknowledged before the kill", len(acked))
	}
	time.Sleep(200 * time.Millisecond) // past JetStream's 100 ms window: only the index can recognize retries

	p = startProcess(t, bin, dataDir, cfgPath)
	defer func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.cmd.Wait()
	}()
	for i, d := range deliveries {
		code, acc := post(t, p.http, d)
		if code != http.StatusOK || len(acc.Events) != 1 {
			t.Fatalf("%s after restart: status %d, %d events", d.name, code, len(acc.Events))
		}
		if seq, ok := acked[i]; ok && (!acc.Duplicate || acc.Events[0].Sequence != seq) {
			t.Errorf("%s was acknowledged at %d before the kill; after restart: duplicate=%v sequence=%d",
				d.name, seq, acc.Duplicate, acc.Events[0].Sequence)
		}
	}
	events := listAll(t, p.grpc)
	seen := map[string]bool{}
	for _, ev := range events {
		if seen[ev.GetProviderEventId()] {
			t.Errorf("delivery %s stored twice", ev.GetProviderEventId())
		}
		seen[ev.GetProviderEventId()] = true
	}
	if len(seen) != len(deliveries) {
		t.Errorf("log holds %d distinct deliveries, want %d", len(seen), len(deliveries))
	}
	t.Logf("%d acknowledged before the kill, %d events in the log", len(acked), len(events))
}

// tryPost is post for a server that may vanish: a transport error is
// returned, not fatal.
func tryPost(base string, d delivery) (int, server.Accepted, error) {
	req, err := http.NewRequest(http.MethodPost, base+d.path, bytes.NewReader(d.body))
	if err != nil {
		return 0, server.Accepted{}, err
	}
	req.Header = d.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, server.Accepted{}, err
	}
	defer resp.Body.Close()
	var acc server.Accepted
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&acc); err != nil {
			return 0, server.Accepted{}, err
		}
	}
	return resp.StatusCode, acc, nil
}
