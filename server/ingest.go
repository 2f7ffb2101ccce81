package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/pipeline"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is what the webhook endpoints need of the pipeline.
// *pipeline.Pipeline implements it.
type Store interface {
	// Accepting returns nil when deliveries may be stored.
	Accepting() error
	// Store appends ev unless it is already stored.
	Store(ctx context.Context, ev *hooklinev1.Event) (pipeline.Stored, error)
}

var _ Store = (*pipeline.Pipeline)(nil)

// Source is one configured provider account that accepts webhooks.
type Source struct {
	// Provider is the provider's canonical name (`truv`, `finicity`, `swyft`).
	Provider string
	// Name is the source name (`default` answers `/webhooks/{provider}`).
	Name string
	// Adapter verifies and normalizes its deliveries.
	Adapter adapters.Adapter
	// MappingVersion is the version of the adapter's mapping
	// (adapters.Factory.MappingVersion), recorded in every event; 0 counts
	// as 1.
	MappingVersion uint32
}

// rejectCodes are the codes of hookline_deliveries_rejected_total: the
// rejections of a delivery that reached a configured source.
var rejectCodes = [...]string{
	strings.ToLower(ReasonUnauthenticated), strings.ToLower(ReasonMalformedPayload), strings.ToLower(ReasonBadRequest),
	strings.ToLower(ReasonUnsupportedMediaType), strings.ToLower(ReasonPayloadTooLarge), strings.ToLower(ReasonUnavailable),
	strings.ToLower(ReasonInternal),
}

func rejectIndex(code string) int {
	for i, c := range rejectCodes {
		if c == code {
			return i
		}
	}
	return len(rejectCodes) - 1
}

// IngestOptions configure the webhook endpoints.
type IngestOptions struct {
	// MaxBodyBytes caps a delivery's body; larger ones get 413. Default
	// eventlog.DefaultMaxBodyBytes; the event log must be opened with the
	// same cap.
	MaxBodyBytes int64
	// AppendTimeout bounds the wait for the event store; past it the
	// delivery gets 503 and the provider retries. Default
	// pipeline.DefaultAppendTimeout.
	AppendTimeout time.Duration
	// Providers are the providers the gateway knows (adapters/registry's
	// Factories): their names and aliases (`mastercard` for `finicity`) in
	// webhook URLs and SSE filters. The providers of Sources are known
	// without it.
	Providers []adapters.Factory
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Metrics is the registry the webhook metrics are registered with
	// (docs/metrics.md). Default: a registry of the Ingest's own.
	Metrics prometheus.Registerer
}

// Ingest serves `POST /webhooks/{provider}` and
// `POST /webhooks/{provider}/{source}`. It is safe for concurrent use.
type Ingest struct {
	opts    IngestOptions
	sources map[string]*Source             // "provider/name"
	names   map[string]hooklinev1.Provider // name or alias → provider
	canon   map[hooklinev1.Provider]string // provider → canonical name
	store   Store
	metrics deliveryMetrics
	// monotonic: opts.Now is time.Now, so its readings serve the metrics'
	// durations too and save a clock read per delivery.
	monotonic bool
	logger    *slog.Logger
	reqIDs    requestIDs
	bufs      sync.Pool
}

