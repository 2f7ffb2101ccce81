package eventlog

import (
	"context"
	"errors"
	"fmt"
	"github.com/hookline/hookline/internal/testkit"
	"google.golang.org/protobuf/proto"
	"strings"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/nats-io/nats-server/v2/server"
)

// TestLongKeys is the regression test of a subject built from an unbounded
// id: a 5 000-character order id (or one full of characters that escape to
// three bytes) made a subject longer than the server's control line, the
// server closed the connection, and every later append failed with
// "connection closed". Keys of any length must be stored under a bounded
// subject, found again by their filter, and leave the log working.
func TestLongKeys(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir())
	defer l.Close()
	keys := map[string]string{
		"plain 5000":  strings.Repeat("a", 5000),
		"dots 2000":   strings.Repeat(".", 2000),
		"mixed 50000": strings.Repeat("ab.c/ü ", 50000/8),
	}
	for name, key := range keys {
		if _, err := l.Append(ctx, testEvent("evt_"+strings.ReplaceAll(name, " ", "_"), hooklinev1.Provider_PROVIDER_TRUV, key)); err != nil {
			t.Fatalf("%s: append: %v", name, err)
		}
		if s := Subject(l.SubjectPrefix(), testEvent("x", hooklinev1.Provider_PROVIDER_TRUV, key)); len(s) > MaxSubjectBytes {
			t.Errorf("%s: subject is %d bytes, more than MaxSubjectBytes %d", name, len(s), MaxSubjectBytes)
		}
	}
	if _, err := l.Append(ctx, testEvent("evt_after", hooklinev1.Provider_PROVIDER_TRUV, "ddd192646b3c48be96651a0ff25cef85")); err != nil {
		t.Fatalf("append after long keys: %v", err)
	}
	for name, key := range keys {
		var got []string
		filter := FilterSubjects(l.SubjectPrefix(), "", "order", "", key)
		if _, err := l.Read(ctx, Start{}, filter, 10, func(ev *hooklinev1.Event) error {
			if ev.GetSubject() == key { // a bucket holds other keys too
				got = append(got, ev.GetSubject())
			}
			return nil
		}); err != nil {
			t.Fatalf("%s: read by key: %v", name, err)
		}
		if len(got) != 1 || got[0] != key {
			t.Errorf("%s: read by key found %d events (want the one with the full key)", name, len(got))
		}
	}
	if err := l.Check(); err != nil {
		t.Errorf("Check after long keys: %v", err)
	}
}

// TestConnectionsComeBack closes the append and the reader connections under
// the log, as the NATS client does when the server sends an error it does
// not recover from: the log must say it is unhealthy while a connection is
// closed, and open it again by itself.
func TestConnectionsComeBack(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir())
	defer l.Close()
	if _, err := l.Append(ctx, testEvent("evt_1", hooklinev1.Provider_PROVIDER_TRUV, "o1")); err != nil {
		t.Fatal(err)
	}
	for _, which := range []string{"append", "reader"} {
		t.Run(which, func(t *testing.T) {
			c := l.current()
			nc := c.nc
			if which == "reader" {
				nc = c.rnc
			}
			nc.Close()
			if err := l.Check(); err == nil {
				// The log may already have reopened it; it must not report
				// healthy on the closed connection itself.
				if l.current() == c {
					t.Fatal("Check reports healthy with a closed connection")
				}
			}
			testkit.WaitFor(t, 20*time.Second, "the connection to come back", func() bool {
				_, err := l.Append(ctx, testEvent("evt_"+which, hooklinev1.Provider_PROVIDER_TRUV, "o1"))
				if err != nil && !errors.Is(err, ErrUnavailable) {
					t.Fatalf("append while reconnecting: %v (want ErrUnavailable)", err)
				}
				_, _, berr := l.Bounds(ctx)
				return err == nil && berr == nil && l.Check() == nil
			})
		})
	}
}

// FuzzKeyToken: key tokens are valid subject tokens of bounded length, and
// distinct keys get distinct tokens, long or short.
func FuzzKeyToken(f *testing.F) {
	long := strings.Repeat("k", MaxKeyTokenBytes)
	for _, s := range []string{"", "a.b", "%", long, long + "x", strings.Repeat(".", 40), "x~y"} {
		f.Add(s, s+".")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ta, tb := KeyToken(a), KeyToken(b)
		if a != b && ta == tb {
			t.Fatalf("KeyToken(%q) == KeyToken(%q) == %q", a, b, ta)
		}
		if len(ta) > MaxKeyTokenBytes {
			t.Fatalf("KeyToken(%q) is %d bytes", a, len(ta))
		}
		for i := 0; i < len(ta); i++ {
			if c := ta[i]; c == '.' || c == '*' || c == '>' || c <= ' ' || c >= 0x7f {
				t.Fatalf("KeyToken(%q) = %q has byte %q", a, ta, c)
			}
		}
	})
}

