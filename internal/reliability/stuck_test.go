package reliability

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// rssBound is the gateway RSS past which a stuck subscriber counts as
// holding memory without bound. It is deliberately generous: the scenario
// reports the peak, and fails only on something far beyond it.
const rssBound = 1 << 30

// TestStuckSubscribers is scenario 4: beside a normal gRPC subscriber,
// subscriptions that never read are opened every round (a gRPC Subscribe
// that never calls Recv, a REST NDJSON stream and an SSE stream whose
// bodies are never read), then many deliveries are posted, a few of them
// about 100 KiB large. The normal subscriber must get every event in order
// with no gap, every delivery must be answered 200 at once, and the
// gateway's RSS must stay bounded.
func TestStuckSubscribers(t *testing.T) {
	f := newFigures(t, "4. stuck subscribers beside a normal one")
	var set gatewaySet
	g := set.add(startReady(t, "gateway", gatewayOptions{dataDir: t.TempDir()}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(counts(2, 20))*time.Minute)
	defer cancel()

	normal := &watcher{}
	var wg sync.WaitGroup
	wctx, stopWatch := context.WithCancel(ctx)
	wg.Go(func() { normal.run(wctx, func() string { return g.grpc }) })
	defer func() { stopWatch(); wg.Wait() }()

	rounds := counts(2, 5)
	perRound := counts(600, 5000)
	led := newLedger()
	m := mix{run: "stuck", keys: counts(30, 200), pad: 100 << 10, padEvery: 40}
	stuck := 0
	for r := range rounds {
		stuck += openStuck(t, ctx, g)
		ld := &loader{
			led: led, gen: m.at, client: newClient(4),
			first: r * perRound, limit: perRound, pace: time.Millisecond,
			targets: func() []string { return []string{g.http} },
		}
		ld.run(ctx, 4)()
		f.Rounds++
	}
	led.reportProblems(t)
	led.fill(f)
	if len(f.Failures) > 0 {
		t.Errorf("ingest did not answer every delivery with 200 while subscribers were stuck: %s", f.failures())
	}
	deliveries, acks := led.snapshot()
	events := listAll(t, dialAPI(t, g.grpc), f)
	res := checkLog(t, events, deliveries, acks, true)
	f.Stored, f.Duplicates, f.Lost = res.stored, res.duplicates, res.lost
	if len(events) > 0 {
		last := events[len(events)-1].GetSequence()
		waitFor(t, 2*time.Minute, func() string {
			return fmt.Sprintf("the normal subscriber to reach sequence %d (at %d)", last, normal.lastSeen())
		}, func() bool { return normal.lastSeen() >= last })
	}
	stopWatch()
	wg.Wait()
	normal.check(t, "the normal subscriber", events)
	g.checkAlive(t)
	f.PeakRSS = set.peakRSS()
	if f.PeakRSS > rssBound {
		t.Errorf("gateway RSS reached %s with %d stuck subscriptions; bound %s", mib(f.PeakRSS), stuck, mib(rssBound))
	}
	f.note("%d stuck subscriptions (gRPC without Recv, REST NDJSON and SSE never read) beside one normal gRPC subscriber; every %dth delivery ~100 KiB",
		stuck, m.padEvery)
}

// openStuck opens three subscriptions to g that never read: a gRPC
// Subscribe that never calls Recv (on a connection of its own), a REST
// NDJSON stream and an SSE stream whose bodies are never read, all from the
// start of the log. They stay open until the test ends. It returns how
// many it opened.
func openStuck(t *testing.T, ctx context.Context, g *gateway) int {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+g.grpc,
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearer(apiToken)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := hooklinev1.NewEventServiceClient(conn).Subscribe(ctx, &hooklinev1.SubscribeRequest{
		Start: &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_EARLIEST},
	}); err != nil {
		t.Fatalf("stuck gRPC subscription: %v", err)
	}
	for _, path := range []string{"/v1/events:subscribe?position=START_POSITION_EARLIEST", "/v1/events:sse?position=earliest"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.http+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+apiToken)
		// A client of its own: the stuck connection is never reused.
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			t.Fatalf("stuck subscription %s: %v", path, err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stuck subscription %s: %d", path, resp.StatusCode)
		}
		t.Cleanup(func() { resp.Body.Close() })
	}
	return 3
}
