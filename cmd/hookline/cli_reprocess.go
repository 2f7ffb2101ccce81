package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const reprocessUsage = `
Usage:
  hookline reprocess [flags]

Runs stored deliveries through the gateway's current provider mappings and
appends a corrected event wherever the result differs (an unmapped event that
the mapping now knows, an UNKNOWN status it now reads). The log is never
rewritten: each corrected event names the event it supersedes (supersedes_id)
and is marked derived. Running it again appends nothing.

It needs an admin token (--admin-token or HOOKLINE_ADMIN_TOKEN: one of the
gateway's HOOKLINE_ADMIN_TOKENS); read-API tokens are refused.

Progress goes to stderr: a bar with the rate and an estimate on a terminal,
one line a second otherwise; the before/after of a few changed events and the
failures go to stdout. Interrupted (Ctrl-C, a dropped connection), it prints
the command that resumes where it stopped:
  resume with: hookline reprocess --after 1234 ...

Examples:
  hookline reprocess --dry-run --event-type UNMAPPED
  hookline reprocess --provider truv --since 72h
  hookline reprocess --mapping-version-below 2 --max-rate 200`

// runReprocess is `hookline reprocess`.
func runReprocess(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reprocess", reprocessUsage, stderr)
	conn := addConnFlags(fs, getenv)
	filter := addFilterFlags(fs)
	adminToken := fs.String("admin-token", getenv("HOOKLINE_ADMIN_TOKEN"), "admin `token` of the gateway [$HOOKLINE_ADMIN_TOKEN]")
	var sources stringList
	fs.Var(&sources, "source", "only events of this source `name` (repeatable)")
	after := fs.Uint64("after", 0, "only events after sequence `N` (resume an interrupted run)")
	upTo := fs.Uint64("up-to", 0, "only events up to sequence `N` (default: the log's end when the run starts)")
	since := fs.String("since", "", "only events received since `TIME`: RFC 3339 or a duration back from now (72h)")
	until := fs.String("until", "", "only events received before `TIME`: RFC 3339 or a duration back from now")
	below := fs.Uint("mapping-version-below", 0, "only events of a mapping version below `V` (default: below their provider's current one)")
	dryRun := fs.Bool("dry-run", false, "count and show what would change; append nothing")
	maxDiffs := fs.Int("max-diffs", 0, "before/after pairs to show (default 5, at most 100)")
	maxRate := fs.Int("max-rate", 0, "events per second at most (default and cap: the gateway's --reprocess-max-rate)")
	if _, err := parseCommand(fs, args); err != nil {
		return err
	}
	f, err := filter.filter()
	if err != nil {
		return err
	}
	req := &hooklinev1.ReprocessRequest{
		Filter: f, Sources: sources, AfterSequence: *after, UpToSequence: *upTo, MappingVersionBelow: uint32(*below),
		DryRun: *dryRun, MaxDiffs: int32(*maxDiffs), MaxRate: int32(*maxRate),
	}
	now := time.Now()
	for flagName, v := range map[string]*string{"--since": since, "--until": until} {
		if *v == "" {
			continue
		}
		t, err := parseSince(*v, now)
		if err != nil {
			return usageErrorf("%s: %v", flagName, err)
		}
		if flagName == "--since" {
			req.StartTime = timestamppb.New(t)
		} else {
			req.EndTime = timestamppb.New(t)
		}
	}
	if *adminToken == "" {
		return usageErrorf("reprocess needs an admin token: set HOOKLINE_ADMIN_TOKEN or --admin-token to one of the gateway's HOOKLINE_ADMIN_TOKENS")
	}
	cc, _, err := conn.dial()
	if err != nil {
		return err
	}
	defer cc.Close()
	r := &reprocessor{args: args, stdout: stdout, stderr: stderr, tty: isTerminal(stderr), start: time.Now(), reached: *after}
	st, err := hooklinev1.NewAdminServiceClient(cc).Reprocess(
		metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*adminToken), req)
	for err == nil {
		var resp *hooklinev1.ReprocessResponse
		if resp, err = st.Recv(); err == nil {
			r.frame(resp)
		}
	}
	r.endBar()
	if errors.Is(err, io.EOF) && r.last.GetDone() {
		fmt.Fprintf(stderr, "done: %s\n", r.counts())
		return nil
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the gateway ended the run before it was done")
	}
	if status.Code(err) == codes.Unauthenticated {
		err = fmt.Errorf("the gateway at %s refused the admin token: %s", conn.addr, status.Convert(err).Message())
	} else if ctx.Err() == nil {
		err = conn.describe(err, "events", nil)
	}
	if r.last != nil {
		fmt.Fprintf(stderr, "stopped at sequence %d (%s)\nresume with: %s\n", r.reached, r.counts(), r.resumeCommand())
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// reprocessor prints one run's frames.
type reprocessor struct {
	args           []string
	stdout, stderr io.Writer
	tty            bool
	start          time.Time
	last           *hooklinev1.ReprocessProgress
	reached        uint64
	lastLine       time.Time
	barShown       bool
}

func (r *reprocessor) frame(resp *hooklinev1.ReprocessResponse) {
	switch f := resp.GetFrame().(type) {
	case *hooklinev1.ReprocessResponse_Progress:
		r.last, r.reached = f.Progress, f.Progress.GetSequenceReached()
		r.progress()
	case *hooklinev1.ReprocessResponse_Diff:
		r.endBar()
		b, a := f.Diff.GetBefore(), f.Diff.GetAfter()
		verb := "corrected"
		if r.last.GetDryRun() || a.GetSequence() == 0 {
			verb = "would correct"
		}
		fmt.Fprintf(r.stdout, "%s #%d %s: %s %s → %s %s\n", verb, b.GetSequence(), b.GetId(),
			shortType(b.GetType()), eventState(b), shortType(a.GetType()), eventState(a))
	case *hooklinev1.ReprocessResponse_Failure:
		r.endBar()
		fmt.Fprintf(r.stdout, "failed #%d %s: %s\n", f.Failure.GetSequence(), f.Failure.GetEventId(), f.Failure.GetReason())
	}
}

func shortType(t hooklinev1.EventType) string { return strings.TrimPrefix(t.String(), "EVENT_TYPE_") }

// progress draws the bar (terminal) or prints a line at most every second.
func (r *reprocessor) progress() {
	p := r.last
	span := float64(max(p.GetLastSequence()+1, p.GetFirstSequence()) - p.GetFirstSequence())
	done := float64(max(p.GetSequenceReached()+1, p.GetFirstSequence()) - p.GetFirstSequence())
	frac := 1.0
	if span > 0 {
		frac = min(done/span, 1)
	}
	elapsed := time.Since(r.start)
	rate := float64(p.GetScanned()) / max(elapsed.Seconds(), 0.001)
	eta := "—"
	if frac > 0 && frac < 1 {
		eta = (time.Duration(float64(elapsed)*(1-frac)/frac) + time.Second/2).Truncate(time.Second).String()
	}
	line := fmt.Sprintf("%3.0f%% seq %d/%d  %.0f events/s  eta %s  %s", 100*frac, p.GetSequenceReached(), p.GetLastSequence(), rate, eta, r.counts())
	if r.tty {
		const width = 24
		n := int(frac * width)
		fmt.Fprintf(r.stderr, "\r[%s%s] %s\x1b[K", strings.Repeat("#", n), strings.Repeat(".", width-n), line)
		r.barShown = true
		return
	}
	if time.Since(r.lastLine) >= time.Second || p.GetDone() {
		r.lastLine = time.Now()
		fmt.Fprintln(r.stderr, line)
	}
}

// endBar ends the bar's line before other output.
func (r *reprocessor) endBar() {
	if r.barShown {
		fmt.Fprintln(r.stderr)
		r.barShown = false
	}
}

func (r *reprocessor) counts() string {
	p := r.last
	s := fmt.Sprintf("scanned %d, corrected %d, unchanged %d, failed %d", p.GetScanned(), p.GetCorrected(), p.GetUnchanged(), p.GetFailed())
	if p.GetDryRun() {
		s += " (dry run: nothing appended)"
	}
	return s
}

// resumeCommand is the command line that continues after the last
// sequence reached: the same flags, --after replaced, and no token (they
// come from the environment or are typed again; a command line printed to a
// terminal is no place for a secret).
func (r *reprocessor) resumeCommand() string {
	out := []string{"hookline", "reprocess", "--after", strconv.FormatUint(r.reached, 10)}
	for i := 0; i < len(r.args); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(r.args[i], "-"), "=")
		if strings.HasPrefix(r.args[i], "-") && (name == "after" || name == "admin-token" || name == "token") {
			if !hasValue {
				i++ // the value follows
			}
			continue
		}
		out = append(out, shellQuote(r.args[i]))
	}
	return strings.Join(out, " ")
}
