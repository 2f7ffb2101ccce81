package server

import (
	"encoding/json"
	"github.com/hookline/hookline/internal/testkit"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
)

// stallingIndex is an index whose Apply can be held, to make the index
// fall behind the log.
type stallingIndex struct {
	StateIndex
	stall   atomic.Bool
	release chan struct{}
	once    sync.Once
}

func (ix *stallingIndex) Apply(evs []*hooklinev1.Event) error {
	if ix.stall.Load() {
		<-ix.release
	}
	return ix.StateIndex.Apply(evs)
}

func (ix *stallingIndex) unstall() { ix.once.Do(func() { close(ix.release) }) }

// TestLagGuard: with JetStream's window at 100 ms and the index stalled, a
// retry that arrives after the window can be recognized by neither tier.
// Without the guard it is stored a second time; with it the retry gets 503
// until the index has caught up, and is then answered as a duplicate.
func TestLagGuard(t *testing.T) {
	body := orderBody("6aac461e7b774a38a72fd9c7c0eef8ee", "aaa192646b3c48be96651a0ff25cef85", "pending", "2024-07-11T21:40:48.424655+00:00")
	hdr := authHeaders("truv")
	var logs syncBuffer
	start := func(t *testing.T, maxLag time.Duration) (*testEnv, *stallingIndex) {
		ix := &stallingIndex{release: make(chan struct{})}
		e := newTestEnv(t, envOptions{
			logOpts: eventlog.Options{DuplicateWindow: 100 * time.Millisecond},
			cfg: func(c *Config) {
				ix.StateIndex = c.Index
				c.Index = ix
				c.MaxIndexLag = maxLag
				c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			},
		})
		t.Cleanup(ix.unstall) // before the env's own cleanup stops the server
		ix.stall.Store(true)
		return e, ix
	}

	t.Run("without the guard a late retry is stored twice", func(t *testing.T) {
		e, ix := start(t, time.Hour)
		first := e.post(t, "truv", body)
		time.Sleep(300 * time.Millisecond) // let JetStream's 100 ms window pass
		retry := e.post(t, "truv", body)
		if retry.Duplicate || retry.Events[0].Sequence == first.Events[0].Sequence {
			t.Fatalf("retry = %+v: the stalled index and the expired window caught it, so this test no longer shows the gap", retry)
		}
		ix.unstall()
	})

	t.Run("with the guard", func(t *testing.T) {
		e, ix := start(t, 300*time.Millisecond)
		get := func(path string) (int, string) {
			code, b := e.postRaw(t, http.MethodGet, path, nil, nil)
			return code, string(b)
		}
		first := e.post(t, "truv", body)
		testkit.WaitFor(t, 10*time.Second, "the guard to trip", e.lagging)
		// By now JetStream's window (100 ms) has passed as well.
		code, b := e.postRaw(t, http.MethodPost, "/webhooks/truv", body, hdr)
		if code != http.StatusServiceUnavailable || !strings.Contains(string(b), "store_unavailable") {
			t.Fatalf("retry while the index lags: %d %s, want 503 %s", code, b, "store_unavailable")
		}
		if code, b := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(b, "lags") {
			t.Errorf("/readyz while lagging: %d %s", code, b)
		}
		if _, b := get("/metrics"); !strings.Contains(b, "hookline_index_lagging 1\n") {
			t.Errorf("/metrics while lagging lacks hookline_index_lagging 1")
		}

		ix.unstall()
		testkit.WaitFor(t, 10*time.Second, "the guard to clear", func() bool { return !e.lagging() })
		var retry Accepted
		code, b = e.postRaw(t, http.MethodPost, "/webhooks/truv", body, hdr)
		if code != http.StatusOK || json.Unmarshal(b, &retry) != nil {
			t.Fatalf("retry after catching up: %d %s", code, b)
		}
		if !retry.Duplicate || retry.Events[0].Sequence != first.Events[0].Sequence {
			t.Errorf("retry after catching up = %+v, want a duplicate of %d", retry, first.Events[0].Sequence)
		}
		if last := e.lastSeq(t); last != first.Events[0].Sequence {
			t.Errorf("log ends at %d, want %d: the retry was stored", last, first.Events[0].Sequence)
		}
		if _, b := get("/metrics"); !strings.Contains(b, "hookline_index_lagging 0\n") {
			t.Errorf("/metrics after catching up lacks hookline_index_lagging 0")
		}
		if l := logLines(t, &logs, "index_lagging"); len(l) != 1 || l[0]["level"] != "WARN" {
			t.Errorf("index_lagging lines %v, want one warning", l)
		}
		if l := logLines(t, &logs, "index_caught_up"); len(l) != 1 {
			t.Errorf("index_caught_up lines %v, want one", l)
		}
	})
}
