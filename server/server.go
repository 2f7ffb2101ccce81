// Package server holds the gateway's transports: the HTTP webhook endpoints,
// the gRPC EventService, its REST mapping through grpc-gateway, Server-Sent
// Events, read-API authentication, health, metrics and the OpenAPI document.
// The domain work is done by internal/pipeline (the projection of the log
// and the de-duplicating store) and internal/subscription (reads); this
// package translates between them and the wire, with one table of errors
// (errors.go).
//
// Lifecycle: New builds a Server; Run serves on the given listeners until
// its context ends, then ends open subscriptions, stops accepting, lets
// in-flight deliveries finish their appends (bounded by ShutdownTimeout) and
// returns. Run also runs the pipeline. The caller closes the event log and
// the index after Run returns.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/index"
	"github.com/hookline/hookline/internal/pipeline"
	"github.com/hookline/hookline/internal/reprocess"
	"github.com/hookline/hookline/internal/subscription"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"
)

// Defaults of Config.
const (
	// DefaultShutdownTimeout bounds the graceful stop.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultStreamStallTimeout is how long a REST or SSE subscriber may
	// accept no data before the gateway ends its stream.
	DefaultStreamStallTimeout = time.Minute
)

// EventLog is what the server needs of the event log: what the pipeline
// and the subscriptions need, and single events for GetEvent. *eventlog.Log
// implements it.
type EventLog interface {
	pipeline.Log
	subscription.Log
	Get(ctx context.Context, seq uint64) (*hooklinev1.Event, error)
	// MaxPayload is the largest event the log stores, in bytes.
	MaxPayload() int64
	// StreamStats are the stream's figures, for /metrics.
	StreamStats(ctx context.Context) (eventlog.StreamStats, error)
}

// StateIndex is what the server needs of the local index: what the
// pipeline needs, and the lookups of the unary reads. *index.Index
// implements it.
type StateIndex interface {
	pipeline.Index
	Lookup(id string) (index.Entry, error)
	Order(id string) (*hooklinev1.OrderState, error)
	Session(key string) (*hooklinev1.SessionState, error)
	SupersededBy(id string) (string, error)
}

var (
	_ EventLog   = (*eventlog.Log)(nil)
	_ StateIndex = (*index.Index)(nil)
)

// Config configures a Server.
type Config struct {
	// Log is the event log. Required.
	Log EventLog
	// Index is the local index. Required.
	Index StateIndex
	// Sources are the webhook sources.
	Sources []*Source
	// Ingest configures the webhook endpoints.
	Ingest IngestOptions
	// DedupHorizon is how long a provider event id is remembered. Default
	// pipeline.DefaultDedupHorizon.
	DedupHorizon time.Duration
	// MaxIndexLag is how far the local index may lag the log before
	// webhooks get 503; see pipeline.SafeIndexLag. Default
	// pipeline.DefaultMaxIndexLag.
	MaxIndexLag time.Duration
	// BookmarkInterval is the default bookmark interval of subscriptions.
	// Default subscription.DefaultBookmarkInterval.
	BookmarkInterval time.Duration
	// MaxSubscriptions caps the open subscriptions (gRPC, REST and SSE
	// together); one more is refused with RESOURCE_EXHAUSTED (HTTP 429).
	// Default subscription.DefaultMaxSubscriptions.
	MaxSubscriptions int
	// ShutdownTimeout bounds the graceful stop. Default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// StreamStallTimeout ends a REST or SSE stream whose client has
	// accepted no data for this long (a subscriber that stopped reading
	// holds its catch-up buffer until then); it resumes from its last
	// sequence. Default DefaultStreamStallTimeout.
	StreamStallTimeout time.Duration
	// AdminTokens are the tokens of the admin API (AdminService over gRPC
	// and REST); without any, it refuses every call. Read-API tokens are
	// never admin tokens.
	AdminTokens []string
	// ReprocessMaxRate caps the events a reprocess run handles per second.
	// Default reprocess.DefaultMaxRate.
	ReprocessMaxRate int
	// APITokens, when not empty, protect the read API (EventService over
	// gRPC, REST and SSE): every call must carry `Authorization: Bearer`
	// with one of them. Several at once allow rotation. See auth.go.
	APITokens []string
	// OpenAPI is the OpenAPI document served at /openapi.json.
	OpenAPI []byte
	// Profiling serves Go's profiles (net/http/pprof) under /debug/pprof/
	// on the HTTP listener, without authentication: for benchmarks and
	// diagnosis on a listener only trusted callers reach. Off by default.
	Profiling bool
	// TracerProvider, when set, turns OpenTelemetry tracing on: spans for
	// webhooks, REST, SSE and gRPC, W3C trace context propagation, and the
	// ingest span's traceparent stored with every event (tracing.go,
	// docs/tracing.md). Nil, the default: tracing is off and no
	// instrumentation is installed.
	TracerProvider trace.TracerProvider
	// Logger receives logs. Default: discard.
	Logger *slog.Logger
	// Now returns the current time, for the de-duplication horizon and,
	// unless Ingest sets its own, receive times. Default time.Now.
	Now func() time.Time
}

