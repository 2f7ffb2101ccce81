// Command hookline runs the webhook normalization gateway: it accepts
// provider webhooks over HTTP, stores normalized events in NATS JetStream
// (embedded by default) and serves them over gRPC, REST and SSE.
//
// Every flag has an environment variable (HOOKLINE_ + the flag name in upper
// case with `-` as `_`); a flag given on the command line wins. Run
// `hookline -help` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hookline/hookline"
	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/registry"
	"github.com/hookline/hookline/internal/config"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/index"
	"github.com/hookline/hookline/internal/pipeline"
	"github.com/hookline/hookline/internal/reprocess"
	"github.com/hookline/hookline/internal/subscription"
	"github.com/hookline/hookline/server"
	"google.golang.org/grpc/grpclog"
)

func main() {
	grpclog.SetLoggerV2(grpcLogs) // before any gRPC code runs (grpclog.go)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookline:", err)
		os.Exit(exitCode(err))
	}
}

// options are the daemon's settings.
type options struct {
	httpAddr, grpcAddr, dataDir, configPath  string
	natsURL, natsCreds, natsUser, natsListen string
	natsCA, natsCert, natsKey                string
	natsReplicas                             int
	retention, dedupHorizon, dupWindow       time.Duration
	maxLag                                   time.Duration
	retentionBytes, maxBody                  int64
	fsync                                    string
	fsyncInterval, appendTimeout, bookmark   time.Duration
	shutdownTimeout                          time.Duration
	maxSubscriptions                         int
	apiTokensFile, adminTokensFile           string
	reprocessMaxRate                         int
	tlsCert, tlsKey                          string
	apiAllowUnauthenticated, debugPprof      bool
	logLevel, logFormat                      string
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("hookline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8080", "listen address for webhooks, REST, SSE, health, metrics and OpenAPI")
	fs.StringVar(&o.grpcAddr, "grpc-addr", "127.0.0.1:9090", "listen address for gRPC")
	fs.StringVar(&o.dataDir, "data-dir", "./data", "directory for the embedded NATS store and the local index")
	fs.StringVar(&o.configPath, "config", "", "path of the sources configuration file (YAML); required")
	fs.StringVar(&o.natsURL, "nats-url", "", "external NATS cluster URL(s), comma-separated; empty runs NATS embedded")
	fs.StringVar(&o.natsCreds, "nats-creds", "", "NATS credentials file for --nats-url")
	fs.StringVar(&o.natsUser, "nats-user", "", "NATS user for --nats-url (password from HOOKLINE_NATS_PASSWORD; token from HOOKLINE_NATS_TOKEN)")
	fs.StringVar(&o.natsCA, "nats-tls-ca", "", "PEM file of the CA that signed the external cluster's certificates (default: the system's roots)")
	fs.StringVar(&o.natsCert, "nats-tls-cert", "", "client certificate (PEM) for an external cluster that requires mutual TLS; with --nats-tls-key")
	fs.StringVar(&o.natsKey, "nats-tls-key", "", "key (PEM) of --nats-tls-cert")
	fs.StringVar(&o.natsListen, "nats-listen", "", "host:port where the embedded NATS server accepts clients (e.g. the nats CLI), which must present the token in HOOKLINE_NATS_LISTEN_TOKEN; empty: none")
	fs.IntVar(&o.natsReplicas, "nats-replicas", eventlog.DefaultReplicas, "stream replicas on an external cluster")
	fs.DurationVar(&o.retention, "retention", eventlog.DefaultMaxAge, "how long the log keeps events")
	fs.Int64Var(&o.retentionBytes, "retention-bytes", 0, "size limit of the log in bytes; 0: none")
	fs.DurationVar(&o.dedupHorizon, "dedup-horizon", pipeline.DefaultDedupHorizon, "how long a provider event id is remembered for de-duplication (at most --retention)")
	fs.DurationVar(&o.dupWindow, "nats-duplicate-window", eventlog.DefaultDuplicateWindow, "JetStream's own in-memory duplicate window")
	fs.DurationVar(&o.maxLag, "max-index-lag", 0, "webhooks get 503 while the index lags the log by more than this; 0: the longest lag de-duplication covers (--nats-duplicate-window minus --append-timeout minus 2s)")
	fs.StringVar(&o.fsync, "fsync", "interval", "embedded store fsync policy: interval or always")
	fs.DurationVar(&o.fsyncInterval, "fsync-interval", eventlog.DefaultSyncInterval, "fsync period with --fsync=interval")
	fs.Int64Var(&o.maxBody, "max-body-bytes", eventlog.DefaultMaxBodyBytes, "largest accepted webhook body")
	fs.DurationVar(&o.appendTimeout, "append-timeout", pipeline.DefaultAppendTimeout, "how long a delivery waits for the store before answering 503")
	fs.DurationVar(&o.bookmark, "bookmark-interval", subscription.DefaultBookmarkInterval, "default interval of subscription bookmarks")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "graceful shutdown limit")
	fs.IntVar(&o.maxSubscriptions, "max-subscriptions", subscription.DefaultMaxSubscriptions, "open subscriptions (gRPC, REST and SSE together) beyond which new ones get RESOURCE_EXHAUSTED / HTTP 429")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "certificate chain (PEM) to serve HTTP and gRPC over TLS, reloaded when the file changes; with --tls-key")
	fs.StringVar(&o.tlsKey, "tls-key", "", "key (PEM) of --tls-cert")
	fs.StringVar(&o.apiTokensFile, "api-tokens-file", "", "file of read API tokens, one per line (also: HOOKLINE_API_TOKENS, comma-separated); calls must send Authorization: Bearer <token>")
	fs.StringVar(&o.adminTokensFile, "admin-tokens-file", "", "file of admin API tokens, one per line (also: HOOKLINE_ADMIN_TOKENS, comma-separated), for AdminService (hookline reprocess); without any the admin API refuses every call")
	fs.IntVar(&o.reprocessMaxRate, "reprocess-max-rate", reprocess.DefaultMaxRate, "most events a reprocess run handles per second")
	fs.BoolVar(&o.apiAllowUnauthenticated, "api-allow-unauthenticated", false, "serve the read API without tokens on addresses beyond loopback (when the network in front authenticates)")
	fs.BoolVar(&o.debugPprof, "debug-pprof", false, "serve Go's profiles under /debug/pprof/ on the HTTP listener, without authentication (benchmarks, diagnosis; only where trusted callers alone reach the listener)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")

	// Environment first, command line second.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "HOOKLINE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
		f.Usage += " [$" + name + "]"
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	switch {
	case o.configPath == "":
		return nil, errors.New("--config is required (see config/dev.yaml for an example)")
	case o.fsync != "interval" && o.fsync != "always":
		return nil, fmt.Errorf("--fsync must be interval or always, not %q", o.fsync)
	case o.retention < o.dupWindow:
		return nil, fmt.Errorf("--retention (%s) must be at least --nats-duplicate-window (%s): JetStream cannot remember an event id longer than it keeps the event", o.retention, o.dupWindow)
	case o.maxBody < 1 || o.maxBody > eventlog.MaxBodyBytesLimit:
		return nil, fmt.Errorf("--max-body-bytes must be between 1 and %d, not %d", eventlog.MaxBodyBytesLimit, o.maxBody)
	case o.dedupHorizon > o.retention:
		return nil, fmt.Errorf("--dedup-horizon (%s) must not exceed --retention (%s): ids are remembered only while their events are kept", o.dedupHorizon, o.retention)
	case o.maxLag < 0:
		return nil, errors.New("--max-index-lag must not be negative")
	case o.natsURL == "" && (o.natsCA != "" || o.natsCert != "" || o.natsKey != ""):
		return nil, errors.New("--nats-tls-ca, --nats-tls-cert and --nats-tls-key apply to an external cluster (--nats-url)")
	case (o.natsCert == "") != (o.natsKey == ""):
		return nil, errors.New("--nats-tls-cert and --nats-tls-key go together")
	case o.natsListen != "" && o.natsURL != "":
		return nil, errors.New("--nats-listen applies to the embedded NATS server; it cannot be combined with --nats-url")
	case o.natsListen != "" && getenv("HOOKLINE_NATS_LISTEN_TOKEN") == "":
		return nil, errors.New("--nats-listen needs HOOKLINE_NATS_LISTEN_TOKEN, the token every NATS client of the embedded server must present: without one, anyone who reaches the port could publish events that skipped verification, or delete the stream")
	case o.apiTokensFile == "" && getenv("HOOKLINE_API_TOKENS") == "" && !o.apiAllowUnauthenticated &&
		(!loopbackOnly(o.httpAddr) || !loopbackOnly(o.grpcAddr)):
		return nil, fmt.Errorf("--http-addr %s / --grpc-addr %s reach beyond loopback, and the read API (every stored event, personal data included) has no token: "+
			"set HOOKLINE_API_TOKENS or --api-tokens-file, or --api-allow-unauthenticated if the network in front of the gateway authenticates its clients", o.httpAddr, o.grpcAddr)
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return nil, errors.New("--tls-cert and --tls-key go together")
	case o.reprocessMaxRate < 1:
		return nil, errors.New("--reprocess-max-rate must be at least 1")
	case o.maxSubscriptions < 1:
		return nil, errors.New("--max-subscriptions must be at least 1")
	case o.maxLag == 0 && o.safeIndexLag() < time.Second:
		return nil, fmt.Errorf("--nats-duplicate-window (%s) must exceed --append-timeout (%s) by at least 3s, so that it covers an append and the index's lag (or set --max-index-lag and accept that retries arriving while the index lags more than the window can be stored twice)", o.dupWindow, o.appendTimeout)
	}
	return o, nil
}

