package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const tailUsage = `
Usage:
  hookline tail [flags]

Subscribe: prints matching events as they arrive, in log order, until you
stop it (Ctrl-C). On a terminal each event is one readable line (receive time,
sequence, provider, type, subject, status or stage); otherwise, or with
--json, one JSON object per line (protojson of the Event).

Where to start (at most one; default: new events only):
  --after N      events after sequence N (a cursor: the last sequence you saw)
  --since TIME   events received since TIME: RFC 3339 (2026-01-02T15:04:05Z)
                 or a duration back from now (10m, 2h)
  --from-start   every event the gateway still holds

tail reconnects by itself (backoff up to 5s) when the connection drops or the
gateway restarts, and resumes after the last sequence it saw (events and
bookmarks), so nothing is missed or repeated. When it stops it prints the last
sequence to stderr, as the command that resumes:
  resume with: hookline tail --after 42
A cursor older than the gateway's retention fails with CURSOR_EXPIRED (exit
code 3), naming the earliest sequence the gateway still holds.

Examples:
  hookline tail
  hookline tail --from-start --provider finicity --event-type SESSION_COMPLETED
  hookline tail --order-id ddd192646b3c48be96651a0ff25cef85 --since 1h
  hookline tail --after 42 --json | jq -r .type
  HOOKLINE_ADDR=gateway:9090 HOOKLINE_TOKEN=... hookline tail --tls`

// Reconnect backoff of tail.
const (
	tailFirstBackoff = 250 * time.Millisecond
	tailMaxBackoff   = 5 * time.Second
)

// errNoFirstFrame is a connection that sent nothing within --timeout.
var errNoFirstFrame = errors.New("no frame within --timeout")

// runTail is `hookline tail`.
func runTail(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", tailUsage, stderr)
	conn := addConnFlags(fs, getenv)
	filter := addFilterFlags(fs)
	after := fs.Uint64("after", 0, "start after sequence `N` (a cursor from an event or the resume line)")
	since := fs.String("since", "", "start at events received since `TIME`: RFC 3339, or a duration back from now (10m)")
	fromStart := fs.Bool("from-start", false, "start at the earliest event the gateway holds")
	asJSON := fs.Bool("json", false, "print JSON lines (same as --format json)")
	format := fs.String("format", "auto", "text (one readable line per event), json (protojson lines), or auto: text on a terminal, json otherwise")
	bookmarks := fs.Duration("bookmark-interval", 0, "how often the gateway sends progress bookmarks (tail resumes from them); 0: the gateway's default (15s)")
	pos, err := parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("tail takes no arguments, got %q", pos)
	}
	afterSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "after" {
			afterSet = true
		}
	})
	starts := 0
	for _, set := range []bool{afterSet, *since != "", *fromStart} {
		if set {
			starts++
		}
	}
	if starts > 1 {
		return usageErrorf("--after, --since and --from-start are alternatives: give at most one")
	}
	f, err := filter.filter()
	if err != nil {
		return err
	}
	req := &hooklinev1.SubscribeRequest{Filter: f}
	if *bookmarks > 0 {
		req.BookmarkInterval = durationpb.New(*bookmarks)
	}
	t := &tailer{conn: conn, stderr: stderr, filterArgs: filter.args(), filterDesc: describeFilter(f)}
	switch {
	case afterSet:
		req.Start = &hooklinev1.SubscribeRequest_AfterSequence{AfterSequence: *after}
		t.last, t.haveCursor = *after, true
		t.startDesc = fmt.Sprintf("after sequence %d", *after)
	case *since != "":
		at, err := parseSince(*since, time.Now())
		if err != nil {
			return err
		}
		req.Start = &hooklinev1.SubscribeRequest_StartTime{StartTime: timestamppb.New(at)}
		t.startDesc = "received since " + at.Format(time.RFC3339)
	case *fromStart:
		req.Start = &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_EARLIEST}
		t.startDesc = "from the earliest event held"
	default:
		t.startDesc = "new events only"
	}
	t.req = req
	switch {
	case *asJSON || *format == "json":
	case *format == "text" || *format == "auto" && isTerminal(stdout):
		t.text = true
	case *format != "auto":
		return usageErrorf("--format must be auto, text or json, not %q", *format)
	}
	t.stdout = stdout
	return t.run(ctx)
}