// NewIngest returns the webhook handler.
func NewIngest(sources []*Source, store Store, logger *slog.Logger, opts IngestOptions) (*Ingest, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = eventlog.DefaultMaxBodyBytes
	}
	if opts.AppendTimeout <= 0 {
		opts.AppendTimeout = pipeline.DefaultAppendTimeout
	}
	monotonic := opts.Now == nil
	if monotonic {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	in := &Ingest{opts: opts, sources: map[string]*Source{}, store: store, logger: logger, monotonic: monotonic,
		names: map[string]hooklinev1.Provider{}, canon: map[hooklinev1.Provider]string{}}
	for _, f := range opts.Providers {
		in.canon[f.Provider] = f.Name
		for _, n := range append([]string{f.Name}, f.Aliases...) {
			in.names[n] = f.Provider
		}
	}
	for _, s := range sources {
		if _, ok := in.canon[s.Adapter.Provider()]; !ok {
			in.canon[s.Adapter.Provider()] = s.Provider
			in.names[s.Provider] = s.Adapter.Provider()
		}
	}
	in.bufs.New = func() any { return new(bytes.Buffer) }
	for _, s := range sources {
		key := s.Provider + "/" + s.Name
		if _, dup := in.sources[key]; dup {
			return nil, fmt.Errorf("source %s defined twice", key)
		}
		in.sources[key] = s
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	in.metrics = newPromDeliveries(opts.Metrics, in.sources)
	return in, nil
}

// Register adds the webhook routes to mux.
func (in *Ingest) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /webhooks/{provider}", in.serve)
	mux.HandleFunc("POST /webhooks/{provider}/{source}", in.serve)
	// Any other method: a JSON 405, like every other webhook error.
	mux.HandleFunc("/webhooks/{provider}", in.methodNotAllowed)
	mux.HandleFunc("/webhooks/{provider}/{source}", in.methodNotAllowed)
	// Any other path under /webhooks/ (a trailing slash, an extra
	// segment): a JSON 404 that names the two valid forms.
	mux.HandleFunc("/webhooks/", in.notFound)
}

// guardPaths answers the JSON 404 for a webhook path that is not clean
// (`..`, `.`, `//`, or `/webhooks` alone), which http.ServeMux would
// otherwise redirect to the cleaned path, or that holds an encoded slash
// (`/webhooks/truv%2Fdefault`), which it would decode into a segment: a
// provider's POST is never redirected or reinterpreted, so that what it is
// configured with is what is served.
func (in *Ingest) guardPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		c := path.Clean(p)
		webhook := c == "/webhooks" || strings.HasPrefix(c, "/webhooks/")
		if webhook && (c != p || c == "/webhooks" || strings.Contains(strings.ToLower(r.URL.RawPath), "%2f")) {
			in.notFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (in *Ingest) notFound(w http.ResponseWriter, r *http.Request) {
	in.writeError(w, r, &routeError{ReasonNotFound, "no webhook endpoint at this path; use /webhooks/{provider} or /webhooks/{provider}/{source}",
		http.StatusNotFound})
}

func (in *Ingest) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	in.writeError(w, r, &routeError{ReasonMethodNotAllowed, "webhooks are delivered with POST", http.StatusMethodNotAllowed})
}

// writeError answers err with a request id of its own.
func (in *Ingest) writeError(w http.ResponseWriter, r *http.Request, err error) wireError {
	reqID := in.reqIDs.from(r.Header.Get("X-Request-Id"))
	w.Header().Set("X-Request-Id", reqID)
	we := translate(err)
	writeHTTPError(w, reqID, we)
	return we
}

// AcceptedEvent describes one event of an accepted delivery.
type AcceptedEvent struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Sequence  uint64 `json:"sequence"`
	Duplicate bool   `json:"duplicate"`
}

// Accepted is the JSON body of a 200 answer.
type Accepted struct {
	RequestID string `json:"request_id"`
	// Duplicate is true when every event of the delivery was already stored.
	Duplicate bool            `json:"duplicate"`
	Ping      bool            `json:"ping,omitempty"`
	Events    []AcceptedEvent `json:"events"`
}

