package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/testpki"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestFormatEventLine(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := func() *hooklinev1.Event {
		return &hooklinev1.Event{Provider: hooklinev1.Provider_PROVIDER_TRUV, Source: "default", Sequence: 42,
			Type: hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, Subject: "o1", ReceiveTime: timestamppb.New(at),
			Body: &hooklinev1.Event_Order{Order: &hooklinev1.OrderEvent{OrderId: "o1", Status: hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED}}}
	}
	tests := []struct {
		name   string
		mutate func(*hooklinev1.Event)
		want   string // regexp of the part after the time
	}{
		{"order", func(*hooklinev1.Event) {}, `#42\s+truv\s+ORDER_STATUS_CHANGED\s+o1\s+status COMPLETED$`},
		{"named source", func(e *hooklinev1.Event) { e.Source = "sandbox" }, `truv/sandbox\s+ORDER_STATUS_CHANGED`},
		{"previous status", func(e *hooklinev1.Event) {
			e.GetOrder().PreviousStatus = hooklinev1.OrderStatus_ORDER_STATUS_ACTIVE
			e.GetOrder().Status = hooklinev1.OrderStatus_ORDER_STATUS_CANCELED
		}, `status ACTIVE → CANCELED$`},
		{"unknown status keeps the raw value", func(e *hooklinev1.Event) {
			e.GetOrder().Status, e.GetOrder().RawStatus = hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN, "on_hold"
		}, `status UNKNOWN \(on_hold\)$`},
		{"processing status", func(e *hooklinev1.Event) {
			e.Type = hooklinev1.EventType_EVENT_TYPE_ORDER_PROCESSING_STATUS_CHANGED
			e.GetOrder().ProcessingStatus = hooklinev1.OrderStatus_ORDER_STATUS_PROCESSING
		}, `ORDER_PROCESSING_STATUS_CHANGED\s+o1\s+processing PROCESSING$`},
		{"session", func(e *hooklinev1.Event) {
			e.Type, e.Subject = hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, "603/s1"
			e.Body = &hooklinev1.Event_Session{Session: &hooklinev1.SessionEvent{SessionKey: "603/s1", Stage: hooklinev1.SessionStage_SESSION_STAGE_DONE}}
		}, `SESSION_COMPLETED\s+603/s1\s+stage DONE$`},
		{"report", func(e *hooklinev1.Event) {
			e.Type = hooklinev1.EventType_EVENT_TYPE_REPORT_COMPLETED
			e.Body = &hooklinev1.Event_Session{Session: &hooklinev1.SessionEvent{Report: &hooklinev1.Report{Status: "success"}}}
		}, `REPORT_COMPLETED\s+o1\s+report success$`},
		{"unmapped", func(e *hooklinev1.Event) {
			e.Type, e.Subject, e.ProviderEventType = hooklinev1.EventType_EVENT_TYPE_UNMAPPED, "", "payroll-report-ready"
			e.Body = &hooklinev1.Event_Unmapped{Unmapped: &hooklinev1.UnmappedEvent{Reason: hooklinev1.UnmappedReason_UNMAPPED_REASON_UNKNOWN_EVENT_TYPE}}
		}, `UNMAPPED\s+-\s+unmapped: UNKNOWN_EVENT_TYPE \(payroll-report-ready\)$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := base()
			tt.mutate(ev)
			line := formatEventLine(ev)
			if !regexp.MustCompile(`^` + regexp.QuoteMeta(at.Local().Format("2006-01-02 15:04:05")) + `  .*` + tt.want).MatchString(line) {
				t.Errorf("line %q does not match %s", line, tt.want)
			}
		})
	}
}

func TestReadVersion(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "70ffda3c"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	tests := []struct {
		name                       string
		bi                         *debug.BuildInfo
		commit, commitTime, dirty  string
		wantVersion, wantCommit    string
		wantModified, wantUnstamps bool
	}{
		{"go stamped", stamped, "", "", "", "v1.2.3", "70ffda3c", true, false},
		{"linker values win", stamped, "abc123", "2026-12-02T00:00:00Z", "false", "v1.2.3", "abc123", false, false},
		{"linked worktree: only the linker", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "abc123", "", "true", "(devel)", "abc123", true, false},
		{"go test or go run", &debug.BuildInfo{GoVersion: "go1.26.8"}, "", "", "", "unknown", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := readVersion(tt.bi, true, tt.commit, tt.commitTime, tt.dirty)
			if v.Version != tt.wantVersion || v.Commit != tt.wantCommit || v.Modified != tt.wantModified || v.Go != "go1.26.8" {
				t.Errorf("got %+v", v)
			}
			s := v.String()
			if strings.Contains(s, "commit  unknown") != tt.wantUnstamps || (tt.wantCommit != "" && !strings.Contains(s, tt.wantCommit)) {
				t.Errorf("String() = %q", s)
			}
			if tt.wantModified && !strings.Contains(s, "uncommitted") {
				t.Errorf("String() = %q does not say the tree was modified", s)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                       now.Add(-10 * time.Minute),
		"1h30m":                     now.Add(-90 * time.Minute),
		"2026-01-01T00:00:00Z":      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		"2026-01-01T01:00:00+01:00": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5m", "2026-01-01"} {
		if _, err := parseSince(bad, now); exitCode(err) != exitUsage {
			t.Errorf("parseSince(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestParseEventType(t *testing.T) {
	for _, in := range []string{"SESSION_COMPLETED", "EVENT_TYPE_SESSION_COMPLETED", "session_completed", "session-completed"} {
		if got, err := parseEventType(in); err != nil || got != hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED {
			t.Errorf("parseEventType(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "UNSPECIFIED", "EVENT_TYPE_UNSPECIFIED", "SESSION"} {
		if _, err := parseEventType(bad); exitCode(err) != exitUsage {
			t.Errorf("parseEventType(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"ddd192646b3c": "ddd192646b3c", "6030781868/sess-1": "6030781868/sess-1", "": "''",
		"a b": "'a b'", "it's": `'it'\''s'`, "$HOME": "'$HOME'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestCLITLS: against a gateway serving TLS, the commands connect with
// --ca (gRPC) and send posts over https with --ca; without --tls the error
// suggests it.
func TestCLITLS(t *testing.T) {
	ca := testpki.NewCA(t)
	cert := ca.Issue(t, "server", 1, true)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"--config", filepath.Join("..", "..", "config", "dev.yaml"), "--data-dir", t.TempDir(),
			"--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--log-level", "warn",
			"--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile}, func(k string) string { return devEnv[k] }, pw, io.Discard)
		pw.CloseWithError(fmt.Errorf("run returned: %v", err))
		done <- err
	}()
	defer func() { cancel(); <-done }()
	var httpAddr, grpcAddr string
	if _, err := fmt.Fscanf(pr, "hookline listening http=%s grpc=%s", &httpAddr, &grpcAddr); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	env := map[string]string{"HOOKLINE_ADDR": grpcAddr, "HOOKLINE_TOKEN": cliToken, "HOOKLINE_SEND_URL": "https://" + httpAddr}
	waitTLSReady(t, httpAddr, ca)

	a := send(t, env, "truv", "order-created", "--ca", ca.File)
	if len(a.Events) != 1 {
		t.Fatalf("send over https: %+v", a)
	}
	getIndexed(t, env, "events", "get", a.Events[0].ID, "--ca", ca.File)
	r := runCLI(t, env, "events", "list")
	t.Logf("plaintext: %v", r.err)
	if r.err == nil || !strings.Contains(r.err.Error(), "add --tls") {
		t.Errorf("plaintext against TLS: %v, want a hint to use --tls", r.err)
	}
	r = runCLI(t, env, "events", "list", "--tls")
	t.Logf("system roots: %v", r.err)
	if r.err == nil || !strings.Contains(r.err.Error(), "with --ca") {
		t.Errorf("TLS with the system roots against a private CA: %v, want a hint to use --ca", r.err)
	}
}

// waitTLSReady waits until the TLS gateway's /readyz answers 200.
func waitTLSReady(t *testing.T, addr string, ca *testpki.CA) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool})
		if err == nil {
			fmt.Fprintf(c, "GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n")
			b, _ := io.ReadAll(c)
			c.Close()
			if strings.HasPrefix(string(b), "HTTP/1.0 200") {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("TLS gateway not ready within 20s")
}
