package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Duplicate window and append timeout of the storm's gateways: short, so
// that the test can wait past the window, yet leaving the index 4 s of lag
// (window − append timeout − 2 s) before the lag guard answers 503, so
// that a busy CI machine does not turn the storm's 200s into 503s.
const (
	stormWindow        = 8 * time.Second
	stormAppendTimeout = 2 * time.Second
)

// TestDuplicateStorm is scenario 2: two gateway processes, each with its
// own data directory and index, share one external NATS server. Every
// delivery is posted three times at once, to both gateways; then, after
// JetStream's duplicate window has passed, some deliveries are retried at
// the gateway that did not store them, which only its own index can
// recognize. Every answer must be 200, the three copies must name the same
// event and sequence with exactly one not marked duplicate, and the log
// must hold exactly one copy of each delivery.
func TestDuplicateStorm(t *testing.T) {
	f := newFigures(t, "2. duplicate storm on two gateways")
	nc := startNATS(t, 1)
	var set gatewaySet
	gws := make([]*gateway, 2)
	for i := range gws {
		gws[i] = set.add(startReady(t, fmt.Sprintf("gateway-%c", 'a'+i), gatewayOptions{
			dataDir: t.TempDir(), natsURL: nc.url(),
			args: []string{"--nats-duplicate-window", stormWindow.String(), "--append-timeout", stormAppendTimeout.String()},
		}))
	}
	rounds := counts(2, 6)
	perRound := counts(150, 1500)
	m := mix{run: "storm", keys: counts(15, 100)}
	client := newClient(12)
	deliveries := map[int]delivery{}
	acks := map[int]ack{}
	storedBy := map[int]int{} // delivery → gateway whose answer said duplicate:false
	for r := range rounds {
		first := r * perRound
		for i, res := range storm(t, client, gws, m, first, perRound, f) {
			deliveries[i], acks[i], storedBy[i] = m.at(i), res.ack, res.storer
		}
		// Past JetStream's window: the retries below can only be
		// recognized by the other gateway's index.
		time.Sleep(stormWindow + time.Second)
		retries := 0
		for i := first; i < first+perRound; i += max(perRound/counts(40, 200), 1) {
			if _, ok := acks[i]; !ok {
				continue
			}
			other := gws[1-storedBy[i]]
			a := postUntilAnswered(t, client, other.http, deliveries[i], f)
			retries++
			if a.status != http.StatusOK || !a.ok.Duplicate || len(a.ok.Events) != 1 ||
				a.ok.Events[0].ID != acks[i].id || a.ok.Events[0].Sequence != acks[i].seq {
				t.Errorf("DUPLICATE: %s stored by %s at %d; retried at %s after the duplicate window: %d %s",
					deliveries[i].name, gws[storedBy[i]].name, acks[i].seq, other.name, a.status, clip(a.body))
			}
		}
		f.Retried += retries
		f.Rounds++
	}
	for _, g := range gws {
		g.checkAlive(t)
	}
	res := checkLog(t, listAll(t, dialAPI(t, gws[0].grpc), f), deliveries, acks, true)
	f.Stored, f.Duplicates, f.Lost = res.stored, res.duplicates, res.lost
	if other := listAll(t, dialAPI(t, gws[1].grpc), f); len(other) != res.stored {
		t.Errorf("%s lists %d events, %s %d: they share one stream", gws[1].name, len(other), gws[0].name, res.stored)
	}
	f.note("each of %d deliveries posted 3 times at once across both gateways; %d retried at the other gateway after the %s duplicate window",
		len(deliveries), f.Retried, stormWindow)
	f.PeakRSS = set.peakRSS()
}

// stormResult is what the three copies of one delivery settled on.
type stormResult struct {
	ack    ack
	storer int // index of the gateway whose answer was not a duplicate
}

// storm posts deliveries first … first+n-1 of m, each three times at once
// (to gateway a, to b, and to either), a few deliveries at a time, and
// checks the answers. It returns the deliveries whose copies agreed.
func storm(t *testing.T, client *http.Client, gws []*gateway, m mix, first, n int, f *figures) map[int]stormResult {
	t.Helper()
	var (
		mu   sync.Mutex
		out  = map[int]stormResult{}
		next atomic.Int64
		wg   sync.WaitGroup
	)
	next.Store(int64(first))
	for w := range 4 {
		rng := rand.New(rand.NewPCG(uint64(w), 2))
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= first+n {
					return
				}
				d := m.at(i)
				targets := [3]int{0, 1, rng.IntN(2)}
				var answers [3]answer
				var cw sync.WaitGroup
				for c, g := range targets {
					cw.Go(func() { answers[c] = post(context.Background(), client, gws[g].http, d) })
				}
				cw.Wait()
				res, problem := settle(answers, targets)
				mu.Lock()
				for _, a := range answers {
					f.Sent++
					if a.err == nil && a.status == http.StatusOK {
						f.OK++
					} else {
						f.Failures[a.outcome()]++
					}
				}
				if problem != "" {
					t.Errorf("%s: %s", d.name, problem)
				} else {
					out[i] = res
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// settle checks the three answers to copies of one delivery: all 200, one
// event, the same id and sequence, exactly one not a duplicate.
func settle(answers [3]answer, targets [3]int) (stormResult, string) {
	var res stormResult
	fresh := 0
	for c, a := range answers {
		switch {
		case a.err != nil:
			return res, fmt.Sprintf("copy %d to gateway %d: %v", c+1, targets[c], a.err)
		case a.status != http.StatusOK:
			return res, fmt.Sprintf("copy %d to gateway %d: %d %s, want 200", c+1, targets[c], a.status, a.code)
		case len(a.ok.Events) != 1:
			return res, fmt.Sprintf("copy %d: %d events, want 1", c+1, len(a.ok.Events))
		}
		got := ack{a.ok.Events[0].ID, a.ok.Events[0].Sequence}
		if c > 0 && got != res.ack {
			return res, fmt.Sprintf("DUPLICATE: copy 1 answered %s at %d, copy %d %s at %d", res.ack.id, res.ack.seq, c+1, got.id, got.seq)
		}
		res.ack = got
		if !a.ok.Duplicate {
			fresh++
			res.storer = targets[c]
		}
	}
	if fresh != 1 {
		return res, fmt.Sprintf("DUPLICATE: %d of the 3 copies were answered as newly stored, want exactly 1", fresh)
	}
	return res, ""
}