func (in *Ingest) serve(w http.ResponseWriter, r *http.Request) {
	start := in.opts.Now()
	began := start // for the metrics' durations: a monotonic reading
	if !in.monotonic {
		began = time.Now()
	}
	reqID := in.reqIDs.from(r.Header.Get("X-Request-Id"))
	w.Header().Set("X-Request-Id", reqID)
	provider := r.PathValue("provider")
	if p, ok := in.names[provider]; ok {
		provider = in.canon[p]
	}
	name := r.PathValue("source")
	if name == "" {
		name = "default"
	}
	src, ok := in.sources[provider+"/"+name]
	if !ok {
		err := &routeError{ReasonUnknownSource, "no source named " + strconv.Quote(name) + " for this provider", http.StatusNotFound}
		if !in.knownProvider(provider) {
			err = &routeError{ReasonUnknownProvider, "unknown provider", http.StatusNotFound}
		}
		// Logged (a provider pointed at the wrong URL shows up here) but not
		// counted: the metric's labels are configured sources only.
		we := translate(err)
		in.logger.Info("webhook_rejected", "request_id", reqID, "provider", clip(provider), "source", clip(name),
			"status", we.http, "code", we.code())
		writeHTTPError(w, reqID, we)
		return
	}
	// Before the body is read: while the index catches up or lags,
	// de-duplication could miss a retry, so the provider retries later
	// instead. Counted, not logged per request.
	if err := in.store.Accepting(); err != nil {
		we := translate(err)
		writeHTTPError(w, reqID, we)
		in.metrics.delivered(src, outcomeRejected+rejectIndex(we.code()), time.Since(began))
		return
	}

	buf := in.bufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 4*int(in.opts.MaxBodyBytes) {
			buf.Reset()
			in.bufs.Put(buf)
		}
	}()
	res, err := in.handle(r, src, reqID, start, buf)
	if err != nil {
		we := translate(err)
		in.logger.Log(r.Context(), logLevel(we.http), "webhook_rejected", "request_id", reqID, "provider", provider,
			"source", name, "status", we.http, "code", we.code(), "reason", we.message, "error", err.Error())
		writeHTTPError(w, reqID, we)
		in.metrics.delivered(src, outcomeRejected+rejectIndex(we.code()), time.Since(began))
		return
	}
	if in.logger.Enabled(r.Context(), slog.LevelDebug) {
		in.logger.Debug("webhook_accepted", "request_id", reqID, "provider", provider, "source", name,
			"events", len(res.Events), "duplicate", res.Duplicate, "ping", res.Ping, "duration", time.Since(began))
	}
	writeJSON(w, http.StatusOK, res)
	outcome := outcomeAccepted
	switch {
	case res.Ping:
		outcome = outcomePing
	case res.Duplicate:
		outcome = outcomeDuplicate
	}
	in.metrics.delivered(src, outcome, time.Since(began))
}

// providerByName returns the provider a filter names: its name or alias
// in any case (`truv`, `MASTERCARD`), or its enum name (`PROVIDER_TRUV`).
func (in *Ingest) providerByName(name string) (hooklinev1.Provider, bool) {
	p, ok := in.names[strings.ToLower(strings.TrimPrefix(strings.ToUpper(name), "PROVIDER_"))]
	return p, ok
}

func (in *Ingest) knownProvider(p string) bool {
	for _, s := range in.sources {
		if s.Provider == p {
			return true
		}
	}
	return false
}

