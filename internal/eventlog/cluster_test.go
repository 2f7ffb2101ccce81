package eventlog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/nats-io/nats-server/v2/server"
)

const (
	clusterUser     = "hookline"
	clusterPassword = "cluster-test-password"
)

// freePorts returns n loopback ports that were free a moment ago; the
// cluster's route list must be known before its servers start.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		defer ln.Close()
	}
	return ports
}

// startCluster starts n JetStream servers on loopback that form one cluster
// and accept only clusterUser/clusterPassword; it returns them and their
// client URLs joined the way --nats-url takes them.
func startCluster(t *testing.T, n int) ([]*server.Server, string) {
	t.Helper()
	ports := freePorts(t, n)
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	servers := make([]*server.Server, n)
	urls := make([]string, n)
	for i := range servers {
		ns, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(),
			Username: clusterUser, Password: clusterPassword,
			Cluster: server.ClusterOpts{Name: "hookline-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
			NoSigs:  true, NoLog: true,
			MaxPayload: int32(PayloadFor(DefaultMaxBodyBytes)),
		})
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		servers[i] = ns
	}
	for i, ns := range servers {
		if !ns.ReadyForConnections(20 * time.Second) {
			t.Fatalf("server n%d not ready", i+1)
		}
		urls[i] = ns.ClientURL()
	}
	t.Cleanup(func() {
		for _, ns := range servers {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	})
	return servers, strings.Join(urls, ",")
}

// openWhenReady opens the log, retrying while the cluster is still electing
// its JetStream leader.
func openWhenReady(t *testing.T, opts Options) *Log {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		l, err := Open(ctx, opts)
		cancel()
		if err == nil {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("open on the cluster: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterFailover runs the log on a three-server cluster, as
// --nats-url with --nats-replicas 3 does, and stops the stream's leader
// while four writers append. Each writer behaves like a provider: it
// retries an event until an append of it is acknowledged. Afterwards every
// event is stored exactly once, at the sequence its acknowledgement named
// (a retry of an append that was stored but not acknowledged is recognized
// by the new leader), and the log reader, which lost its consumer with the
// leader, delivered the whole log in order.
func TestClusterFailover(t *testing.T) {
	servers, urls := startCluster(t, 3)
	ctx := context.Background()

	wrong := Options{URL: urls, User: clusterUser, Password: "wrong", Replicas: 3}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if l, err := Open(octx, wrong); err == nil {
		l.Close()
		t.Fatal("Open with a wrong password succeeded")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("Open with a wrong password: %v, want an authorization error", err)
	}
	cancel()

	l := openWhenReady(t, Options{URL: urls, User: clusterUser, Password: clusterPassword, Replicas: 3})
	defer l.Close()
	info, err := l.current().stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream replicas = %d, cluster %+v; want 3 (a leader and two replicas)", info.Config.Replicas, info.Cluster)
	}

	// The log reader, from the start, for the whole test.
	fctx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	var followMu sync.Mutex
	var followed []*hooklinev1.Event
	followDone := make(chan error, 1)
	go func() {
		followDone <- l.Follow(fctx, 0, func(batch []*hooklinev1.Event) error {
			followMu.Lock()
			followed = append(followed, batch...)
			followMu.Unlock()
			return nil
		})
	}()

	const writers, perWriter = 4, 60
	var acked atomic.Int64
	var failures, recognized atomic.Int64
	seqs := make([]map[string]uint64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		seqs[w] = make(map[string]uint64)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				id := fmt.Sprintf("evt_w%d_%d", w, i)
				deadline := time.Now().Add(60 * time.Second)
				for {
					actx, cancel := context.WithTimeout(ctx, 2*time.Second)
					res, err := l.Append(actx, testEvent(id, hooklinev1.Provider_PROVIDER_TRUV, fmt.Sprintf("order-%d", i%7)))
					cancel()
					if err == nil {
						if res.Duplicate {
							recognized.Add(1)
						}
						seqs[w][id] = res.Sequence
						acked.Add(1)
						break
					}
					if !errors.Is(err, ErrUnavailable) {
						t.Errorf("append %s: %v, want success or ErrUnavailable", id, err)
						return
					}
					failures.Add(1)
					if time.Now().After(deadline) {
						t.Errorf("append %s: still failing after 60 s: %v", id, err)
						return
					}
					time.Sleep(50 * time.Millisecond) // the provider's retry delay
				}
				time.Sleep(5 * time.Millisecond) // spread the appends over the failover
			}
		}()
	}

	waitUntil(t, 30*time.Second, "a quarter of the appends", func() bool { return acked.Load() >= writers*perWriter/4 })
	var leader *server.Server
	for _, ns := range servers {
		if ns.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, l.opts.Stream) {
			leader = ns
		}
	}
	if leader == nil {
		t.Fatal("no server leads the stream")
	}
	atKill := acked.Load()
	leader.Shutdown()
	leader.WaitForShutdown()
	wg.Wait()
	if atKill >= writers*perWriter {
		t.Fatalf("all %d appends were acknowledged before the leader stopped: nothing was tested", atKill)
	}
	if t.Failed() {
		return
	}
	t.Logf("leader stopped after %d of %d acknowledgements; %d appends failed and were retried while the leader changed; %d retries were recognized as stored", atKill, writers*perWriter, failures.Load(), recognized.Load())

	want := make(map[string]uint64)
	for _, m := range seqs {
		for id, seq := range m {
			want[id] = seq
		}
	}
	_, last, err := l.Bounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stored := make(map[string]uint64)
	if _, err := l.Read(ctx, Start{}, nil, last, func(ev *hooklinev1.Event) error {
		if prev, dup := stored[ev.GetId()]; dup {
			return fmt.Errorf("%s stored twice, at %d and %d", ev.GetId(), prev, ev.GetSequence())
		}
		stored[ev.GetId()] = ev.GetSequence()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(want) || uint64(len(stored)) != last {
		t.Errorf("log holds %d events up to sequence %d, want %d", len(stored), last, len(want))
	}
	for id, seq := range want {
		if stored[id] != seq {
			t.Errorf("%s acknowledged at %d, stored at %d", id, seq, stored[id])
		}
	}

	waitUntil(t, 30*time.Second, "the log reader to deliver the whole log", func() bool {
		followMu.Lock()
		defer followMu.Unlock()
		return uint64(len(followed)) >= last
	})
	stopFollow()
	if err := <-followDone; !errors.Is(err, context.Canceled) {
		t.Errorf("Follow ended with %v", err)
	}
	for i, ev := range followed {
		if ev.GetSequence() != uint64(i+1) {
			t.Fatalf("log reader delivered sequence %d at position %d", ev.GetSequence(), i+1)
		}
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
