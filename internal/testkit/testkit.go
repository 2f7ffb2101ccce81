// Package testkit is what the gateway's tests share: one way to wait for a
// condition, and NATS servers and clusters on loopback for tests of an
// external store. (internal/eventlog/eventlogtest opens an embedded event
// log with its server at hand.) Only tests import it (arch_test.go).
package testkit

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// pollInterval is how often WaitFor checks its condition.
const pollInterval = 5 * time.Millisecond

// WaitFor polls cond until it holds, or fails the test after d naming what
// it waited for. d is a hang guard, never a timing claim.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(pollInterval)
	}
}

// StartNATS starts a NATS server with JetStream on a loopback port, as an
// external store, with room for events of the default body cap. port 0
// picks a free one; mutate adjusts the options (TLS, accounts) before
// start. The test's cleanup stops it.
func StartNATS(t testing.TB, port int, mutate func(*server.Options)) *server.Server {
	t.Helper()
	if port == 0 {
		port = -1
	}
	o := &server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		MaxPayload: MaxPayload,
	}
	if mutate != nil {
		mutate(o)
	}
	ns, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready after 10s")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// MaxPayload is the max payload of StartNATS's servers: room for events
// that carry bodies of the gateway's default cap (1 MiB), which need
// 2 MiB + 64 KiB.
const MaxPayload = 4 << 20

// Cluster credentials of StartCluster's servers.
const (
	ClusterUser     = "hookline"
	ClusterPassword = "test-only-password"
)

// StartCluster starts n NATS servers with JetStream on loopback, routed
// into one cluster, each with room for events of the default body cap, and
// returns them with a client URL listing all of them. Clients log in with
// ClusterUser and ClusterPassword. The test's cleanup stops them.
func StartCluster(t testing.TB, n int) ([]*server.Server, string) {
	t.Helper()
	ports := FreePorts(t, n)
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	servers := make([]*server.Server, n)
	for i := range servers {
		ns, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			MaxPayload: MaxPayload,
			Username:   ClusterUser, Password: ClusterPassword,
			Cluster: server.ClusterOpts{Name: "hookline-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		servers[i] = ns
	}
	t.Cleanup(func() {
		for _, ns := range servers {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	})
	urls := make([]string, n)
	for i, ns := range servers {
		if !ns.ReadyForConnections(20 * time.Second) {
			t.Fatalf("server n%d not ready after 20s", i+1)
		}
		urls[i] = ns.ClientURL()
	}
	return servers, strings.Join(urls, ",")
}

// FreePorts returns n loopback ports that were free a moment ago (for
// cluster routes, which must be known before the servers start).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	lns := make([]net.Listener, n)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}
