package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/testkit"
)

// TestCLIReprocess runs `hookline reprocess` against a real gateway: it
// needs the admin token (a read token is refused, with what to do), shows
// its progress and ends with the counts (the gateway's mappings are at
// their first version, so nothing changes); interrupted, it prints the
// command that resumes, and that command finishes the run.
func TestCLIReprocess(t *testing.T) {
	g := startDev(t, t.TempDir())
	t.Cleanup(func() { g.stop(t) })
	env := cliEnv(g)
	for range 12 {
		send(t, env, "truv", "order-status-updated")
	}

	if r := runCLI(t, env, "reprocess"); r.err == nil || !strings.Contains(r.err.Error(), "HOOKLINE_ADMIN_TOKEN") {
		t.Errorf("reprocess without an admin token: %v, want a usage error naming HOOKLINE_ADMIN_TOKEN", r.err)
	}
	if r := runCLI(t, env, "reprocess", "--admin-token", cliToken); r.err == nil || !strings.Contains(r.err.Error(), "refused the admin token") {
		t.Errorf("reprocess with a read token: %v, want the admin token refused", r.err)
	}

	env["HOOKLINE_ADMIN_TOKEN"] = cliAdminToken
	r := mustCLI(t, env, "reprocess", "--dry-run", "--provider", "truv")
	if !strings.Contains(r.stderr, "done: scanned 12, corrected 0, unchanged 12, failed 0 (dry run") {
		t.Errorf("dry run printed %q, want the counts", r.stderr)
	}

	// A slow run, stopped after its first progress line.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"reprocess", "--max-rate", "4", "--provider", "truv"}, func(k string) string { return env[k] }, out, out)
	}()
	testkit.WaitFor(t, 30*time.Second, "a progress line", func() bool { return strings.Contains(out.String(), "events/s") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("interrupted run: %v", err)
	}
	m := regexp.MustCompile(`resume with: hookline reprocess --after (\d+) --max-rate 4 --provider truv\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("interrupted run printed %q, want the resume command", out.String())
	}
	if strings.Contains(out.String(), cliAdminToken) {
		t.Errorf("the admin token was printed: %q", out.String())
	}
	r = mustCLI(t, env, "reprocess", "--after", m[1], "--provider", "truv")
	if !strings.Contains(r.stderr, "done: scanned ") || !strings.Contains(r.stderr, "corrected 0") {
		t.Errorf("resumed run printed %q", r.stderr)
	}
}