// parseSince reads --since: an RFC 3339 time, or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, usageErrorf("--since %q: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration back from now (10m)", s)
	}
	return now.Add(-d), nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// tailer is one `hookline tail`: it owns the subscription, reopening it
// after the last sequence seen until ctx ends.
type tailer struct {
	conn                  *connFlags
	req                   *hooklinev1.SubscribeRequest
	stdout, stderr        io.Writer
	text                  bool
	filterArgs            []string
	filterDesc, startDesc string

	// last is the last sequence seen (an event's or a bookmark's), valid
	// when haveCursor.
	last       uint64
	haveCursor bool
}

// run subscribes until ctx ends or an error no reconnect can cure.
func (t *tailer) run(ctx context.Context) error {
	cc, client, err := t.conn.dial()
	if err != nil {
		return err
	}
	defer cc.Close()
	backoff := tailFirstBackoff
	connected := false
	for attempt := 0; ; attempt++ {
		got, err := t.once(ctx, client, attempt)
		if got {
			connected, backoff = true, tailFirstBackoff
		}
		if ctx.Err() != nil {
			t.printResume()
			return nil
		}
		if !connected || !isRetryable(err) {
			err = t.conn.describe(err, "", t.resumeCommand)
			if exitCode(err) != exitExpired {
				t.printResume()
			}
			return err
		}
		wait := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		fmt.Fprintf(t.stderr, "tail: %v; reconnecting in %s\n", t.conn.describe(err, "", nil), wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			t.printResume()
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, tailMaxBackoff)
	}
}

// once runs one subscription until it fails; got says whether any frame
// arrived.
func (t *tailer) once(ctx context.Context, client hooklinev1.EventServiceClient, attempt int) (got bool, err error) {
	ctx, cancel := context.WithCancel(t.conn.outgoing(ctx))
	defer cancel()
	req := proto.Clone(t.req).(*hooklinev1.SubscribeRequest)
	if t.haveCursor {
		req.Start = &hooklinev1.SubscribeRequest_AfterSequence{AfterSequence: t.last}
	}
	// --timeout bounds the wait for the first frame only: the timer stops
	// when one arrives. Had it fired just before, the stream ends as a
	// timeout, which is retried from the cursor.
	var timedOut atomic.Bool
	var timer *time.Timer
	if t.conn.timeout > 0 {
		timer = time.AfterFunc(t.conn.timeout, func() {
			timedOut.Store(true)
			cancel()
		})
		defer timer.Stop()
	}
	stream, err := client.Subscribe(ctx, req)
	for err == nil {
		var resp *hooklinev1.SubscribeResponse
		if resp, err = stream.Recv(); err != nil {
			break
		}
		if !got {
			got = true
			if timer != nil {
				timer.Stop()
			}
			t.announce(attempt)
		}
		switch f := resp.GetFrame().(type) {
		case *hooklinev1.SubscribeResponse_Event:
			ev := f.Event
			if t.haveCursor && ev.GetSequence() <= t.last {
				continue // already printed (never expected: the gateway resumes after the cursor)
			}
			if err = t.print(ev); err != nil {
				return got, err
			}
			t.last, t.haveCursor = ev.GetSequence(), true
		case *hooklinev1.SubscribeResponse_Bookmark:
			if seq := f.Bookmark.GetSequence(); !t.haveCursor || seq > t.last {
				t.last, t.haveCursor = seq, true
			}
		}
	}
	if timedOut.Load() && ctx.Err() != nil {
		return got, fmt.Errorf("no answer from the gateway at %s within --timeout %s: %w", t.conn.addr, t.conn.timeout, errNoFirstFrame)
	}
	return got, err
}

