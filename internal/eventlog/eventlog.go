// Package eventlog is the gateway's source of truth: an append-only log of
// normalized events in a NATS JetStream stream.
//
// By default the NATS server runs embedded in the gateway process, storing
// files under the data directory, with no network listener. Given a URL it
// uses an external NATS cluster instead, so several gateway replicas share
// one (optionally replicated) stream.
//
// Guarantees: Append returns only after JetStream acknowledged the event;
// the stream's sequence is the event's position and never changes. Append
// de-duplicates on the event id within the stream's duplicate window (a
// short window; the long horizon is kept by internal/index). A Log is safe
// for concurrent use; Close releases it and, when embedded, stops the
// server last.
package eventlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// Errors callers can branch on.
var (
	// ErrUnavailable means the log could not be reached or did not answer in
	// time; the caller should retry later (the server answers 503).
	ErrUnavailable = errors.New("event log unavailable")
	// ErrNotFound means no event is stored at that sequence.
	ErrNotFound = errors.New("event not found")
)

// Options configure a Log. The zero value of every field but DataDir has a
// documented default.
type Options struct {
	// DataDir holds the embedded server's files (DataDir/jetstream). Required
	// when URL is empty.
	DataDir string
	// URL of an external NATS cluster; empty runs an embedded server.
	URL string
	// Server is an embedded NATS server the caller started with
	// StartEmbedded and owns: the log connects to it in process instead of
	// starting its own, and Close leaves it running. It lets a program (or a
	// test) share the server with other NATS clients of its own.
	Server *server.Server
	// CredsFile is a NATS credentials file for the external cluster.
	CredsFile string
	// Token, User and Password authenticate to the external cluster.
	Token, User, Password string
	// TLSCAFile holds the PEM certificates that verify the external
	// cluster's servers (a private CA); empty: the system's roots. Setting
	// it (or a client certificate) makes the connection use TLS.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are the client certificate and key the
	// external cluster may require (mutual TLS); both or neither.
	TLSCertFile, TLSKeyFile string
	// Listen makes the embedded server accept NATS clients on this host:port
	// (e.g. for the `nats` CLI). Empty: in-process connections only.
	Listen string
	// ListenToken is the token every client of the embedded server must
	// present when Listen is set; Open refuses to listen without one, as
	// anyone reaching the port could otherwise publish events that skipped
	// verification or delete the stream.
	ListenToken string
	// Stream is the stream name. Default DefaultStream.
	Stream string
	// SubjectPrefix is the subject prefix. Default DefaultSubjectPrefix.
	SubjectPrefix string
	// Replicas is the stream's replica count on an external cluster.
	// Default DefaultReplicas; the embedded server always uses 1.
	Replicas int
	// MaxAge bounds retention by age. Default DefaultMaxAge.
	MaxAge time.Duration
	// MaxBytes bounds retention by size; 0 means unlimited.
	MaxBytes int64
	// DuplicateWindow is JetStream's own de-duplication window on the event
	// id. Default DefaultDuplicateWindow.
	DuplicateWindow time.Duration
	// SyncInterval is how often the embedded server fsyncs its files.
	// Default DefaultSyncInterval. SyncAlways overrides it with an fsync
	// per append.
	SyncInterval time.Duration
	// SyncAlways fsyncs every append on the embedded server.
	SyncAlways bool
	// MaxBodyBytes is the largest raw delivery body the log must be able to
	// store in one event. The embedded server's max payload is sized from
	// it (PayloadFor); Open refuses an external cluster whose max_payload
	// cannot hold an event with a body this large (MinPayloadFor). Default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// shareConnection makes reads use the append connection, as before
	// they had their own: the baseline of BenchmarkAppendDuringCatchUp.
	shareConnection bool
}

