package server

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/hookline/hookline/internal/index"
)

// EventAppender stores normalized events durably. *eventlog.Log implements it.
type EventAppender interface {
	Append(ctx context.Context, ev *hooklinev1.Event) (eventlog.AppendResult, error)
}

// IDIndex finds events already stored, over the long de-duplication horizon.
// *index.Index implements it.
type IDIndex interface {
	// Recent returns the entry of an event id received at or after since,
	// or index.ErrNotFound.
	Recent(id string, since time.Time) (index.Entry, error)
}

var (
	_ EventAppender = (*eventlog.Log)(nil)
	_ IDIndex       = (*index.Index)(nil)
)

// Source is one configured provider account that accepts webhooks.
type Source struct {
	// Provider is the provider's canonical name (`truv`, `finicity`, `swyft`).
	Provider string
	// Name is the source name (`default` answers `/webhooks/{provider}`).
	Name string
	// Adapter verifies and normalizes its deliveries.
	Adapter adapters.Adapter

	stats sourceStats
}

// sourceStats are the per-source counters exported on /metrics.
type sourceStats struct {
	accepted, duplicates, unmapped, pings, events atomic.Int64
	rejected                                      [len(rejectCodes)]atomic.Int64 // by rejectIndex
}

var rejectCodes = [...]string{codeUnauthenticated, codeMalformed, codeBadRequest, codeUnsupportedMediaType, codeTooLarge, codeUnavailable, codeInternal}

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
	// MaxBodyBytes caps a delivery's body; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// AppendTimeout bounds the wait for the event store; past it the
	// delivery gets 503 and the provider retries. Default 5s.
	AppendTimeout time.Duration
	// DedupHorizon is how long a provider event id is remembered. Default 96h:
	// Mastercard retries daily for three days, so a last retry can land just
	// after 72h; the margin covers it.
	DedupHorizon time.Duration
	// Aliases maps alternative provider names to canonical ones
	// (`mastercard` → `finicity`).
	Aliases map[string]string
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Ingest serves `POST /webhooks/{provider}` and
// `POST /webhooks/{provider}/{source}`. It is safe for concurrent use.
type Ingest struct {
	opts    IngestOptions
	sources map[string]*Source // "provider/name"
	log     EventAppender
	idx     IDIndex
	logger  *slog.Logger
	reqIDs  requestIDs
	bufs    sync.Pool
	ready   *atomic.Bool // nil: always ready
	lag     *lagWatch    // nil: no lag guard
}

