package reliability

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Secrets of the test sources and the read API token. They are test
// values, passed to the gateway in its environment and never logged.
const (
	truvSecret     = "reliability-truv-secret"
	finicitySecret = "reliability-finicity-secret"
	swyftAuth      = "Bearer reliability-swyft"
	apiToken       = "reliability-api-token"
)

// gatewayConfig is the sources file of every gateway these tests start.
const gatewayConfig = `
sources:
  - provider: truv
    secret_env: [RELIABILITY_TRUV]
  - provider: finicity
    secret_env: [RELIABILITY_FINICITY]
  - provider: swyft
    secret_env: [RELIABILITY_SWYFT]
`

// gatewayEnv is the environment the gateway reads its secrets from.
var gatewayEnv = []string{
	"RELIABILITY_TRUV=" + truvSecret,
	"RELIABILITY_FINICITY=" + finicitySecret,
	"RELIABILITY_SWYFT=" + swyftAuth,
	"HOOKLINE_API_TOKENS=" + apiToken,
}

// Bounds on waiting for a gateway: generous, so that a slow machine is never
// mistaken for a defect, and only there so that a hung gateway fails the
// test with a message instead of hitting the test binary's timeout.
const (
	listenWait = 60 * time.Second
	readyWait  = 2 * time.Minute
)

// gatewayOptions say how to start one gateway process.
type gatewayOptions struct {
	// dataDir is --data-dir (the embedded store and the local index).
	dataDir string
	// natsURL is --nats-url; empty runs NATS embedded.
	natsURL string
	// args are further flags.
	args []string
	// logLevel is --log-level; default warn.
	logLevel string
}

// gateway is one hookline child process. Its addresses are known once it
// printed its start line (listening is closed).
type gateway struct {
	name       string
	cmd        *exec.Cmd
	logPath    string
	listening  chan struct{} // closed when the start line was read
	exited     chan struct{} // closed when the process has ended
	http, grpc string        // "http://host:port" and "host:port", set before listening closes
	peakRSS    atomic.Int64  // bytes, sampled from /proc while it runs
	killed     atomic.Bool
}

var startLine = regexp.MustCompile(`^hookline listening http=(\S+) grpc=(\S+)`)

// startGateway starts a gateway process and returns at once; use
// waitListening and waitReady. The process is killed (SIGKILL) in
// t.Cleanup if it is still running, and its log is printed when the test
// failed.
func startGateway(t *testing.T, name string, o gatewayOptions) *gateway {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "hookline.yaml")
	if err := os.WriteFile(cfg, []byte(gatewayConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if o.logLevel == "" {
		o.logLevel = "warn"
	}
	args := []string{"--config", cfg, "--data-dir", o.dataDir,
		"--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--log-level", o.logLevel}
	if o.natsURL != "" {
		args = append(args, "--nats-url", o.natsURL)
	}
	args = append(args, o.args...)
	g := &gateway{
		name:      name,
		cmd:       exec.Command(gatewayBin, args...),
		logPath:   filepath.Join(t.TempDir(), name+".log"),
		listening: make(chan struct{}),
		exited:    make(chan struct{}),
	}
	g.cmd.Env = append(inheritedEnv(), gatewayEnv...)
	g.cmd.SysProcAttr = childProcAttr()
	logFile, err := os.Create(g.logPath)
	if err != nil {
		t.Fatal(err)
	}
	g.cmd.Stderr = logFile
	stdout, err := g.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		g.kill()
		logFile.Close()
		if t.Failed() {
			t.Logf("log of %s (last lines):\n%s", name, tail(g.logPath, 25))
		}
	})
	go g.readStdout(stdout)
	go func() {
		_ = g.cmd.Wait()
		close(g.exited)
	}()
	go g.sampleRSS()
	return g
}

// inheritedEnv is the test's environment without HOOKLINE_ settings, so
// that a developer's shell cannot change the gateways under test.
func inheritedEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKLINE_") {
			env = append(env, kv)
		}
	}
	return env
}

func (g *gateway) readStdout(r io.Reader) {
	sc := bufio.NewScanner(r)
	found := false
	for sc.Scan() {
		if m := startLine.FindStringSubmatch(sc.Text()); m != nil && !found {
			g.http, g.grpc = "http://"+m[1], m[2]
			found = true
			close(g.listening)
		}
	}
}

func (g *gateway) sampleRSS() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if rss := processRSS(g.cmd.Process.Pid); rss > g.peakRSS.Load() {
			g.peakRSS.Store(rss)
		}
		select {
		case <-g.exited:
			return
		case <-tick.C:
		}
	}
}