// Defaults of Options.
const (
	// DefaultStream is the stream's name.
	DefaultStream = "HOOKLINE_EVENTS"
	// DefaultSubjectPrefix is the prefix of every event's subject.
	DefaultSubjectPrefix = "hookline.ev"
	// DefaultReplicas is the stream's replica count.
	DefaultReplicas = 1
	// DefaultMaxAge is how long the log keeps events: 30 days.
	DefaultMaxAge = 30 * 24 * time.Hour
	// DefaultDuplicateWindow is JetStream's own de-duplication window.
	DefaultDuplicateWindow = 30 * time.Second
	// DefaultSyncInterval is how often the embedded server fsyncs.
	DefaultSyncInterval = time.Second
)

func (o *Options) setDefaults() {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = DefaultSubjectPrefix
	}
	if o.URL == "" || o.Replicas <= 0 {
		o.Replicas = DefaultReplicas
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
}

// Log is the event log.
type Log struct {
	opts   Options
	ns     *server.Server // nil with an external cluster
	ownsNS bool           // ns was started by Open, and Close stops it
	// cur holds the connections in use. Two connections: appends on nc,
	// reads (the follower, subscribers' catch-up reads, lookups) on rnc. On
	// one shared connection, the acknowledgements of appends queue behind
	// the messages a large read is being sent, in the server's outbound
	// buffer and in the client's read loop: BenchmarkAppendDuringCatchUp
	// measured append p50 about 5 times higher while a subscriber caught up.
	//
	// A connection the NATS client closes for good (it does so on some
	// server errors, where it does not reconnect) is replaced by the
	// reopener goroutine; until then Check reports the log unavailable and
	// calls on it fail with ErrUnavailable.
	cur atomic.Pointer[conns]
	// maxPayload is the largest message the server accepts, from its INFO.
	maxPayload int64
	reopen     chan struct{} // capacity 1: a wake-up, not a queue
	stop       chan struct{} // closed by Close
	stopped    chan struct{} // closed when the reopener has returned
	closeOnce  sync.Once
}

// conns is one generation of the log's connections.
type conns struct {
	nc, rnc *nats.Conn
	js      jetstream.JetStream // on nc: appends
	stream  jetstream.Stream    // on rnc: everything else
}