// removeLegacyIndex deletes data-dir/index.db, the single-file index of
// releases before the id set: nothing reads it any more, and it can be
// large. Like the index that replaced it, it was only a projection of the
// log.
func removeLegacyIndex(dataDir string, logger *slog.Logger) {
	path := filepath.Join(dataDir, "index.db")
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	if err := os.Remove(path); err != nil {
		logger.Warn("index_legacy_not_removed", "path", path, "error", err.Error())
		return
	}
	logger.Info("index_legacy_removed", "path", path, "bytes", fi.Size())
}

// safeIndexLag is the longest index lag de-duplication covers (see
// pipeline.SafeIndexLag).
func (o *options) safeIndexLag() time.Duration {
	return pipeline.SafeIndexLag(o.dupWindow, o.appendTimeout)
}

// maxIndexLag is the lag past which webhooks get 503: --max-index-lag, or
// the safe lag.
func (o *options) maxIndexLag() time.Duration {
	if o.maxLag > 0 {
		return o.maxLag
	}
	return o.safeIndexLag()
}

func newLogger(o *options, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	ho := &slog.HandlerOptions{Level: lvl}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", o.logFormat)
}

// buildSources turns the configuration into adapters, resolving secrets.
func buildSources(cfg *config.File, getenv func(string) string) ([]*server.Source, error) {
	var out []*server.Source
	for _, sc := range cfg.Sources {
		f, ok := registry.Lookup(sc.Provider)
		if !ok {
			return nil, fmt.Errorf("source %s/%s: unknown provider %q", sc.Provider, sc.Name, sc.Provider)
		}
		secrets, err := sc.Secrets(getenv)
		if err != nil {
			return nil, err
		}
		a, err := f.New(adapters.Config{Source: sc.Name, Secrets: secrets, AllowUnauthenticated: sc.AllowUnauthenticated, Options: sc.Options})
		if err != nil {
			return nil, fmt.Errorf("source %s/%s: %w", f.Name, sc.Name, err)
		}
		out = append(out, &server.Source{Provider: f.Name, Name: sc.Name, Adapter: a, MappingVersion: f.MappingVersion})
	}
	return out, nil
}