// announce tells stderr that a connection delivers.
func (t *tailer) announce(attempt int) {
	if attempt == 0 {
		fmt.Fprintf(t.stderr, "tail: connected to %s; following %s, %s\n", t.conn.addr, t.filterDesc, t.startDesc)
		return
	}
	fmt.Fprintf(t.stderr, "tail: reconnected to %s; resuming after sequence %d\n", t.conn.addr, t.last)
}

// print writes one event to stdout.
func (t *tailer) print(ev *hooklinev1.Event) error {
	if t.text {
		_, err := io.WriteString(t.stdout, formatEventLine(ev)+"\n")
		return err
	}
	b, err := protojson.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(t.stdout, "%s\n", b)
	return err
}

// resumeCommand is the tail command line that starts after cursor.
func (t *tailer) resumeCommand(after uint64) string {
	return strings.Join(append([]string{"hookline tail --after", strconv.FormatUint(after, 10)}, t.filterArgs...), " ")
}

// printResume writes where to resume to stderr.
func (t *tailer) printResume() {
	if !t.haveCursor {
		fmt.Fprintln(t.stderr, "tail: no event or bookmark received: nothing to resume from")
		return
	}
	fmt.Fprintf(t.stderr, "tail: last sequence %d; resume with: %s\n", t.last, t.resumeCommand(t.last))
}

// formatEventLine is the terminal form of an event: receive time, sequence,
// provider (and source when not the default), type, subject and the
// status or stage.
func formatEventLine(ev *hooklinev1.Event) string {
	provider := strings.ToLower(strings.TrimPrefix(ev.GetProvider().String(), "PROVIDER_"))
	if s := ev.GetSource(); s != "" && s != "default" {
		provider += "/" + s
	}
	typ := strings.TrimPrefix(ev.GetType().String(), "EVENT_TYPE_")
	subject := ev.GetSubject()
	if subject == "" {
		subject = "-"
	}
	return strings.TrimRight(fmt.Sprintf("%s  #%-6d %-16s %-32s %-36s %s",
		ev.GetReceiveTime().AsTime().Local().Format("2006-01-02 15:04:05"), ev.GetSequence(), provider, typ, subject, eventState(ev)), " ")
}

// eventState is the status or stage part of formatEventLine.
func eventState(ev *hooklinev1.Event) string {
	unified := func(v fmt.Stringer, prefix, raw string) string {
		s := strings.TrimPrefix(v.String(), prefix)
		if strings.HasSuffix(s, "UNSPECIFIED") {
			return ""
		}
		if s == "UNKNOWN" && raw != "" {
			s += " (" + raw + ")"
		}
		return s
	}
	change := func(label, from, to string) string {
		switch {
		case to == "":
			return ""
		case from == "":
			return label + " " + to
		}
		return label + " " + from + " → " + to
	}
	switch b := ev.GetBody().(type) {
	case *hooklinev1.Event_Order:
		o := b.Order
		if ev.GetType() == hooklinev1.EventType_EVENT_TYPE_ORDER_PROCESSING_STATUS_CHANGED {
			return change("processing", unified(o.GetPreviousProcessingStatus(), "ORDER_STATUS_", o.GetRawPreviousProcessingStatus()),
				unified(o.GetProcessingStatus(), "ORDER_STATUS_", o.GetRawProcessingStatus()))
		}
		return change("status", unified(o.GetPreviousStatus(), "ORDER_STATUS_", o.GetRawPreviousStatus()),
			unified(o.GetStatus(), "ORDER_STATUS_", o.GetRawStatus()))
	case *hooklinev1.Event_Session:
		if r := b.Session.GetReport(); r != nil {
			return change("report", "", r.GetStatus())
		}
		return change("stage", "", unified(b.Session.GetStage(), "SESSION_STAGE_", b.Session.GetRawStatus()))
	case *hooklinev1.Event_Unmapped:
		return "unmapped: " + strings.TrimPrefix(b.Unmapped.GetReason().String(), "UNMAPPED_REASON_") + " (" + ev.GetProviderEventType() + ")"
	}
	return ""
}