// Open connects to (or starts) NATS and creates or updates the stream.
func Open(ctx context.Context, opts Options) (*Log, error) {
	opts.setDefaults()
	if err := checkBodyLimit(opts.MaxBodyBytes); err != nil {
		return nil, err
	}
	l := &Log{opts: opts, reopen: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	var err error
	switch {
	case opts.Server != nil:
		l.ns = opts.Server
	case opts.URL == "":
		if l.ns, err = StartEmbedded(opts); err != nil {
			return nil, err
		}
		l.ownsNS = true
	}
	c, err := l.dial(ctx, nil, true)
	if err != nil {
		l.shutdownServer()
		return nil, fmt.Errorf("open event log: %w", err)
	}
	l.cur.Store(c)
	l.maxPayload = c.nc.MaxPayload()
	if need := MinPayloadFor(opts.MaxBodyBytes); l.maxPayload < need {
		l.closeConns(c)
		l.shutdownServer()
		return nil, &PayloadLimitError{ServerMax: l.maxPayload, MaxBodyBytes: opts.MaxBodyBytes}
	}
	go l.reopener()
	return l, nil
}

// PayloadLimitError says that the NATS server's max_payload cannot hold an
// event carrying a body at the configured cap.
type PayloadLimitError struct {
	// ServerMax is the server's max_payload in bytes.
	ServerMax int64
	// MaxBodyBytes is the body cap the log was opened for.
	MaxBodyBytes int64
}

func (e *PayloadLimitError) Error() string {
	return fmt.Sprintf("the NATS server's max_payload is %d bytes, too small for events that carry a body of --max-body-bytes (%d): "+
		"they need at least %d bytes and up to %d; set max_payload to %d in the NATS server configuration, or lower --max-body-bytes to %d or less",
		e.ServerMax, e.MaxBodyBytes, MinPayloadFor(e.MaxBodyBytes), PayloadFor(e.MaxBodyBytes), PayloadFor(e.MaxBodyBytes),
		max(e.ServerMax-envelopeReserve, 0))
}

// dial opens the connections that are missing or closed in old (all of them
// when old is nil) and returns the new generation. create makes it create or
// update the stream; otherwise it looks the stream up.
func (l *Log) dial(ctx context.Context, old *conns, create bool) (c *conns, err error) {
	c = &conns{}
	if old != nil {
		*c = *old
	}
	var opened []*nats.Conn
	defer func() {
		if err != nil {
			for _, nc := range opened {
				nc.Close()
			}
		}
	}()
	if c.nc == nil || c.nc.IsClosed() {
		if c.nc, err = l.connect("hookline"); err != nil {
			return nil, fmt.Errorf("%w: connect to nats: %w", ErrUnavailable, err)
		}
		opened = append(opened, c.nc)
		if c.js, err = jetstream.New(c.nc, jetstream.WithPublishAsyncMaxPending(4096), jetstream.WithPublishAsyncTimeout(30*time.Second)); err != nil {
			return nil, fmt.Errorf("jetstream: %w", err)
		}
	}
	if l.opts.shareConnection {
		c.rnc = c.nc
	} else if c.rnc == nil || c.rnc.IsClosed() {
		if c.rnc, err = l.connect("hookline-reader"); err != nil {
			return nil, fmt.Errorf("%w: connect to nats: %w", ErrUnavailable, err)
		}
		opened = append(opened, c.rnc)
		c.stream = nil
	}
	if c.stream == nil || old == nil || (l.opts.shareConnection && len(opened) > 0) {
		rjs, err := jetstream.New(c.rnc)
		if err == nil {
			if create {
				c.stream, err = rjs.CreateOrUpdateStream(ctx, l.streamConfig())
			} else {
				c.stream, err = rjs.Stream(ctx, l.opts.Stream)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: stream %s: %w", ErrUnavailable, l.opts.Stream, err)
		}
	}
	return c, nil
}

// current returns the connections in use.
func (l *Log) current() *conns { return l.cur.Load() }

// Check reports whether both connections are up: nil, or an error wrapping
// ErrUnavailable that says which is not. A connection the client closed is
// being reopened; one that is reconnecting comes back by itself.
func (l *Log) Check() error {
	c := l.current()
	for _, x := range []struct {
		name string
		nc   *nats.Conn
	}{{"append", c.nc}, {"reader", c.rnc}} {
		switch st := x.nc.Status(); st {
		case nats.CONNECTED:
		case nats.CLOSED:
			l.kickReopen()
			return fmt.Errorf("%w: the %s connection to NATS was closed (%v); reopening it", ErrUnavailable, x.name, x.nc.LastError())
		default:
			return fmt.Errorf("%w: the %s connection to NATS is %s", ErrUnavailable, x.name, strings.ToLower(st.String()))
		}
	}
	return nil
}

func (l *Log) kickReopen() {
	select {
	case l.reopen <- struct{}{}:
	default:
	}
}

// reopener replaces connections the NATS client closed for good, with a
// backoff, until Close.
func (l *Log) reopener() {
	defer close(l.stopped)
	backoff := reopenMinBackoff
	for {
		select {
		case <-l.stop:
			return
		case <-l.reopen:
		}
		for {
			old := l.current()
			if !old.nc.IsClosed() && !old.rnc.IsClosed() {
				backoff = reopenMinBackoff
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, err := l.dial(ctx, old, false)
			cancel()
			if err == nil {
				l.cur.Store(c)
				backoff = reopenMinBackoff
				break
			}
			select {
			case <-l.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, reopenMaxBackoff)
		}
	}
}

// Backoff between attempts to reopen a closed connection.
const (
	reopenMinBackoff = 100 * time.Millisecond
	reopenMaxBackoff = 5 * time.Second
)

// connect opens one connection to the embedded server (in-process) or to
// the external cluster. When the client closes it for good, the reopener
// is woken.
func (l *Log) connect(name string) (*nats.Conn, error) {
	onClosed := nats.ClosedHandler(func(*nats.Conn) { l.kickReopen() })
	if l.ns != nil {
		co := []nats.Option{nats.InProcessServer(l.ns), nats.Name(name), nats.MaxReconnects(-1), noReconnectBuffer, onClosed}
		if l.opts.ListenToken != "" {
			co = append(co, nats.Token(l.opts.ListenToken))
		}
		return nats.Connect("", co...)
	}
	return nats.Connect(l.opts.URL, append(l.connectOptions(name), onClosed)...)
}

// noReconnectBuffer makes a publish fail at once while the connection is
// down, instead of being kept and sent after the reconnect. A kept publish
// could reach the stream long after its delivery was answered 503 and
// retried, later than JetStream's duplicate window reaches; a failed one
// has a certain outcome.
var noReconnectBuffer = nats.ReconnectBufSize(-1)

func (l *Log) connectOptions(name string) []nats.Option {
	o := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(500 * time.Millisecond), noReconnectBuffer}
	switch {
	case l.opts.CredsFile != "":
		o = append(o, nats.UserCredentials(l.opts.CredsFile))
	case l.opts.Token != "":
		o = append(o, nats.Token(l.opts.Token))
	case l.opts.User != "":
		o = append(o, nats.UserInfo(l.opts.User, l.opts.Password))
	}
	if l.opts.TLSCAFile != "" {
		o = append(o, nats.RootCAs(l.opts.TLSCAFile))
	}
	if l.opts.TLSCertFile != "" || l.opts.TLSKeyFile != "" {
		o = append(o, nats.ClientCert(l.opts.TLSCertFile, l.opts.TLSKeyFile))
	}
	return o
}

func (l *Log) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        l.opts.Stream,
		Description: "hookline normalized webhook events",
		Subjects:    []string{l.opts.SubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      l.opts.MaxAge,
		MaxBytes:    nonZero(l.opts.MaxBytes),
		Storage:     jetstream.FileStorage,
		Replicas:    l.opts.Replicas,
		Duplicates:  l.opts.DuplicateWindow,
		AllowDirect: true,
	}
}

func nonZero(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// StartEmbedded starts the embedded NATS server Open starts for opts (with
// its defaults): JetStream with files under DataDir/jetstream, the max
// payload sized from MaxBodyBytes, no network listener unless Listen is
// set. The caller shuts it down after closing every Log that uses it.
func StartEmbedded(opts Options) (*server.Server, error) {
	opts.setDefaults()
	if err := checkBodyLimit(opts.MaxBodyBytes); err != nil {
		return nil, err
	}
	if opts.DataDir == "" {
		return nil, errors.New("embedded nats: data directory is required")
	}
	dir := filepath.Join(opts.DataDir, "jetstream")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	so := &server.Options{
		ServerName:   "hookline-embedded",
		JetStream:    true,
		StoreDir:     dir,
		NoSigs:       true,
		NoLog:        true,
		SyncInterval: opts.SyncInterval,
		SyncAlways:   opts.SyncAlways,
		MaxPayload:   int32(PayloadFor(opts.MaxBodyBytes)),
		// The server refuses a max payload above its max pending.
		MaxPending: max(PayloadFor(opts.MaxBodyBytes), defaultMaxPending),
	}
	if opts.Listen == "" {
		so.DontListen = true
	} else {
		if opts.ListenToken == "" {
			return nil, errors.New("embedded nats: a listener needs a client token")
		}
		so.Authorization = opts.ListenToken
		host, port, err := splitHostPort(opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats listen address: %w", err)
		}
		so.Host, so.Port = host, port
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready after 30s")
	}
	return ns, nil
}

// ClientURL returns the URL NATS clients can use to reach the embedded
// server, or "" when it does not listen (or the cluster is external).
func (l *Log) ClientURL() string {
	if l.ns == nil || l.opts.Listen == "" {
		return ""
	}
	return l.ns.ClientURL()
}

// SubjectPrefix returns the subject prefix events are stored under.
func (l *Log) SubjectPrefix() string { return l.opts.SubjectPrefix }

// Close stops reopening connections, closes them and then stops the
// embedded server, after it has flushed its files. It is safe to call more
// than once.
func (l *Log) Close() {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.stopped
		l.closeConns(l.current())
		l.shutdownServer()
	})
}

