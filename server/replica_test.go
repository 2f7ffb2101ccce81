package server

import (
	"fmt"
	"github.com/hookline/hookline/internal/testkit"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/eventlog"
)

// TestReplicasShareDeduplication runs two gateways on one external NATS
// server, each with its own local index. A retry that reaches the other
// replica after JetStream's duplicate window is still recognized, and both
// replicas report the same current state.
func TestReplicasShareDeduplication(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	lo := eventlog.Options{URL: ns.ClientURL(), DuplicateWindow: 100 * time.Millisecond}
	a := newTestEnv(t, envOptions{logOpts: lo})
	b := newTestEnv(t, envOptions{logOpts: lo})

	body := orderBody("6aac461e7b774a38a72fd9c7c0eef8ee", "abc192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00")
	first := a.post(t, "truv", body)
	b.waitApplied(t, first.Events[0].Sequence)
	time.Sleep(300 * time.Millisecond) // past JetStream's 100 ms window: only the index can tell
	retry := b.post(t, "truv", body)
	if !retry.Duplicate || retry.Events[0].Sequence != first.Events[0].Sequence {
		t.Fatalf("retry on the other replica = %+v, want duplicate of %d", retry, first.Events[0].Sequence)
	}
	stA, errA := a.idx.Order("abc192646b3c48be96651a0ff25cef85")
	stB, errB := b.idx.Order("abc192646b3c48be96651a0ff25cef85")
	if errA != nil || errB != nil || stA.GetLastEventId() != stB.GetLastEventId() || stB.GetEventCount() != 1 {
		t.Errorf("replica states differ: %v/%v %v/%v", stA, errA, stB, errB)
	}
}

// TestLagGuardAcrossReplicas: replica B's index stands still while replica
// A stores an event. B learns of it from the log's last sequence, not from
// an acknowledgement of its own, trips its guard, and answers the retry
// with 503 instead of storing it a second time once JetStream's window has
// passed; when its index has caught up, B answers the retry as a duplicate.
func TestLagGuardAcrossReplicas(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	lo := eventlog.Options{URL: ns.ClientURL(), DuplicateWindow: 100 * time.Millisecond}
	a := newTestEnv(t, envOptions{logOpts: lo})
	ix := &stallingIndex{release: make(chan struct{})}
	b := newTestEnv(t, envOptions{logOpts: lo, cfg: func(c *Config) {
		ix.StateIndex = c.Index
		c.Index = ix
		c.MaxIndexLag = 300 * time.Millisecond
	}})
	t.Cleanup(ix.unstall)
	ix.stall.Store(true)

	body := orderBody("7aac461e7b774a38a72fd9c7c0eef8ee", "bcd192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00")
	hdr := authHeaders("truv")
	first := a.post(t, "truv", body)
	testkit.WaitFor(t, 10*time.Second, "replica B's guard to trip", b.lagging)
	if code, resp := b.postRaw(t, http.MethodPost, "/webhooks/truv", body, hdr); code != http.StatusServiceUnavailable {
		t.Fatalf("retry on the lagging replica: %d %s, want 503", code, resp)
	}
	ix.unstall()
	testkit.WaitFor(t, 10*time.Second, "replica B's guard to clear", func() bool { return !b.lagging() })
	retry := b.post(t, "truv", body)
	if !retry.Duplicate || retry.Events[0].Sequence != first.Events[0].Sequence {
		t.Fatalf("retry after B caught up = %+v, want duplicate of %d", retry, first.Events[0].Sequence)
	}
	if last := a.lastSeq(t); last != first.Events[0].Sequence {
		t.Errorf("log ends at %d, want %d", last, first.Events[0].Sequence)
	}
}

// TestReplicasConcurrentCopies: copies of one delivery that reach two
// replicas at the same moment are stored once; every answer names that
// event's sequence, and exactly one says it was new.
func TestReplicasConcurrentCopies(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	lo := eventlog.Options{URL: ns.ClientURL()}
	replicas := []*testEnv{newTestEnv(t, envOptions{logOpts: lo}), newTestEnv(t, envOptions{logOpts: lo})}
	for round := range 20 {
		body := sessionBody(fmt.Sprintf("4aac461e7b774a38a72fd9c7c0ee%04d", round), "621442a087604e599c637db310d07402", "done", "2022-08-24T13:55:12.845666+00:00")
		before := replicas[0].lastSeq(t)
		answers := make([]Accepted, 4)
		var wg sync.WaitGroup
		for i := range answers {
			wg.Go(func() { answers[i] = replicas[i%2].post(t, "truv", body) })
		}
		wg.Wait()
		checkStoredOnce(t, round, before, replicas[0].lastSeq(t), answers)
	}
}
