package reliability

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// streamName is the JetStream stream the gateway stores events in.
const streamName = "HOOKLINE_EVENTS"

// natsMaxPayload is the max_payload the gateway asks of an external
// cluster for its default body cap: room for the raw body and a normalized
// copy of all of it (2 × --max-body-bytes + 64 KiB).
const natsMaxPayload = 2<<20 + 64<<10

// natsCluster is one or more JetStream servers on loopback ports, run in
// the test process, that gateways reach with --nats-url. A server can be
// stopped and started again on the same ports and store.
type natsCluster struct {
	t       *testing.T
	mu      sync.Mutex
	opts    []*server.Options
	servers []*server.Server // nil while stopped
}

// freePorts returns n loopback ports that were free a moment ago (a
// cluster's routes must be known before its servers start).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// startNATS starts n JetStream servers; with n > 1 they form one cluster.
// They are shut down in t.Cleanup.
func startNATS(t *testing.T, n int) *natsCluster {
	t.Helper()
	ports := freePorts(t, 2*n)
	c := &natsCluster{t: t}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: t.TempDir(),
			MaxPayload: natsMaxPayload,
			NoSigs:     true, NoLog: true,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "reliability", Host: "127.0.0.1", Port: ports[n+i]}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		c.opts = append(c.opts, o)
		c.servers = append(c.servers, nil)
	}
	t.Cleanup(func() {
		for i := range c.servers {
			c.stop(i)
		}
	})
	for i := range n {
		c.start(i)
	}
	for i := range n {
		c.waitUp(i)
	}
	return c
}

// start starts server i (again) on its ports and store.
func (c *natsCluster) start(i int) {
	c.t.Helper()
	o := *c.opts[i] // NewServer keeps and changes its options
	ns, err := server.NewServer(&o)
	if err != nil {
		c.t.Fatalf("nats server n%d: %v", i+1, err)
	}
	go ns.Start()
	c.mu.Lock()
	c.servers[i] = ns
	c.mu.Unlock()
}

func (c *natsCluster) waitUp(i int) {
	c.t.Helper()
	if !c.server(i).ReadyForConnections(30 * time.Second) {
		c.t.Fatalf("nats server n%d not ready", i+1)
	}
}

// stop shuts server i down (a crash of that node, as far as the cluster
// is concerned) and waits until it has stopped.
func (c *natsCluster) stop(i int) {
	c.mu.Lock()
	ns := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if ns != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}

func (c *natsCluster) server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i]
}

// url is every server's client URL, as --nats-url takes them.
func (c *natsCluster) url() string {
	var urls []string
	for _, o := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(urls, ",")
}

// streamLeader is the index of the server leading the gateway's stream, or
// -1 while none does.
func (c *natsCluster) streamLeader() int {
	for i := range c.opts {
		if ns := c.server(i); ns != nil && ns.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, streamName) {
			return i
		}
	}
	return -1
}

// streamCurrent reports whether server i runs and its replica of the
// stream has caught up with the leader.
func (c *natsCluster) streamCurrent(i int) bool {
	ns := c.server(i)
	return ns != nil && ns.JetStreamIsStreamCurrent(server.DEFAULT_GLOBAL_ACCOUNT, streamName)
}

// metaLeader reports whether some server leads the JetStream meta group,
// which a gateway needs to create its stream.
func (c *natsCluster) metaLeader() bool {
	for i := range c.opts {
		if ns := c.server(i); ns != nil && ns.JetStreamIsLeader() {
			return true
		}
	}
	return false
}