func (l *Log) closeConns(c *conns) {
	for _, nc := range []*nats.Conn{c.nc, c.rnc} {
		if nc != nil && !nc.IsClosed() {
			_ = nc.Drain()
			nc.Close()
		}
	}
}

func (l *Log) shutdownServer() {
	if l.ns != nil && l.ownsNS {
		l.ns.Shutdown()
		l.ns.WaitForShutdown()
	}
}

// AppendResult says where an event went.
type AppendResult struct {
	// Sequence is the event's position in the log (the existing position for
	// a duplicate).
	Sequence uint64
	// Duplicate is true when the event id was already in the stream's
	// duplicate window and nothing new was stored.
	Duplicate bool
}

// Append stores ev (with Sequence zero) and returns its position once
// JetStream acknowledged it. The event id is the de-duplication id.
func (l *Log) Append(ctx context.Context, ev *hooklinev1.Event) (AppendResult, error) {
	data, err := proto.Marshal(ev)
	if err != nil {
		return AppendResult{}, fmt.Errorf("marshal event: %w", err)
	}
	// The message's headers (the de-duplication id, the expected stream)
	// count towards the server's limit too.
	if size := int64(len(data)) + headerReserve; size > l.maxPayload {
		return AppendResult{}, &TooLargeError{Size: size, Limit: l.maxPayload}
	}
	msg := &nats.Msg{Subject: Subject(l.opts.SubjectPrefix, ev), Data: data, Header: nats.Header{}}
	// Asynchronous publish: concurrent appends share the connection's
	// pipeline of acknowledgements instead of one request/reply each. The
	// caller still waits for this message's own acknowledgement.
	fut, err := l.current().js.PublishMsgAsync(msg, jetstream.WithMsgID(ev.GetId()), jetstream.WithExpectStream(l.opts.Stream))
	if err != nil {
		return AppendResult{}, fmt.Errorf("%w: append: %w", ErrUnavailable, err)
	}
	select {
	case ack := <-fut.Ok():
		return AppendResult{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
	case err := <-fut.Err():
		return AppendResult{}, fmt.Errorf("%w: append: %w", ErrUnavailable, err)
	case <-ctx.Done():
		return AppendResult{}, fmt.Errorf("%w: append: %w", ErrUnavailable, ctx.Err())
	}
}

// Bounds returns the first and last sequence currently in the log. An empty
// log has last = first - 1.
func (l *Log) Bounds(ctx context.Context) (first, last uint64, err error) {
	info, err := l.current().stream.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: stream info: %w", ErrUnavailable, err)
	}
	return info.State.FirstSeq, info.State.LastSeq, nil
}

