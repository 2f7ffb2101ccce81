package eventlog

import (
	"context"
	"errors"
	"fmt"
	"github.com/hookline/hookline/internal/testkit"
	"strings"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func testEvent(id string, p hooklinev1.Provider, subject string) *hooklinev1.Event {
	return &hooklinev1.Event{
		Id: id, Provider: p, Source: "default", Subject: subject,
		Type: hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED,
		Body: &hooklinev1.Event_Order{Order: &hooklinev1.OrderEvent{OrderId: subject}},
	}
}

func openTest(t *testing.T, dir string) *Log {
	t.Helper()
	l, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAppendDuplicateReadRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openTest(t, dir)
	for i := range 10 {
		p := hooklinev1.Provider_PROVIDER_TRUV
		if i%2 == 1 {
			p = hooklinev1.Provider_PROVIDER_SWYFT
		}
		res, err := l.Append(ctx, testEvent(fmt.Sprintf("evt_%d", i), p, fmt.Sprintf("order.%d *>", i%3)))
		if err != nil {
			t.Fatal(err)
		}
		if res.Sequence != uint64(i+1) || res.Duplicate {
			t.Fatalf("append %d = %+v", i, res)
		}
	}
	dup, err := l.Append(ctx, testEvent("evt_3", hooklinev1.Provider_PROVIDER_SWYFT, "order.0 *>"))
	if err != nil || !dup.Duplicate || dup.Sequence != 4 {
		t.Fatalf("duplicate append = %+v, %v; want duplicate of 4", dup, err)
	}

	var got []uint64
	filter := FilterSubjects(l.SubjectPrefix(), "swyft", "", "", "")
	last, err := l.Read(ctx, Start{AfterSequence: 3}, filter, 100, func(ev *hooklinev1.Event) error {
		got = append(got, ev.GetSequence())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[4 6 8 10]" || last != 10 {
		t.Fatalf("filtered read = %v last %d, want [4 6 8 10] last 10", got, last)
	}
	got = nil
	keyFilter := FilterSubjects(l.SubjectPrefix(), "", "order", "", "order.1 *>")
	if _, err := l.Read(ctx, Start{}, keyFilter, 100, func(ev *hooklinev1.Event) error {
		got = append(got, ev.GetSequence())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[2 5 8]" {
		t.Fatalf("key read = %v, want [2 5 8]", got)
	}
	none, err := l.Read(ctx, Start{AfterSequence: 2}, FilterSubjects(l.SubjectPrefix(), "finicity", "", "", ""), 100, func(*hooklinev1.Event) error {
		t.Error("no finicity events expected")
		return nil
	})
	if err != nil || none != 10 {
		t.Fatalf("empty filtered read = %d, %v; want 10", none, err)
	}
	l.Close()

	l = openTest(t, dir)
	defer l.Close()
	first, lastSeq, err := l.Bounds(ctx)
	if err != nil || first != 1 || lastSeq != 10 {
		t.Fatalf("bounds after restart = %d..%d, %v", first, lastSeq, err)
	}
	st, err := l.StreamStats(ctx)
	if err != nil || st.Messages != 10 || st.FirstSeq != 1 || st.LastSeq != 10 || st.Bytes == 0 || st.Subjects == 0 {
		t.Fatalf("stream stats after restart = %+v, %v; want 10 messages, 1..10, some bytes and subjects", st, err)
	}
	ev, err := l.Get(ctx, 7)
	if err != nil || ev.GetId() != "evt_6" || ev.GetSequence() != 7 {
		t.Fatalf("Get(7) = %v, %v", ev, err)
	}
	if _, err := l.Get(ctx, 99); err != ErrNotFound {
		t.Fatalf("Get(99) err = %v, want ErrNotFound", err)
	}
	got = nil
	if _, err := l.Read(ctx, Start{Time: time.Now().Add(-time.Hour)}, nil, 3, func(ev *hooklinev1.Event) error {
		got = append(got, ev.GetSequence())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("time read up to 3 = %v", got)
	}
}

func TestEscapeToken(t *testing.T) {
	tests := map[string]string{
		"":                                 "%",
		"ddd192646b3c48be96651a0ff25cef85": "ddd192646b3c48be96651a0ff25cef85",
		"a.b":                              "a%2Eb",
		"x*y>z":                            "x%2Ay%3Ez",
		"with space":                       "with%20space",
		"100%":                             "100%25",
		"6030781868/sess-1":                "6030781868%2Fsess-1",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := EscapeToken(in); got != want {
				t.Errorf("EscapeToken(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func FuzzEscapeToken(f *testing.F) {
	for _, s := range []string{"", "a.b", "%", "%25", "x y", "ü"} {
		f.Add(s, s+".")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := EscapeToken(a), EscapeToken(b)
		if a != b && ea == eb {
			t.Fatalf("EscapeToken(%q) == EscapeToken(%q) == %q", a, b, ea)
		}
		for i := 0; i < len(ea); i++ {
			if c := ea[i]; c == '.' || c == '*' || c == '>' || c <= ' ' || c >= 0x7f {
				t.Fatalf("EscapeToken(%q) = %q has byte %q", a, ea, c)
			}
		}
	})
}

// TestReadByTimeWithSeveralFilters is a regression test for a nats-server
// behaviour: a consumer that starts by time with several filter subjects
// skips matching messages of a filter whose first message is older than the
// start time. Read must deliver every matching event at or after the time.
func TestReadByTimeWithSeveralFilters(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir())
	defer l.Close()
	add := func(id string, p hooklinev1.Provider, subject string) {
		if _, err := l.Append(ctx, testEvent(id, p, subject)); err != nil {
			t.Fatal(err)
		}
	}
	add("a1", hooklinev1.Provider_PROVIDER_TRUV, "A") // before the start time
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	add("a2", hooklinev1.Provider_PROVIDER_TRUV, "A") // the one the server would skip
	add("b1", hooklinev1.Provider_PROVIDER_SWYFT, "B")
	add("b2", hooklinev1.Provider_PROVIDER_SWYFT, "B")
	filters := append(FilterSubjects(l.SubjectPrefix(), "", "order", "", "A"), FilterSubjects(l.SubjectPrefix(), "", "order", "", "B")...)
	var got []string
	if _, err := l.Read(ctx, Start{Time: start}, filters, 100, func(ev *hooklinev1.Event) error {
		got = append(got, ev.GetId())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a2 b1 b2]" {
		t.Fatalf("read by time = %v, want [a2 b1 b2]", got)
	}
}

// TestListenForClients: with Listen set, the embedded server accepts NATS
// clients over TCP (e.g. the nats CLI) that present the token, and they see
// the stream; a client without it is refused, and there is no listener
// without a token at all.
func TestListenForClients(t *testing.T) {
	if l, err := Open(context.Background(), Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"}); err == nil {
		l.Close()
		t.Fatal("Open listened without a client token")
	}
	const token = "listen-test-token"
	l, err := Open(context.Background(), Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0", ListenToken: token})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(context.Background(), testEvent("evt_x", hooklinev1.Provider_PROVIDER_TRUV, "o")); err != nil {
		t.Fatal(err)
	}
	url := l.ClientURL()
	if url == "" {
		t.Fatal("no client URL")
	}
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("a client without the token was accepted")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("client without the token: %v, want an authorization error", err)
	}
	// The token in the URL, the form the nats CLI's --server takes.
	nc, err := nats.Connect(strings.Replace(url, "nats://", "nats://"+token+"@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), "HOOKLINE_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(context.Background()); err != nil || info.State.Msgs != 1 {
		t.Fatalf("stream info = %v, %v", info, err)
	}
}

// TestAppendFailsAtOnceWhileDisconnected: with the connection to an
// external cluster down, Append fails at once instead of leaving the event
// in the client's reconnect buffer, from where it would reach the stream
// after the reconnect, long after its delivery was answered 503.
func TestAppendFailsAtOnceWhileDisconnected(t *testing.T) {
	ns := testkit.StartNATS(t, 0, nil)
	ctx := context.Background()
	l, err := Open(ctx, Options{URL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.current().nc.Close()
	if _, err := l.Append(ctx, testEvent("evt_before", hooklinev1.Provider_PROVIDER_TRUV, "o")); err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	testkit.WaitFor(t, 10*time.Second, "the client to be RECONNECTING", func() bool { return l.current().nc.Status() == nats.RECONNECTING })
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = l.Append(actx, testEvent("evt_during", hooklinev1.Provider_PROVIDER_TRUV, "o"))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append while disconnected: %v, want ErrUnavailable", err)
	}
	if actx.Err() != nil {
		t.Fatalf("Append waited for its deadline (%v): the event was kept for after the reconnect", err)
	}
}

// TestRetentionByAgeAndSize: the stream drops its oldest events once they
// are older than MaxAge, or once the stream holds more than MaxBytes; the
// first sequence moves forward and later events keep their sequences.
func TestRetentionByAgeAndSize(t *testing.T) {
	ctx := context.Background()
	t.Run("age", func(t *testing.T) {
		l, err := Open(ctx, Options{DataDir: t.TempDir(), MaxAge: time.Second, DuplicateWindow: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for i := range 3 {
			if _, err := l.Append(ctx, testEvent(fmt.Sprintf("evt_age_%d", i), hooklinev1.Provider_PROVIDER_TRUV, "o")); err != nil {
				t.Fatal(err)
			}
		}
		testkit.WaitFor(t, 10*time.Second, "the events to age out", func() bool {
			first, last, err := l.Bounds(ctx)
			return err == nil && first > 3 && last == 3
		})
		res, err := l.Append(ctx, testEvent("evt_age_3", hooklinev1.Provider_PROVIDER_TRUV, "o"))
		if err != nil || res.Sequence != 4 {
			t.Fatalf("append after expiry = %+v, %v; want sequence 4", res, err)
		}
	})
	t.Run("size", func(t *testing.T) {
		const limit = 8 << 10
		l, err := Open(ctx, Options{DataDir: t.TempDir(), MaxBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for i := range 200 {
			if _, err := l.Append(ctx, testEvent(fmt.Sprintf("evt_size_%d", i), hooklinev1.Provider_PROVIDER_TRUV, "o")); err != nil {
				t.Fatal(err)
			}
		}
		info, err := l.current().stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Bytes > limit || info.State.FirstSeq <= 1 || info.State.LastSeq != 200 {
			t.Fatalf("stream holds %d bytes, sequences %d..%d; want at most %d bytes ending at 200 with the oldest dropped",
				info.State.Bytes, info.State.FirstSeq, info.State.LastSeq, limit)
		}
		if _, err := l.Get(ctx, 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(1) after the size limit dropped it: %v, want ErrNotFound", err)
		}
	})
}

// Appends and reads go over two connections: the append connection gets
// nothing but its acknowledgements back, so no read can queue in front of
// them.
func TestTwoConnections(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir())
	defer l.Close()
	for i := range 5 {
		if _, err := l.Append(ctx, testEvent(fmt.Sprintf("evt_two_%d", i), hooklinev1.Provider_PROVIDER_TRUV, "o")); err != nil {
			t.Fatal(err)
		}
	}
	read := 0
	if _, err := l.Read(ctx, Start{}, nil, 5, func(*hooklinev1.Event) error { read++; return nil }); err != nil || read != 5 {
		t.Fatalf("Read: %d events, %v", read, err)
	}
	cz, err := l.ns.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conns := map[string]*server.ConnInfo{}
	for _, c := range cz.Conns {
		conns[c.Name] = c
	}
	app, rd := conns["hookline"], conns["hookline-reader"]
	if len(conns) != 2 || app == nil || rd == nil {
		t.Fatalf("connections %v, want hookline and hookline-reader", conns)
	}
	if app.InMsgs != 5 || app.OutMsgs != 5 {
		t.Errorf("append connection: %d messages in, %d out; want the 5 appends and their 5 acknowledgements", app.InMsgs, app.OutMsgs)
	}
	if rd.OutMsgs < 5 {
		t.Errorf("reader connection: %d messages out, want at least the 5 events read", rd.OutMsgs)
	}
}