// run is the whole program: it returns when ctx ends (after a graceful
// shutdown) or on a startup error.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cli, args := subcommand(args) // send, tail, ... (cli.go); serve and no command: the gateway
	if cli != nil {
		return cli(ctx, args, getenv, stdout, stderr)
	}
	o, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(o, stderr)
	if err != nil {
		return err
	}
	grpcLogs.setLogger(logger)
	tracing, err := tracingFromEnv(getenv) // otel.go
	if err != nil {
		return err
	}
	cfg, err := config.Load(o.configPath)
	if err != nil {
		return err
	}
	sources, err := buildSources(cfg, getenv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	log, err := eventlog.Open(ctx, eventlog.Options{
		DataDir: o.dataDir, URL: o.natsURL, CredsFile: o.natsCreds,
		TLSCAFile: o.natsCA, TLSCertFile: o.natsCert, TLSKeyFile: o.natsKey,
		Token: getenv("HOOKLINE_NATS_TOKEN"), User: o.natsUser, Password: getenv("HOOKLINE_NATS_PASSWORD"),
		Listen: o.natsListen, ListenToken: getenv("HOOKLINE_NATS_LISTEN_TOKEN"), Replicas: o.natsReplicas,
		MaxAge: o.retention, MaxBytes: o.retentionBytes, DuplicateWindow: o.dupWindow,
		SyncInterval: o.fsyncInterval, SyncAlways: o.fsync == "always", MaxBodyBytes: o.maxBody,
	})
	if err != nil {
		return err
	}
	// The event log closes last: it drains and stops the embedded server.
	defer log.Close()
	removeLegacyIndex(o.dataDir, logger)
	idx, err := index.OpenWith(filepath.Join(o.dataDir, "index"), index.Options{DedupHorizon: o.dedupHorizon})
	if err != nil {
		return err
	}
	defer idx.Close()
	if o.maxIndexLag() > o.safeIndexLag() {
		logger.Warn("dedup_gap_possible", "max_index_lag", o.maxIndexLag(), "safe_index_lag", o.safeIndexLag(),
			"reason", "a retry arriving while the index lags more than the duplicate window covers can be stored twice")
	}
	if why := idx.Recovered(); why != "" {
		logger.Warn("index_ids_discarded", "reason", why, "action", "rebuilding from the log")
	}

	apiTokens, err := loadTokens("HOOKLINE_API_TOKENS", "--api-tokens-file", o.apiTokensFile, getenv("HOOKLINE_API_TOKENS"))
	if err != nil {
		return err
	}
	adminTokens, err := loadTokens("HOOKLINE_ADMIN_TOKENS", "--admin-tokens-file", o.adminTokensFile, getenv("HOOKLINE_ADMIN_TOKENS"))
	if err != nil {
		return err
	}
	if len(apiTokens) == 0 && o.apiAllowUnauthenticated {
		logger.Warn("api_unauthenticated", "reason", "--api-allow-unauthenticated: the read API answers anyone who reaches it")
	}
	tp, stopTracing, err := startTracing(ctx, tracing, serviceVersion(), logger)
	if err != nil {
		return err
	}
	defer func() {
		// After the server stopped: flush the spans still queued.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.shutdownTimeout)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			logger.Warn("tracing_shutdown_failed", "error", err.Error())
		}
	}()
	srv, err := server.New(server.Config{
		Log: log, Index: idx, Sources: sources, Logger: logger, OpenAPI: hookline.OpenAPI, TracerProvider: tp,
		BookmarkInterval: o.bookmark, ShutdownTimeout: o.shutdownTimeout, MaxIndexLag: o.maxIndexLag(),
		DedupHorizon: o.dedupHorizon, MaxSubscriptions: o.maxSubscriptions, APITokens: apiTokens,
		AdminTokens: adminTokens, ReprocessMaxRate: o.reprocessMaxRate, Profiling: o.debugPprof,
		Ingest: server.IngestOptions{
			MaxBodyBytes: o.maxBody, AppendTimeout: o.appendTimeout, Providers: registry.Factories(),
		},
	})
	if err != nil {
		return err
	}
	var certs *certReloader
	if o.tlsCert != "" {
		if certs, err = newCertReloader(o.tlsCert, o.tlsKey, logger); err != nil {
			return err
		}
	}
	var lc net.ListenConfig
	httpLn, err := lc.Listen(ctx, "tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("listen http: %w", err)
	}
	grpcLn, err := lc.Listen(ctx, "tcp", o.grpcAddr)
	if err != nil {
		httpLn.Close()
		return fmt.Errorf("listen grpc: %w", err)
	}
	tlsNote := ""
	if certs != nil {
		httpLn, grpcLn = certs.listener(httpLn, "h2", "http/1.1"), certs.listener(grpcLn, "h2")
		tlsNote = " tls=on"
	}
	store := "embedded NATS in " + o.dataDir
	if o.natsURL != "" {
		store = "NATS at " + o.natsURL
	} else if u := log.ClientURL(); u != "" {
		store += " (clients: " + u + ")"
	}
	fmt.Fprintf(stdout, "hookline listening http=%s grpc=%s store=%q sources=%d%s\n",
		httpLn.Addr(), grpcLn.Addr(), store, len(sources), tlsNote)
	logger.Info("started", "http_addr", httpLn.Addr().String(), "grpc_addr", grpcLn.Addr().String(), "sources", len(sources))
	err = srv.Run(ctx, httpLn, grpcLn)
	logger.Info("stopped")
	return err
}

// loopbackOnly reports whether a listen address accepts loopback
// connections only (an empty host listens on every interface).
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadTokens reads API tokens: one per line of file (blank lines and lines
// starting with # are skipped) and the comma-separated list in env (the
// variable envName). A file or variable that names none is an error, not
// an open API. flagName names the file's flag in errors.
func loadTokens(envName, flagName, file, env string) ([]string, error) {
	var tokens []string
	for t := range strings.SplitSeq(env, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tokens = append(tokens, t)
		}
	}
	if env != "" && len(tokens) == 0 {
		return nil, fmt.Errorf("%s holds no token", envName)
	}
	if file == "" {
		return tokens, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	n := len(tokens)
	for line := range strings.Lines(string(b)) {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			tokens = append(tokens, t)
		}
	}
	if len(tokens) == n {
		return nil, fmt.Errorf("%s %s holds no token", flagName, file)
	}
	return tokens, nil
}
