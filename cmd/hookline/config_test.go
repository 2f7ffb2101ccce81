package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/config"
)

// TestDevConfig checks that config/dev.yaml, with the development secrets
// the Makefile exports for `make run`, builds every source.
func TestDevConfig(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range []string{"HOOKLINE_DEV_TRUV_SECRET", "HOOKLINE_DEV_FINICITY_SECRET", "HOOKLINE_DEV_SWYFT_AUTH"} {
		i := strings.Index(string(mk), kv+"=")
		if i < 0 {
			t.Fatalf("Makefile does not export %s", kv)
		}
		v := strings.Fields(strings.ReplaceAll(string(mk)[i+len(kv)+1:], "'Bearer ", "'Bearer_"))[0]
		env[kv] = strings.ReplaceAll(strings.Trim(v, "'"), "Bearer_", "Bearer ")
	}
	cfg, err := config.Load("../../config/dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := buildSources(cfg, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 4 {
		t.Errorf("dev config built %d sources, want 4", len(srcs))
	}
	if env["HOOKLINE_DEV_SWYFT_AUTH"] != "Bearer dev-swyft-token" || env["HOOKLINE_DEV_TRUV_SECRET"] != "dev-truv-access-secret" {
		t.Errorf("dev secrets differ from the README: %v", env)
	}
}