// waitListening waits for the start line and fails the test if the process
// ends first.
func (g *gateway) waitListening(t *testing.T) {
	t.Helper()
	select {
	case <-g.listening:
	case <-g.exited:
		t.Fatalf("%s exited before listening (%s); log:\n%s", g.name, g.cmd.ProcessState, tail(g.logPath, 25))
	case <-time.After(listenWait):
		t.Fatalf("%s printed no start line within %s; log:\n%s", g.name, listenWait, tail(g.logPath, 25))
	}
}

// waitReady waits until /readyz answers 200.
func (g *gateway) waitReady(t *testing.T) {
	t.Helper()
	g.waitListening(t)
	deadline := time.Now().Add(readyWait)
	for {
		resp, err := plainClient.Get(g.http + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-g.exited:
			t.Fatalf("%s exited before it was ready (%s); log:\n%s", g.name, g.cmd.ProcessState, tail(g.logPath, 25))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s; log:\n%s", g.name, readyWait, tail(g.logPath, 25))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ready reports whether the gateway listens and /readyz answers 200.
func (g *gateway) ready() bool {
	if !isClosed(g.listening) {
		return false
	}
	resp, err := plainClient.Get(g.http + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// kill sends SIGKILL (no shutdown, no flush) and waits for the process to
// end. It is safe to call more than once.
func (g *gateway) kill() {
	g.killed.Store(true)
	select {
	case <-g.exited:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.exited
}

// running reports whether the process has not ended.
func (g *gateway) running() bool {
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

// checkAlive fails the test when the process ended without being killed.
func (g *gateway) checkAlive(t *testing.T) {
	t.Helper()
	if !g.running() && !g.killed.Load() {
		t.Errorf("%s exited by itself (%s); log:\n%s", g.name, g.cmd.ProcessState, tail(g.logPath, 25))
	}
}

// startReady starts a gateway and waits until it is ready.
func startReady(t *testing.T, name string, o gatewayOptions) *gateway {
	t.Helper()
	g := startGateway(t, name, o)
	g.waitReady(t)
	return g
}

// processRSS returns the resident set size of a process in bytes (VmRSS in
// /proc/PID/status), or 0 where that cannot be read.
func processRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := strings.Fields(string(rest))
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// gatewaySet tracks the gateway processes of one scenario: the live one(s)
// and the peak RSS over all of them.
type gatewaySet struct {
	mu  sync.Mutex
	all []*gateway
}

func (s *gatewaySet) add(g *gateway) *gateway {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, g)
	return g
}

// peakRSS is the largest RSS any of the processes reached.
func (s *gatewaySet) peakRSS() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var peak int64
	for _, g := range s.all {
		peak = max(peak, g.peakRSS.Load())
	}
	return peak
}

// waitFor polls cond every 20 ms until it holds; past the bound it fails
// the test with what it was waiting for.
func waitFor(t *testing.T, bound time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", bound, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

// appliedSequence is the gateway's hookline_index_applied_sequence, or 0.
func (g *gateway) appliedSequence() uint64 {
	resp, err := plainClient.Get(g.http + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "hookline_index_applied_sequence "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64) // 1e+06 past a million
			return uint64(n)
		}
	}
	return 0
}

// waitIndexed waits until the gateway's index has applied the log up to
// seq (its state reads lag the log) and returns how long that took.
func (g *gateway) waitIndexed(t *testing.T, seq uint64) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, 2*time.Minute, func() string {
		return fmt.Sprintf("%s's index to apply sequence %d (at %d)", g.name, seq, g.appliedSequence())
	}, func() bool { return g.appliedSequence() >= seq })
	return time.Since(start)
}

// restarter runs one gateway at a time on one data directory and restarts
// it after each kill. Clients find the live process through current, which
// is set as soon as a process listens (before its index caught up, as a
// provider would reach it) and cleared when it is killed.
type restarter struct {
	t       *testing.T
	opts    gatewayOptions
	set     gatewaySet
	started int
	latest  atomic.Pointer[gateway] // the process started last
	current atomic.Pointer[gateway] // the process clients use; nil while none listens
}

func newRestarter(t *testing.T, o gatewayOptions) *restarter {
	return &restarter{t: t, opts: o}
}

// start starts the next process and returns at once.
func (r *restarter) start() *gateway {
	r.t.Helper()
	r.started++
	g := r.set.add(startGateway(r.t, fmt.Sprintf("gateway-%d", r.started), r.opts))
	r.latest.Store(g)
	go func() {
		select {
		case <-g.listening:
			if r.latest.Load() == g && g.running() {
				r.current.Store(g)
			}
		case <-g.exited:
		}
	}()
	return g
}

// kill kills g with SIGKILL and clears current.
func (r *restarter) kill(g *gateway) {
	g.kill()
	r.current.CompareAndSwap(g, nil)
}

// targets is the base URL of the live process, or none.
func (r *restarter) targets() []string {
	if g := r.current.Load(); g != nil {
		return []string{g.http}
	}
	return nil
}
