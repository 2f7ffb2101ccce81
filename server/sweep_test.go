package server

import (
	"context"
	"errors"
	"github.com/hookline/hookline/internal/eventlog/eventlogtest"
	"github.com/hookline/hookline/internal/testkit"
	"path/filepath"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/index"
)

// The index does not keep the log's first sequence across restarts: the
// server sweeps as it starts, so ids of events that retention removed while
// it was down are forgotten at once.
func TestSweepAtStartForgetsIdsTheLogDropped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	lg := eventlogtest.Open(t, eventlog.Options{DataDir: dir})
	idx, err := index.Open(filepath.Join(dir, "index"))
	if err != nil {
		t.Fatal(err)
	}
	var evs []*hooklinev1.Event
	for i := range 3 {
		ev := benchEvent(i)
		res, err := lg.Append(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		ev.Sequence = res.Sequence
		evs = append(evs, ev)
	}
	if err := idx.Apply(evs); err != nil {
		t.Fatal(err)
	}
	// While the gateway is down, retention removes the first two events.
	purgeBefore(t, lg, evs[2].GetSequence())
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	lg.Close()

	e := newTestEnv(t, envOptions{dir: dir})
	testkit.WaitFor(t, 10*time.Second, "ids of purged events forgotten", func() bool {
		_, err0 := e.idx.Lookup(evs[0].GetId())
		_, err1 := e.idx.Lookup(evs[1].GetId())
		return errors.Is(err0, index.ErrNotFound) && errors.Is(err1, index.ErrNotFound)
	})
	if got, err := e.idx.Lookup(evs[2].GetId()); err != nil || got.Sequence != evs[2].GetSequence() {
		t.Errorf("kept id: Lookup = %+v, %v", got, err)
	}
}