// handle runs one delivery through read → verify → normalize → store.
func (in *Ingest) handle(r *http.Request, src *Source, reqID string, start time.Time, buf *bytes.Buffer) (*Accepted, error) {
	if r.ContentLength > in.opts.MaxBodyBytes {
		return nil, fmt.Errorf("%w (%d bytes)", errTooLarge, in.opts.MaxBodyBytes)
	}
	if err := checkIdentityEncoding(r.Header); err != nil {
		return nil, err
	}
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, in.opts.MaxBodyBytes+1)); err != nil {
		// Cut off in transit, a broken chunked encoding, or the client went
		// away: the client's fault, and nothing to verify.
		return nil, fmt.Errorf("%w: %w", errIncompleteBody, err)
	}
	if int64(buf.Len()) > in.opts.MaxBodyBytes {
		return nil, fmt.Errorf("%w (%d bytes)", errTooLarge, in.opts.MaxBodyBytes)
	}
	d := &adapters.Delivery{Header: r.Header, Body: buf.Bytes(), ReceiveTime: start.UTC(), ID: reqID}
	tr := traceIngest(r, src, reqID) // tracing.go; does nothing when tracing is off
	_, span := tr.step(r.Context(), "verify")
	err := src.Adapter.Verify(d)
	span.end(err)
	if err != nil {
		return nil, err
	}
	_, span = tr.step(r.Context(), "normalize")
	norm, err := src.Adapter.Normalize(d)
	tr.normalized(span, norm, err)
	if err != nil {
		return nil, err
	}
	for _, ev := range norm.Events {
		if err := checkIdentity(ev); err != nil {
			return nil, err
		}
		ev.MappingVersion = src.mappingVersion()
		if tr.parent != "" {
			// A duplicate keeps the trace_parent it was stored with.
			ev.TraceParent = tr.parent
		}
	}
	out := &Accepted{RequestID: reqID, Ping: norm.Ping, Events: make([]AcceptedEvent, 0, len(norm.Events))}
	if norm.Ping {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), in.opts.AppendTimeout)
	defer cancel()
	out.Duplicate = true
	for _, ev := range norm.Events {
		began := time.Now()
		actx, span := tr.step(ctx, "append")
		st, err := in.store.Store(actx, ev)
		span.appended(ev, st, err)
		if err != nil {
			in.metrics.appended(appendFailed, time.Since(began))
			return nil, err
		}
		ae := AcceptedEvent{ID: ev.GetId(), Type: ev.GetType().String(), Sequence: st.Sequence, Duplicate: st.Duplicate}
		out.Duplicate = out.Duplicate && ae.Duplicate
		out.Events = append(out.Events, ae)
		if ae.Duplicate {
			in.metrics.appended(appendDuplicate, time.Since(began))
		} else {
			in.metrics.appended(appendStored, time.Since(began))
			in.metrics.stored(src, ev)
		}
	}
	tr.stored(out)
	return out, nil
}

func (s *Source) mappingVersion() uint32 { return max(s.MappingVersion, 1) }

// checkIdentity refuses an event whose identity (its de-duplication key,
// built from the provider's event id, or its order id or session key)
// holds U+FFFD. JSON decoding turns invalid UTF-8 bytes and unpaired
// surrogate escapes into that character, so two ids that differ only in
// such bytes would become one: the second delivery would be answered as a
// duplicate of the first and lost.
func checkIdentity(ev *hooklinev1.Event) error {
	const replacement = "\uFFFD"
	switch {
	case strings.Contains(ev.GetDedupKey(), replacement):
		return adapters.Errorf(adapters.ErrMalformed, "the event id holds invalid UTF-8 or an unpaired surrogate escape (or U+FFFD)")
	case strings.Contains(ev.GetSubject(), replacement):
		return adapters.Errorf(adapters.ErrMalformed, "the order id or session key holds invalid UTF-8 or an unpaired surrogate escape (or U+FFFD)")
	}
	return nil
}

// requestIDs hands out request ids: a caller's X-Request-Id when it is
// short and plain, else a process-unique id.
type requestIDs struct {
	once   sync.Once
	prefix string
	n      atomic.Uint64
}

func (g *requestIDs) from(given string) string {
	if given != "" && len(given) <= 64 && plainID(given) {
		return given
	}
	g.once.Do(func() { g.prefix = "req_" + strconv.FormatInt(time.Now().UnixNano(), 36) + "_" })
	return g.prefix + strconv.FormatUint(g.n.Add(1), 36)
}

// clip shortens a value taken from the request path for a log line.
func clip(s string) string {
	const maxLogged = 64
	if len(s) > maxLogged {
		return s[:maxLogged] + "…"
	}
	return s
}

func plainID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// checkIdentityEncoding refuses a body sent with a Content-Encoding (gzip,
// …). Signatures are computed over the bytes as sent and the adapters read
// JSON, so a compressed body could be neither verified nor parsed; reading
// it as if it were plain would misreport the failure as a bad signature or
// malformed JSON. No provider compresses its webhooks.
func checkIdentityEncoding(h http.Header) error {
	for _, v := range h.Values("Content-Encoding") {
		for coding := range strings.SplitSeq(v, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return adapters.Errorf(adapters.ErrUnsupportedMediaType,
					"content encoding %q is not supported; send the body uncompressed", strings.ToLower(c))
			}
		}
	}
	return nil
}
