package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestResumeAcrossKills is scenario 5: a gRPC subscriber follows the whole
// log while posters keep sending deliveries and the gateway is killed with
// SIGKILL mid-stream and restarted, round after round. After every
// disconnect the subscriber resumes with after_sequence = the last
// sequence it saw (an event's or a bookmark's), as soon as the new process
// listens. Over all rounds it must receive every stored event exactly once
// and in log order.
func TestResumeAcrossKills(t *testing.T) {
	f := newFigures(t, "5. subscriber resuming across kill -9")
	rounds := counts(3, 20)
	rs := newRestarter(t, gatewayOptions{dataDir: t.TempDir()})
	led := newLedger()
	ld := &loader{
		led: led, gen: mix{run: "resume", keys: counts(20, 150)}.at, client: newClient(3),
		pace: 3 * time.Millisecond, targets: rs.targets,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(counts(2, 20))*time.Minute)
	defer cancel()

	g := rs.start()
	g.waitReady(t)
	drain := ld.run(ctx, 3)
	w := &watcher{}
	wctx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		w.run(wctx, func() string {
			if g := rs.current.Load(); g != nil {
				return g.grpc
			}
			return ""
		})
	})
	defer func() { stopWatch(); wg.Wait() }()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	for range rounds {
		// Mid-stream: the subscriber has caught up and is receiving live
		// events when the kill comes.
		seen := w.lastSeen()
		waitFor(t, time.Minute, func() string { return fmt.Sprintf("the subscriber to move past sequence %d", seen) },
			func() bool { return w.lastSeen() > seen })
		sleepCtx(ctx, time.Duration(200+rng.IntN(1000))*time.Millisecond)
		g.checkAlive(t)
		rs.kill(g)
		f.Rounds++
		g = rs.start()
		g.waitReady(t)
	}
	drain()
	if ctx.Err() != nil {
		t.Fatalf("deliveries still unacknowledged when the scenario's time ran out: %v", ld.pending())
	}
	led.reportProblems(t)
	led.fill(f)
	deliveries, acks := led.snapshot()
	api := dialAPI(t, g.grpc)
	events := listAll(t, api, f)
	res := checkLog(t, events, deliveries, acks, true)
	f.Stored, f.Duplicates, f.Lost = res.stored, res.duplicates, res.lost
	if len(events) > 0 {
		last := events[len(events)-1].GetSequence()
		waitFor(t, 2*time.Minute, func() string {
			return fmt.Sprintf("the subscriber to reach sequence %d (at %d)", last, w.lastSeen())
		}, func() bool { return w.lastSeen() >= last })
	}
	stopWatch()
	wg.Wait()
	w.check(t, "the resuming subscriber", events)
	f.note("the subscriber resumed %d times and received %d events and %d bookmarks", w.reconnects, len(w.seqs), w.bookmarks)
	f.PeakRSS = rs.set.peakRSS()
}
