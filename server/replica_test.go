package server

import (
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

	body := truvOrderBody("6aac461e7b774a38a72fd9c7c0eef8ee", "abc192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00")
	first := a.postTruv(t, body)
	b.waitApplied(t, first.Events[0].Sequence)
	time.Sleep(300 * time.Millisecond) // past JetStream's 100 ms window: only the index can tell
	retry := b.postTruv(t, body)
	if !retry.Duplicate || retry.Events[0].Sequence != first.Events[0].Sequence {
		t.Fatalf("retry on the other replica = %+v, want duplicate of %d", retry, first.Events[0].Sequence)
	}
	stA, errA := a.idx.Order("abc192646b3c48be96651a0ff25cef85")
	stB, errB := b.idx.Order("abc192646b3c48be96651a0ff25cef85")
	if errA != nil || errB != nil || stA.GetLastEventId() != stB.GetLastEventId() || stB.GetEventCount() != 1 {
		t.Errorf("replica states differ: %v/%v %v/%v", stA, errA, stB, errB)
	}
}