// Server is the gateway's network face.
type Server struct {
	cfg       Config
	log       EventLog
	index     StateIndex
	pipeline  *pipeline.Pipeline
	subs      *subscription.Service
	reprocess *reprocess.Runner
	ingest    *Ingest
	health    *health.Server
	auth      *apiAuth
	admin     *apiAuth
	metrics   *serverMetrics
	logger    *slog.Logger
	tracing   *tracing // nil when off
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil || cfg.Index == nil {
		return nil, errors.New("server: Log and Index are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.StreamStallTimeout <= 0 {
		cfg.StreamStallTimeout = DefaultStreamStallTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Ingest.Now == nil {
		cfg.Ingest.Now = cfg.Now
	}
	m := newServerMetrics()
	p, err := pipeline.New(pipeline.Config{
		Log: cfg.Log, Index: cfg.Index, DedupHorizon: cfg.DedupHorizon, MaxIndexLag: cfg.MaxIndexLag,
		OnIndexApply: m.onIndexApply, Logger: cfg.Logger, Now: cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	cfg.Ingest.Metrics = m.reg
	in, err := NewIngest(cfg.Sources, p, cfg.Logger, cfg.Ingest)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Log, index: cfg.Index, pipeline: p, ingest: in, logger: cfg.Logger, metrics: m,
		subs: subscription.New(subscription.Config{
			Log: cfg.Log, Hub: p.Hub(), BookmarkInterval: cfg.BookmarkInterval, MaxSubscriptions: cfg.MaxSubscriptions,
			Superseded: func(id string) bool { _, err := cfg.Index.SupersededBy(id); return err == nil },
			OnLiveSend: m.onLiveSend,
		}),
		health: health.NewServer(),
		auth:   newAPIAuth(cfg.APITokens),
		admin:  newAPIAuth(cfg.AdminTokens),
	}
	m.reg.MustRegister(newStateCollector(s))
	s.reprocess = reprocess.New(reprocess.Config{Log: cfg.Log, Index: cfg.Index, Store: p, Remap: s.remap, MaxRate: cfg.ReprocessMaxRate})
	s.tracing = newTracing(cfg.TracerProvider)
	return s, nil
}

// GRPCServer builds the gRPC server with the EventService, the health
// service and reflection. Keepalive: the server pings an idle connection
// every 30s and drops it when unanswered for 10s; clients may ping every 10s
// or more, also without active streams.
func (s *Server) GRPCServer() *grpc.Server {
	gs := grpc.NewServer(
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(s.unaryAuth),
		grpc.ChainStreamInterceptor(s.streamAuth),
		s.tracing.grpcServerOption(),
	)
	hooklinev1.RegisterEventServiceServer(gs, &eventService{s: s})
	hooklinev1.RegisterAdminServiceServer(gs, &adminService{s: s})
	healthpb.RegisterHealthServer(gs, s.health)
	reflection.Register(gs)
	return gs
}

// Run serves webhooks, REST, SSE, health and metrics on httpLn and gRPC on
// grpcLn, and runs the pipeline, until ctx ends; then it shuts down
// gracefully: open subscriptions end with UNAVAILABLE, the HTTP server stops
// accepting and waits for in-flight deliveries to finish their appends,
// then gRPC stops and the pipeline commits what it queued for the index. It
// closes both listeners. A Server runs once.
func (s *Server) Run(ctx context.Context, httpLn, grpcLn net.Listener) error {
	gs := s.GRPCServer()
	inproc := bufconn.Listen(1 << 20)
	gw, conn, err := s.gateway(inproc)
	if err != nil {
		return err
	}
	defer conn.Close()
	hs := &http.Server{
		Handler:           s.HTTPHandler(gw),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return s.pipeline.Run(gctx) })
	g.Go(func() error {
		select {
		case <-s.pipeline.Ready():
			s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
			s.health.SetServingStatus(hooklinev1.EventService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
		case <-gctx.Done():
		}
		return nil
	})
	g.Go(func() error {
		if err := gs.Serve(grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		// The REST gateway's own connection (see gateway).
		if err := gs.Serve(inproc); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc (in-process): %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := hs.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		s.health.Shutdown()
		// Subscriptions end first (their clients resume from their last
		// sequence elsewhere or after the restart), then webhooks stop.
		s.subs.Close()
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		defer scancel()
		// HTTP first: stop accepting webhooks and wait for in-flight
		// deliveries to finish their appends.
		herr := hs.Shutdown(sctx)
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-sctx.Done():
			gs.Stop()
		}
		if herr != nil {
			return fmt.Errorf("http shutdown: %w", herr)
		}
		return nil
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil
	}
	return err
}

// HTTPHandler returns the HTTP routes: webhooks, REST (gw), SSE, health,
// metrics and the OpenAPI document.
func (s *Server) HTTPHandler(gw http.Handler) http.Handler {
	mux := http.NewServeMux()
	s.ingest.Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.cfg.OpenAPI)
	})
	mux.Handle("GET /v1/events:sse", s.requireToken(http.HandlerFunc(s.sse)))
	if s.cfg.Profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if gw != nil {
		mux.Handle("/v1/", s.requireToken(gw))
		mux.Handle("/v1/admin/", s.requireAdminToken(gw))
	}
	return s.ingest.guardPaths(s.tracing.routes(mux))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.pipeline.Check(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": s.readyMessage(err)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// readyMessage is /readyz's status for a pipeline that is not ready.
func (s *Server) readyMessage(err error) string {
	switch {
	case errors.Is(err, pipeline.ErrStarting):
		return "index catching up with the log"
	case errors.Is(err, pipeline.ErrIndexLagging):
		return "index lags the log by " + s.pipeline.Stats().IndexLag.Round(time.Millisecond).String()
	default:
		return "event store unavailable: " + err.Error()
	}
}
