package reliability

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestClusterLeaderFailover is scenario 3: two gateways store into a
// stream with three replicas on a three-server NATS cluster. While four
// posters send deliveries to both, the server leading the stream is shut
// down (and later started again, so that a quorum survives the next
// failover), more than once. No acknowledged delivery may be lost; every
// failed request must be a 503 (the store is unavailable during the
// election), never a 4xx, a 500 or no answer; every delivery, retried until
// acknowledged, must end up stored exactly once.
func TestClusterLeaderFailover(t *testing.T) {
	f := newFigures(t, "3. stream leader failover (3 servers, 3 replicas)")
	nc := startNATS(t, 3)
	waitFor(t, time.Minute, func() string { return "a JetStream meta leader" }, nc.metaLeader)
	var set gatewaySet
	gws := make([]*gateway, 2)
	for i := range gws {
		gws[i] = set.add(startReady(t, fmt.Sprintf("gateway-%c", 'a'+i), gatewayOptions{
			dataDir: t.TempDir(), natsURL: nc.url(), args: []string{"--nats-replicas", "3"},
		}))
	}
	led := newLedger()
	ld := &loader{
		led: led, gen: mix{run: "failover", keys: counts(20, 150)}.at, client: newClient(4),
		pace:    3 * time.Millisecond,
		targets: func() []string { return []string{gws[0].http, gws[1].http} },
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(counts(3, 20))*time.Minute)
	defer cancel()
	drain := ld.run(ctx, 4)

	acked := led.acked
	kills := counts(2, 6)
	step := counts(300, 1000)
	for k := range kills {
		before := acked()
		waitFor(t, 2*time.Minute, func() string { return fmt.Sprintf("%d more acknowledgements before failover %d", step, k+1) },
			func() bool { return acked() >= before+step })
		leader := -1
		waitFor(t, time.Minute, func() string { return "a stream leader" }, func() bool { leader = nc.streamLeader(); return leader >= 0 })
		nc.stop(leader)
		f.Rounds++
		atStop := acked()
		// The stream is served again once a new leader was elected and
		// appends are acknowledged.
		waitFor(t, 2*time.Minute, func() string { return fmt.Sprintf("acknowledgements after stopping the leader n%d", leader+1) },
			func() bool { return acked() >= atStop+step/3 })
		nc.start(leader)
		nc.waitUp(leader)
		waitFor(t, 2*time.Minute, func() string { return fmt.Sprintf("n%d to catch up with the stream", leader+1) },
			func() bool { return nc.streamCurrent(leader) })
	}
	drain()
	if ctx.Err() != nil {
		t.Fatalf("deliveries still unacknowledged when the scenario's time ran out: %v", ld.pending())
	}
	led.reportProblems(t)
	led.fill(f)
	for _, k := range slices.Sorted(maps.Keys(f.Failures)) {
		if k != strconv.Itoa(503) {
			t.Errorf("%d requests failed with %s during the failovers; every failure must be a 503", f.Failures[k], k)
		}
	}
	for _, g := range gws {
		g.checkAlive(t)
	}
	deliveries, acks := led.snapshot()
	if len(acks) != ld.generated() {
		t.Errorf("LOST: %d deliveries generated, %d acknowledged", ld.generated(), len(acks))
	}
	repostAcked(t, gws[1].http, deliveries, acks, f)
	events := listAll(t, dialAPI(t, gws[0].grpc), f)
	res := checkLog(t, events, deliveries, acks, true)
	f.Stored, f.Duplicates, f.Lost = res.stored, res.duplicates, res.lost
	if len(events) > 0 {
		// State is read from the local index, which follows the log.
		last := events[len(events)-1].GetSequence()
		for _, g := range gws {
			if d := g.waitIndexed(t, last); d > time.Second {
				f.note("%s's index applied the last sequence %s after the last retry was answered", g.name, d.Round(100*time.Millisecond))
			}
		}
	}
	sampled := checkState(t, dialAPI(t, gws[1].grpc), deliveries, acks, counts(30, 200))
	f.note("%d stream-leader shutdowns under load; %d deliveries, retried until acknowledged; state checked for %d orders and sessions on the other gateway",
		kills, len(acks), sampled)
	f.PeakRSS = set.peakRSS()
}
