// Package server is the gateway's network face: the HTTP webhook ingest, the
// gRPC EventService, its REST mapping through grpc-gateway, Server-Sent
// Events, health, metrics and the OpenAPI document.
//
// Lifecycle: New builds a Server; Run serves on the given listeners until
// its context ends, then stops accepting, lets in-flight deliveries finish
// their appends (bounded by ShutdownTimeout) and returns. Run also owns the
// single log follower that feeds the local index and the live fan-out. The
// caller closes the event log and the index after Run returns.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/fanout"
	"github.com/hookline/hookline/internal/index"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"
)

// EventLog is what the server needs of the event log. *eventlog.Log
// implements it.
type EventLog interface {
	EventAppender
	Bounds(ctx context.Context) (first, last uint64, err error)
	Get(ctx context.Context, seq uint64) (*hooklinev1.Event, error)
	Read(ctx context.Context, start eventlog.Start, filters []string, upTo uint64, fn func(*hooklinev1.Event) error) (uint64, error)
	Follow(ctx context.Context, after uint64, fn func([]*hooklinev1.Event) error) error
	SubjectPrefix() string
	// Check reports whether the log's connections are up.
	Check() error
	// MaxPayload is the largest event the log stores, in bytes.
	MaxPayload() int64
}

// StateIndex is what the server needs of the local index. *index.Index
// implements it.
type StateIndex interface {
	IDIndex
	Lookup(id string) (index.Entry, error)
	Applied() (uint64, error)
	Apply(evs []*hooklinev1.Event) error
	Sweep(firstSeq uint64) error
	IDStats() index.IDStats
	Order(id string) (*hooklinev1.OrderState, error)
	Session(key string) (*hooklinev1.SessionState, error)
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
	// BookmarkInterval is the default bookmark interval of subscriptions.
	// Default 15s.
	BookmarkInterval time.Duration
	// ShutdownTimeout bounds the graceful stop. Default 10s.
	ShutdownTimeout time.Duration
	// MaxIndexLag is how far the local index may lag the log before
	// webhooks get 503 (see lag.go). It must stay inside JetStream's
	// duplicate window with room for the append timeout; cmd/hookline
	// derives it from both (23s with their defaults). Default 20s.
	MaxIndexLag time.Duration
	// MaxSubscriptions caps the open subscriptions (gRPC, REST and SSE
	// together); one more is refused with RESOURCE_EXHAUSTED (HTTP 429).
	// Default 10 000.
	MaxSubscriptions int
	// APITokens, when not empty, protect the read API (EventService over
	// gRPC, REST and SSE): every call must carry `Authorization: Bearer`
	// with one of them. Several at once allow rotation. See auth.go.
	APITokens []string
	// OpenAPI is the OpenAPI document served at /openapi.json.
	OpenAPI []byte
	// Logger receives logs. Default: discard.
	Logger *slog.Logger
}

