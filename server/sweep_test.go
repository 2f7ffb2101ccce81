package server

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/index"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The index does not keep the log's first sequence across restarts: the
// server sweeps as it starts, so ids of events that retention removed while
// it was down are forgotten at once.
func TestSweepAtStartForgetsIdsTheLogDropped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	lg, err := eventlog.Open(ctx, eventlog.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	idx, err := index.Open(filepath.Join(dir, "index"))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
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

	// Retention removes the first two events.
	nc, err := nats.Connect("", nats.InProcessServer(lg.Server()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "HOOKLINE_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSequence(evs[2].GetSequence())); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.Lookup(evs[0].GetId()); err != nil {
		t.Fatalf("before the server starts the index still knows the first id: %v", err)
	}

	srv, err := New(Config{Log: lg, Index: idx})
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, httpLn, grpcLn) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitFor(t, 10*time.Second, "ids of purged events forgotten", func() bool {
		_, err0 := idx.Lookup(evs[0].GetId())
		_, err1 := idx.Lookup(evs[1].GetId())
		return errors.Is(err0, index.ErrNotFound) && errors.Is(err1, index.ErrNotFound)
	})
	if e, err := idx.Lookup(evs[2].GetId()); err != nil || e.Sequence != evs[2].GetSequence() {
		t.Errorf("kept id: Lookup = %+v, %v", e, err)
	}
}
