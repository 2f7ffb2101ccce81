package reliability

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// TestKillUnderLoad is scenario 1: four posters send unique signed
// deliveries (Truv, Finicity, Swyft) while the gateway is killed with
// SIGKILL at random moments and restarted on the same data directory; some
// kills hit the start-up, before the gateway is ready. Posters retry every
// 503 and every request that got no answer, as providers do, until each
// delivery is acknowledged. Then every acknowledged delivery is sent again
// and must be answered as a duplicate of its first sequence, the whole log
// is read back (each delivery exactly once, no event id twice), and the
// state of a sample of orders and sessions must name the event latest by
// provider time.
func TestKillUnderLoad(t *testing.T) {
	f := newFigures(t, "1. kill -9 under signed load")
	rounds := counts(3, 24)
	startupKills := counts(1, 6)
	rs := newRestarter(t, gatewayOptions{dataDir: t.TempDir()})
	led := newLedger()
	ld := &loader{
		led: led, gen: mix{run: "kill", keys: counts(20, 150)}.at, client: newClient(4),
		pace: 2 * time.Millisecond, targets: rs.targets,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(counts(2, 30))*time.Minute)
	defer cancel()
	drain := ld.run(ctx, 4)
	defer cancel() // stops the posters if the test fails before draining

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	startup := map[int]bool{}
	for len(startup) < startupKills {
		startup[rng.IntN(rounds)] = true
	}
	var beforeListening, beforeReady int
	for r := range rounds {
		g := rs.start()
		if startup[r] {
			sleepCtx(ctx, time.Duration(rng.IntN(300))*time.Millisecond)
			switch {
			case !isClosed(g.listening):
				beforeListening++
			case !g.ready():
				beforeReady++
			}
		} else {
			g.waitReady(t)
			sleepCtx(ctx, time.Duration(300+rng.IntN(1200))*time.Millisecond)
			g.checkAlive(t)
		}
		rs.kill(g)
		f.Rounds++
	}
	final := rs.start()
	final.waitReady(t)
	drain()
	if ctx.Err() != nil {
		t.Fatalf("deliveries still unacknowledged when the scenario's time ran out: %v", ld.pending())
	}
	led.reportProblems(t)
	led.fill(f)
	deliveries, acks := led.snapshot()
	if len(acks) != ld.generated() {
		t.Errorf("LOST: %d deliveries generated, %d acknowledged", ld.generated(), len(acks))
	}
	f.note("%d of the %d kills hit the start-up (%d before the start line, %d before /readyz said ready); %d deliveries, retried until acknowledged",
		startupKills, rounds, beforeListening, beforeReady, len(acks))
	if *fullRun {
		// Past JetStream's 30 s duplicate window: now only the local index,
		// rebuilt across all those kills, can recognize the retries.
		time.Sleep(31 * time.Second)
		f.note("the late retries were sent after JetStream's 30 s duplicate window had passed: only the index recognized them")
	}

	repostAcked(t, final.http, deliveries, acks, f)
	api := dialAPI(t, final.grpc)
	events := listAll(t, api, f)
	res := checkLog(t, events, deliveries, acks, true)
	f.Stored, f.Duplicates, f.Lost = res.stored, res.duplicates, res.lost
	if len(events) > 0 {
		final.waitIndexed(t, events[len(events)-1].GetSequence())
	}
	sampled := checkState(t, api, deliveries, acks, counts(30, 300))
	f.note("state checked for %d orders and sessions", sampled)
	final.checkAlive(t)
	f.PeakRSS = rs.set.peakRSS()
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