// Server is the gateway's network face.
type Server struct {
	log              EventLog
	index            StateIndex
	ingest           *Ingest
	hub              *fanout.Hub
	logger           *slog.Logger
	bookmarkInterval time.Duration
	shutdownTimeout  time.Duration
	openAPI          []byte
	gauges           gauges
	ready            atomic.Bool
	health           *health.Server
	lag              lagWatch
	maxIndexLag      time.Duration
	maxSubscriptions int64
	auth             apiAuth
	// Index queue (see queueIndex): pending is guarded by pendingMu;
	// applyMu serializes commits; readyAt is the log's last sequence at
	// start, which the index must reach before webhooks are accepted.
	pendingMu sync.Mutex
	pending   []*hooklinev1.Event
	applyMu   sync.Mutex
	indexKick chan struct{} // capacity 1: a wake-up, not a queue
	readyAt   atomic.Uint64
	// streams ends when shutdown begins, ending every open subscription
	// (gRPC, REST, SSE) so that none holds the shutdown up.
	streams     context.Context
	stopStreams context.CancelFunc
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil || cfg.Index == nil {
		return nil, errors.New("server: Log and Index are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BookmarkInterval <= 0 {
		cfg.BookmarkInterval = defaultBookmarkInterval
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.MaxIndexLag <= 0 {
		cfg.MaxIndexLag = 20 * time.Second
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = defaultMaxSubscriptions
	}
	in, err := NewIngest(cfg.Sources, cfg.Log, cfg.Index, cfg.Logger, cfg.Ingest)
	if err != nil {
		return nil, err
	}
	applied, err := cfg.Index.Applied()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{
		log: cfg.Log, index: cfg.Index, ingest: in, logger: cfg.Logger,
		bookmarkInterval: cfg.BookmarkInterval, shutdownTimeout: cfg.ShutdownTimeout,
		openAPI: cfg.OpenAPI, health: health.NewServer(),
		maxIndexLag: cfg.MaxIndexLag, maxSubscriptions: int64(cfg.MaxSubscriptions),
		auth: newAPIAuth(cfg.APITokens),
	}
	s.streams, s.stopStreams = context.WithCancel(context.Background())
	s.indexKick = make(chan struct{}, 1)
	s.hub = fanout.NewHub(applied, func() { s.gauges.dropped.Add(1) })
	s.gauges.applied.Store(applied)
	in.ready = &s.ready
	in.lag = &s.lag
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
	)
	hooklinev1.RegisterEventServiceServer(gs, &eventService{s: s})
	healthpb.RegisterHealthServer(gs, s.health)
	reflection.Register(gs)
	return gs
}

// Run serves webhooks, REST, SSE, health and metrics on httpLn and gRPC on
// grpcLn until ctx ends, then shuts down gracefully: open subscriptions end
// with UNAVAILABLE, the HTTP server stops accepting and waits for in-flight
// deliveries to finish their appends, then gRPC stops. It closes both
// listeners. A Server runs once.
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
	g.Go(func() error { return s.follow(gctx) })
	g.Go(func() error { return s.runIndexer(gctx) })
	g.Go(func() error { return s.sweep(gctx) })
	g.Go(func() error { return s.watchLag(gctx) })
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
		s.ready.Store(false)
		s.health.Shutdown()
		// Subscriptions end first (their clients resume from their last
		// sequence elsewhere or after the restart), then webhooks stop.
		s.stopStreams()
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
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

// follow is the process's single log reader: it hands every batch to the
// live fan-out at once and queues it for the index, which the indexer
// commits in groups (see runIndexer). It resumes after the last published
// event when the store comes back after an outage.
func (s *Server) follow(ctx context.Context) error {
	for {
		_, last, err := s.log.Bounds(ctx)
		if err == nil {
			s.readyAt.Store(last)
			break
		}
		s.logger.Warn("follow_waiting_for_store", "error", err.Error())
		if !sleepCtx(ctx, time.Second) {
			return nil
		}
	}
	if s.gauges.applied.Load() >= s.readyAt.Load() {
		s.markReady()
	}
	for {
		err := s.log.Follow(ctx, s.hub.Last(), func(batch []*hooklinev1.Event) error {
			full := s.queueIndex(batch)
			s.hub.Publish(batch)
			if full {
				// Backpressure: the indexer is behind by maxPendingIndex
				// events; commit now rather than let the queue grow.
				return s.flushIndex()
			}
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, eventlog.ErrUnavailable) {
			return fmt.Errorf("follow: %w", err)
		}
		// The store went away: resume after the last published event once
		// it is back. Appends that succeed meanwhile are de-duplicated by
		// JetStream's own window, and the lag guard (lag.go) stops ingest
		// before the index falls further behind than that window covers.
		s.logger.Warn("follow_interrupted", "error", err.Error())
		if !sleepCtx(ctx, time.Second) {
			return nil
		}
	}
}

// Index group commit: the indexer commits what the follower queued at most
// every indexCommitDelay, so one bbolt transaction (two fdatasyncs) covers
// many events under load. The index lags the live feed by about that much;
// JetStream's duplicate window covers the lag for de-duplication (and the
// lag guard in lag.go refuses webhooks when the lag outgrows the window),
// and GetEvent/GetOrder/GetSession see an event a few milliseconds after
// subscribers do. The queue is bounded by maxPendingIndex events.
const (
	indexCommitDelay = 10 * time.Millisecond
	maxPendingIndex  = 5000
)

// queueIndex adds a batch to the index queue, wakes the indexer and reports
// whether the queue is full.
func (s *Server) queueIndex(batch []*hooklinev1.Event) bool {
	s.pendingMu.Lock()
	s.pending = append(s.pending, batch...)
	n := len(s.pending)
	s.pendingMu.Unlock()
	select {
	case s.indexKick <- struct{}{}:
	default:
	}
	return n >= maxPendingIndex
}

// runIndexer commits queued events to the index until ctx ends, then
// commits what is left.
func (s *Server) runIndexer(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return s.flushIndex()
		case <-s.indexKick:
		}
		sleepCtx(ctx, indexCommitDelay)
		if err := s.flushIndex(); err != nil {
			return err
		}
	}
}

// flushIndex applies the queued events to the index in one transaction.
func (s *Server) flushIndex() error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.pendingMu.Lock()
	batch := s.pending
	s.pending = nil
	s.pendingMu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := s.index.Apply(batch); err != nil {
		return fmt.Errorf("index apply: %w", err)
	}
	seq := batch[len(batch)-1].GetSequence()
	s.gauges.applied.Store(seq)
	if seq >= s.readyAt.Load() && !s.ready.Load() {
		s.markReady()
	}
	return nil
}

// sleepCtx waits d or until ctx ends; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *Server) markReady() {
	s.ready.Store(true)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(hooklinev1.EventService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.logger.Info("index_ready", "applied_sequence", s.gauges.applied.Load())
}

// sweep forgets index ids of events the log no longer holds: once at start
// (the index does not keep the log's first sequence across restarts), then
// every minute, when it also reports failed merges of id runs.
func (s *Server) sweep(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var mergeFailures uint64
	for {
		if first, _, err := s.log.Bounds(ctx); err == nil {
			if err := s.index.Sweep(first); err != nil {
				s.logger.Warn("index_sweep_failed", "error", err.Error())
			}
		}
		// A failed merge of id runs is retried by the id set; say so once
		// per minute at most.
		if st := s.index.IDStats(); st.MergeFailures > mergeFailures {
			mergeFailures = st.MergeFailures
			s.logger.Warn("index_merge_failed", "failures", st.MergeFailures, "runs", st.Runs, "error", fmt.Sprint(st.LastMergeError))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
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
	mux.HandleFunc("GET /metrics", s.metricsHandler)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.openAPI)
	})
	mux.Handle("GET /v1/events:sse", s.requireToken(http.HandlerFunc(s.sse)))
	if gw != nil {
		mux.Handle("/v1/", s.requireToken(gw))
	}
	return s.ingest.guardPaths(mux)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.log.Check(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "event store unavailable: " + err.Error()})
		return
	}
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "index catching up with the log"})
		return
	}
	if s.lag.lagging.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "index lags the log by " + s.lagString()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, _, err := s.log.Bounds(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "event store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// lagString is the last measured index lag, for messages.
func (s *Server) lagString() string {
	return time.Duration(s.lag.lag.Load()).Round(time.Millisecond).String()
}