// StreamStats are the stream's figures as the server reports them.
type StreamStats struct {
	// Messages and Bytes are what the stream holds now.
	Messages, Bytes uint64
	// FirstSeq and LastSeq are its first and last sequences (0 when empty).
	FirstSeq, LastSeq uint64
	// Subjects is the number of distinct subjects in the stream.
	Subjects uint64
}

// StreamStats asks the server for the stream's figures.
func (l *Log) StreamStats(ctx context.Context) (StreamStats, error) {
	info, err := l.current().stream.Info(ctx)
	if err != nil {
		return StreamStats{}, fmt.Errorf("%w: stream info: %w", ErrUnavailable, err)
	}
	st := info.State
	return StreamStats{Messages: st.Msgs, Bytes: st.Bytes, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq, Subjects: st.NumSubjects}, nil
}

// Get returns the event stored at seq, with its Sequence set.
func (l *Log) Get(ctx context.Context, seq uint64) (*hooklinev1.Event, error) {
	m, err := l.current().stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: get %d: %w", ErrUnavailable, seq, err)
	}
	return decode(m.Data, m.Sequence)
}

func decode(data []byte, seq uint64) (*hooklinev1.Event, error) {
	ev := &hooklinev1.Event{}
	if err := proto.Unmarshal(data, ev); err != nil {
		return nil, fmt.Errorf("decode event %d: %w", seq, err)
	}
	ev.Sequence = seq
	return ev, nil
}