func TestFlagsAndEnvironment(t *testing.T) {
	env := map[string]string{"HOOKLINE_HTTP_ADDR": "127.0.0.1:18080", "HOOKLINE_CONFIG": "x.yaml"}
	o, err := parseFlags([]string{"--grpc-addr", "127.0.0.1:19090"}, func(k string) string { return env[k] }, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.httpAddr != "127.0.0.1:18080" || o.grpcAddr != "127.0.0.1:19090" || o.dedupHorizon.Hours() != 96 || o.dataDir != "./data" {
		t.Errorf("options = %+v", o)
	}
	// The defaults the README's flag table promises.
	for name, got := range map[string]any{
		"retention": o.retention, "retention-bytes": o.retentionBytes, "fsync": o.fsync, "fsync-interval": o.fsyncInterval,
		"max-body-bytes": o.maxBody, "append-timeout": o.appendTimeout, "bookmark-interval": o.bookmark,
		"shutdown-timeout": o.shutdownTimeout, "nats-replicas": o.natsReplicas, "max-subscriptions": o.maxSubscriptions,
		"log-level": o.logLevel, "log-format": o.logFormat, "nats-url": o.natsURL, "nats-listen": o.natsListen,
	} {
		want := map[string]any{
			"retention": 720 * time.Hour, "retention-bytes": int64(0), "fsync": "interval", "fsync-interval": time.Second,
			"max-body-bytes": int64(1 << 20), "append-timeout": 5 * time.Second, "bookmark-interval": 15 * time.Second,
			"shutdown-timeout": 10 * time.Second, "nats-replicas": 1, "max-subscriptions": 10000,
			"log-level": "info", "log-format": "text", "nats-url": "", "nats-listen": "",
		}[name]
		if got != want {
			t.Errorf("--%s defaults to %v, want %v", name, got, want)
		}
	}
	if _, err := parseFlags([]string{"--config", "x", "--nats-listen", "127.0.0.1:4222"},
		func(k string) string { return map[string]string{"HOOKLINE_NATS_LISTEN_TOKEN": "t"}[k] }, os.Stderr); err != nil {
		t.Errorf("--nats-listen with a token: %v", err)
	}
	// A command-line flag wins over its environment variable.
	env["HOOKLINE_GRPC_ADDR"] = "127.0.0.1:29090"
	if o, err := parseFlags([]string{"--grpc-addr", "127.0.0.1:19090"}, func(k string) string { return env[k] }, os.Stderr); err != nil || o.grpcAddr != "127.0.0.1:19090" {
		t.Errorf("flag and environment both set: %v, grpc addr %v; want the flag's", err, o)
	}
	if o.dupWindow != 30*time.Second || o.maxIndexLag() != 23*time.Second {
		t.Errorf("duplicate window %s, index lag limit %s; want 30s and 23s", o.dupWindow, o.maxIndexLag())
	}
	// An explicit limit is taken as given, even one the window does not cover.
	o, err = parseFlags([]string{"--config", "x", "--nats-duplicate-window", "100ms", "--max-index-lag", "1s"}, func(string) string { return "" }, os.Stderr)
	if err != nil || o.maxIndexLag() != time.Second {
		t.Errorf("explicit --max-index-lag: %v, limit %v", err, o)
	}
	bad := [][]string{
		{"--config", "x", "--dedup-horizon", "800h"},
		// The window must leave room for an append and the lag guard.
		{"--config", "x", "--nats-duplicate-window", "7s", "--append-timeout", "5s"},
		{"--config", "x", "--max-index-lag", "-1s"},
		{"--config", "x", "--fsync", "sometimes"},
		{"--config", "x", "--max-subscriptions", "0"},
		// Retention shorter than the duplicate window (NATS refuses the
		// stream with a raw API error), and body caps the log cannot store.
		{"--config", "x", "--retention", "10s", "--dedup-horizon", "5s"},
		{"--config", "x", "--max-body-bytes", "0"},
		{"--config", "x", "--max-body-bytes", "17000000"},
		{"--config", "x", "--tls-cert", "cert.pem"},
		// TLS settings without an external cluster, a certificate without its key.
		{"--config", "x", "--nats-tls-ca", "ca.pem"},
		{"--config", "x", "--nats-url", "tls://n1:4222", "--nats-tls-cert", "c.pem"},
		// A NATS listener without a client token, or next to an external cluster.
		{"--config", "x", "--nats-listen", "127.0.0.1:4222"},
		{"--config", "x", "--nats-listen", "127.0.0.1:4222", "--nats-url", "nats://127.0.0.1:4333"},
		{},
	}
	for _, args := range bad {
		if _, err := parseFlags(args, func(string) string { return "" }, &strings.Builder{}); err == nil {
			t.Errorf("parseFlags(%v) accepted", args)
		}
	}
}

func TestConfigRefusesSilentlyUnauthenticatedSources(t *testing.T) {
	_, err := config.Parse([]byte("sources:\n  - provider: swyft\n"))
	if err == nil || !strings.Contains(err.Error(), "allow_unauthenticated") {
		t.Errorf("err = %v, want a message naming allow_unauthenticated", err)
	}
	if _, err := config.Parse([]byte("sources:\n  - provider: swyft\n    secrets: [inline]\n")); err == nil {
		t.Error("an unknown key (inline secrets) was accepted")
	}
	_, err = buildSources(&config.File{Sources: []config.Source{{Provider: "truv", Name: "default", SecretEnv: []string{"UNSET"}}}}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "UNSET") {
		t.Errorf("unset secret variable: err = %v", err)
	}
}

// TestLegacyIndexRemoved: the bbolt index of earlier releases is deleted at
// start; a directory of that name is left alone.
func TestLegacyIndexRemoved(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, "index.db")
	if err := os.WriteFile(legacy, []byte("old index"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	removeLegacyIndex(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Errorf("index.db still there: %v", err)
	}
	if !strings.Contains(logs.String(), "index_legacy_removed") {
		t.Errorf("no log line: %q", logs.String())
	}

	other := t.TempDir()
	if err := os.Mkdir(filepath.Join(other, "index.db"), 0o750); err != nil {
		t.Fatal(err)
	}
	removeLegacyIndex(other, slog.New(slog.DiscardHandler))
	if _, err := os.Stat(filepath.Join(other, "index.db")); err != nil {
		t.Errorf("a directory named index.db was touched: %v", err)
	}
}

// TestReadAPIExposure: listening beyond loopback needs read API tokens or
// an explicit --api-allow-unauthenticated; loopback needs neither.
func TestReadAPIExposure(t *testing.T) {
	none := func(string) string { return "" }
	withTokens := func(k string) string { return map[string]string{"HOOKLINE_API_TOKENS": "t1,t2"}[k] }
	for _, tc := range []struct {
		args   []string
		getenv func(string) string
		ok     bool
	}{
		{[]string{"--http-addr", "127.0.0.1:8080", "--grpc-addr", "[::1]:9090"}, none, true},
		{[]string{"--http-addr", "localhost:8080"}, none, true},
		{[]string{"--http-addr", "0.0.0.0:8080"}, none, false},
		{[]string{"--grpc-addr", ":9090"}, none, false},
		{[]string{"--grpc-addr", "10.0.0.5:9090"}, none, false},
		{[]string{"--grpc-addr", ":9090"}, withTokens, true},
		{[]string{"--grpc-addr", ":9090", "--api-tokens-file", "tokens"}, none, true},
		{[]string{"--http-addr", ":8080", "--api-allow-unauthenticated"}, none, true},
	} {
		_, err := parseFlags(append([]string{"--config", "x"}, tc.args...), tc.getenv, &strings.Builder{})
		if (err == nil) != tc.ok {
			t.Errorf("parseFlags(%v): %v, want ok=%v", tc.args, err, tc.ok)
		}
	}
}

func TestLoadAPITokens(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	if err := os.WriteFile(file, []byte("# rotated 2026-11\nnew-token\n\n  old-token  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("# none yet\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := loadTokens("HOOKLINE_API_TOKENS", "--api-tokens-file", file, " env-a , env-b ")
	if err != nil || strings.Join(got, " ") != "env-a env-b new-token old-token" {
		t.Errorf("loadAPITokens = %q, %v", got, err)
	}
	for _, tc := range []struct{ file, env string }{{empty, ""}, {"", " , "}, {filepath.Join(dir, "missing"), ""}} {
		if got, err := loadTokens("HOOKLINE_API_TOKENS", "--api-tokens-file", tc.file, tc.env); err == nil {
			t.Errorf("loadTokens(%q, %q) = %q, want an error", tc.file, tc.env, got)
		}
	}
	if got, err := loadTokens("HOOKLINE_API_TOKENS", "--api-tokens-file", "", ""); err != nil || len(got) != 0 {
		t.Errorf("no tokens configured: %q, %v", got, err)
	}
}