// TestPayloadLimits: the embedded server holds an event twice the body cap;
// an external cluster whose max_payload cannot hold a body at the cap is
// refused at Open with what to change; an event over the limit is refused
// with a *TooLargeError before it is sent, and the log keeps working.
func TestPayloadLimits(t *testing.T) {
	ctx := context.Background()
	t.Run("embedded", func(t *testing.T) {
		l, err := Open(ctx, Options{DataDir: t.TempDir(), MaxBodyBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if got, want := l.MaxPayload(), PayloadFor(64<<10); got != want {
			t.Errorf("MaxPayload = %d, want %d", got, want)
		}
		ev := testEvent("evt_fits", hooklinev1.Provider_PROVIDER_TRUV, "o")
		ev.Raw = &hooklinev1.RawDelivery{Body: make([]byte, 64<<10)}
		ev.GetOrder().RawStatus = strings.Repeat("s", 60<<10)
		if _, err := l.Append(ctx, ev); err != nil {
			t.Fatalf("event with a body at the cap and as much normalized: %v", err)
		}
		ev = testEvent("evt_too_large", hooklinev1.Provider_PROVIDER_TRUV, "o")
		ev.Raw = &hooklinev1.RawDelivery{Body: make([]byte, 3*64<<10)}
		var tl *TooLargeError
		if _, err := l.Append(ctx, ev); !errors.As(err, &tl) || tl.Limit != l.MaxPayload() {
			t.Fatalf("event over the limit: %v, want *TooLargeError", err)
		}
		if _, err := l.Append(ctx, testEvent("evt_after", hooklinev1.Provider_PROVIDER_TRUV, "o")); err != nil {
			t.Fatalf("append after a refused one: %v", err)
		}
	})
	t.Run("external", func(t *testing.T) {
		// nats-server's default max_payload is 1 MiB: too small for the
		// default 1 MiB body cap with its envelope.
		ns := testkit.StartNATS(t, 0, func(o *server.Options) { o.MaxPayload = 0 })
		_, err := Open(ctx, Options{URL: ns.ClientURL()})
		var pl *PayloadLimitError
		if !errors.As(err, &pl) || !strings.Contains(err.Error(), "max_payload") || !strings.Contains(err.Error(), "--max-body-bytes") {
			t.Fatalf("Open with a default server: %v, want a *PayloadLimitError naming max_payload and --max-body-bytes", err)
		}
		l, err := Open(ctx, Options{URL: ns.ClientURL(), MaxBodyBytes: 512 << 10})
		if err != nil {
			t.Fatalf("Open with a body cap that fits: %v", err)
		}
		l.Close()
	})
}

// TestBucketedSubjects: events are stored under their key's bucket, so
// distinct keys share a bounded set of subjects; a key's filter subjects
// still find the events stored under the key itself before the buckets.
func TestBucketedSubjects(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir())
	defer l.Close()
	// An event as the previous layout stored it, under its key's token.
	old := testEvent("evt_old", hooklinev1.Provider_PROVIDER_TRUV, "order-1")
	data, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	legacy := l.SubjectPrefix() + ".truv.order.order_status_changed." + KeyToken("order-1")
	if _, err := l.current().js.Publish(ctx, legacy, data); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, testEvent("evt_new", hooklinev1.Provider_PROVIDER_TRUV, "order-1")); err != nil {
		t.Fatal(err)
	}
	if s := Subject(l.SubjectPrefix(), testEvent("x", hooklinev1.Provider_PROVIDER_TRUV, "order-1")); !strings.HasSuffix(s, "."+BucketToken("order-1")) {
		t.Errorf("subject %s does not end with the key's bucket", s)
	}
	var got []string
	if _, err := l.Read(ctx, Start{}, FilterSubjects(l.SubjectPrefix(), "", "order", "", "order-1"), 10, func(ev *hooklinev1.Event) error {
		got = append(got, ev.GetId())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "evt_old,evt_new" {
		t.Errorf("a key's filter read %v, want the event under its old subject and the one under its bucket", got)
	}
	buckets := map[string]bool{}
	for i := range 100_000 {
		buckets[BucketToken(strings.Repeat("k", i%7)+fmt.Sprint(i))] = true
	}
	if len(buckets) != 4096 {
		t.Errorf("100 000 keys fell into %d buckets, want all 4096", len(buckets))
	}
}