// Start says where a Read begins.
type Start struct {
	// AfterSequence starts after this sequence (0: from the first event).
	AfterSequence uint64
	// Time, when set, starts at the first event stored at or after it;
	// AfterSequence is then ignored.
	Time time.Time
}

// Read delivers stored events in log order to fn, starting at start and
// restricted to the filter subjects (none: all), until it has delivered the
// event at sequence upTo (or passed it), ctx ends or fn returns an error. It
// uses a short-lived ordered consumer; it returns the last sequence it
// passed, even when it delivered nothing.
func (l *Log) Read(ctx context.Context, start Start, filters []string, upTo uint64, fn func(*hooklinev1.Event) error) (uint64, error) {
	first, last, err := l.Bounds(ctx)
	if err != nil {
		return 0, err
	}
	if upTo > last {
		upTo = last
	}
	if upTo < first {
		return upTo, nil
	}
	if !start.Time.IsZero() {
		seq, found, err := l.seqAtTime(ctx, start.Time)
		if err != nil {
			return 0, err
		}
		if !found || seq > upTo {
			return upTo, nil
		}
		start = Start{AfterSequence: seq - 1}
	}
	pos := start.AfterSequence
	if pos >= upTo {
		return pos, nil
	}
	stream := l.current().stream
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    filters,
		InactiveThreshold: 30 * time.Second,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       max(pos+1, first),
	})
	if err != nil {
		return 0, fmt.Errorf("%w: consumer: %w", ErrUnavailable, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return max(pos, upTo), nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(readBatch, l.readBufferBytes()))
	if err != nil {
		return pos, fmt.Errorf("%w: messages: %w", ErrUnavailable, err)
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return pos, ctx.Err()
			}
			return pos, fmt.Errorf("%w: next: %w", ErrUnavailable, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return pos, fmt.Errorf("metadata: %w", err)
		}
		seq := md.Sequence.Stream
		if seq > upTo {
			return upTo, nil
		}
		ev, err := decode(m.Data(), seq)
		if err != nil {
			return pos, err
		}
		if err := fn(ev); err != nil {
			return pos, err
		}
		pos = seq
		if md.NumPending == 0 || seq == upTo {
			return max(pos, upTo), nil
		}
	}
}

// seqAtTime returns the sequence of the first event stored at or after t.
// It deliberately uses no filter subjects and the caller continues by
// sequence: nats-server 2.15.2 skips matching messages when a consumer that
// starts by time has several filter subjects (it jumps to the earliest
// filter whose first message follows the start time, ignoring filters whose
// first message is older but that still match later messages).
func (l *Log) seqAtTime(ctx context.Context, t time.Time) (uint64, bool, error) {
	stream := l.current().stream
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &t, HeadersOnly: true,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return 0, false, fmt.Errorf("%w: consumer: %w", ErrUnavailable, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return 0, false, nil
	}
	m, err := cons.Next(jetstream.FetchContext(ctx))
	if err != nil {
		return 0, false, fmt.Errorf("%w: next: %w", ErrUnavailable, err)
	}
	md, err := m.Metadata()
	if err != nil {
		return 0, false, fmt.Errorf("metadata: %w", err)
	}
	return md.Sequence.Stream, true, nil
}