// NewIngest returns the webhook handler.
func NewIngest(sources []*Source, log EventAppender, idx IDIndex, logger *slog.Logger, opts IngestOptions) (*Ingest, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.AppendTimeout <= 0 {
		opts.AppendTimeout = 5 * time.Second
	}
	if opts.DedupHorizon <= 0 {
		opts.DedupHorizon = 96 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	in := &Ingest{opts: opts, sources: map[string]*Source{}, log: log, idx: idx, logger: logger}
	in.bufs.New = func() any { return new(bytes.Buffer) }
	for _, s := range sources {
		key := s.Provider + "/" + s.Name
		if _, dup := in.sources[key]; dup {
			return nil, fmt.Errorf("source %s defined twice", key)
		}
		in.sources[key] = s
	}
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
// otherwise redirect to the cleaned path: a provider's POST is never
// redirected, so that what it is configured with is what is served.
func (in *Ingest) guardPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if c := path.Clean(p); c == "/webhooks" || strings.HasPrefix(c, "/webhooks/") && c != p {
			in.notFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (in *Ingest) notFound(w http.ResponseWriter, r *http.Request) {
	reqID := in.reqIDs.from(r.Header.Get("X-Request-Id"))
	w.Header().Set("X-Request-Id", reqID)
	writeError(w, reqID, webhookError{http.StatusNotFound, codeNotFound,
		"no webhook endpoint at this path; use /webhooks/{provider} or /webhooks/{provider}/{source}"})
}

func (in *Ingest) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	reqID := in.reqIDs.from(r.Header.Get("X-Request-Id"))
	w.Header().Set("X-Request-Id", reqID)
	w.Header().Set("Allow", http.MethodPost)
	writeError(w, reqID, webhookError{http.StatusMethodNotAllowed, codeMethodNotAllowed, "webhooks are delivered with POST"})
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
	reqID := in.reqIDs.from(r.Header.Get("X-Request-Id"))
	w.Header().Set("X-Request-Id", reqID)
	provider := r.PathValue("provider")
	if canon, ok := in.opts.Aliases[provider]; ok {
		provider = canon
	}
	name := r.PathValue("source")
	if name == "" {
		name = "default"
	}
	src, ok := in.sources[provider+"/"+name]
	if !ok {
		code, reason := codeUnknownSource, "no source named "+strconv.Quote(name)+" for this provider"
		if !in.knownProvider(provider) {
			code, reason = codeUnknownProvider, "unknown provider"
		}
		// Logged (a provider pointed at the wrong URL shows up here) but not
		// counted: the metric's labels are configured sources only.
		in.logger.Info("webhook_rejected", "request_id", reqID, "provider", clip(provider), "source", clip(name),
			"status", http.StatusNotFound, "code", code)
		writeError(w, reqID, webhookError{http.StatusNotFound, code, reason})
		return
	}
	if reason := in.notAccepting(); reason != "" {
		src.stats.rejected[rejectIndex(codeUnavailable)].Add(1)
		writeError(w, reqID, webhookError{http.StatusServiceUnavailable, codeUnavailable, reason})
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
		e := classify(err)
		src.stats.rejected[rejectIndex(e.code)].Add(1)
		in.logger.Log(r.Context(), logLevel(e.status), "webhook_rejected", "request_id", reqID, "provider", provider,
			"source", name, "status", e.status, "code", e.code, "reason", e.reason, "error", err.Error())
		writeError(w, reqID, e)
		return
	}
	src.stats.accepted.Add(1)
	if res.Ping {
		src.stats.pings.Add(1)
	} else if res.Duplicate {
		src.stats.duplicates.Add(1)
	}
	if in.logger.Enabled(r.Context(), slog.LevelDebug) {
		in.logger.Debug("webhook_accepted", "request_id", reqID, "provider", provider, "source", name,
			"events", len(res.Events), "duplicate", res.Duplicate, "ping", res.Ping, "duration", in.opts.Now().Sub(start))
	}
	writeJSON(w, http.StatusOK, res)
}

// notAccepting says why deliveries get 503 before they are read, or "". In
// both cases de-duplication could miss a retry, so the provider retries
// later instead.
func (in *Ingest) notAccepting() string {
	switch {
	case in.ready != nil && !in.ready.Load():
		// The index has not yet caught up with the log as it was at start.
		return "starting: index catching up with the log; retry later"
	case in.lag != nil && in.lag.lagging.Load():
		// The index is further behind the log than JetStream's duplicate
		// window reaches: a retry could slip between the two tiers.
		return "index lagging behind the log; retry later"
	}
	return ""
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
	if err := src.Adapter.Verify(d); err != nil {
		return nil, err
	}
	norm, err := src.Adapter.Normalize(d)
	if err != nil {
		return nil, err
	}
	for _, ev := range norm.Events {
		if err := checkIdentity(ev); err != nil {
			return nil, err
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
		ae, err := in.store(ctx, ev)
		if err != nil {
			return nil, err
		}
		out.Duplicate = out.Duplicate && ae.Duplicate
		out.Events = append(out.Events, ae)
		if !ae.Duplicate {
			src.stats.events.Add(1)
			if ev.GetType() == hooklinev1.EventType_EVENT_TYPE_UNMAPPED {
				src.stats.unmapped.Add(1)
			}
		}
	}
	return out, nil
}

// store appends one event unless it is already stored: first the long
// horizon index, then JetStream's own duplicate window, which also settles
// concurrent copies atomically.
func (in *Ingest) store(ctx context.Context, ev *hooklinev1.Event) (AcceptedEvent, error) {
	ae := AcceptedEvent{ID: ev.GetId(), Type: ev.GetType().String()}
	entry, err := in.idx.Recent(ev.GetId(), in.opts.Now().Add(-in.opts.DedupHorizon))
	switch {
	case err == nil:
		ae.Sequence, ae.Duplicate = entry.Sequence, true
		return ae, nil
	case !errors.Is(err, index.ErrNotFound):
		return ae, fmt.Errorf("dedup lookup: %w", err)
	}
	res, err := in.log.Append(ctx, ev)
	if err != nil {
		return ae, err
	}
	ae.Sequence, ae.Duplicate = res.Sequence, res.Duplicate
	if in.lag != nil {
		in.lag.saw(res.Sequence)
	}
	return ae, nil
}

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
