package server

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/testkit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// idleClientEnv makes TestIdleSubscriberClients the client process of
// BenchmarkIdleSubscribersServerSide.
const idleClientEnv = "HOOKLINE_BENCH_IDLE_CLIENT"

// BenchmarkIdleSubscribersServerSide is BenchmarkIdleSubscribers with the
// clients in a process of their own (this test binary, run again as
// TestIdleSubscriberClients): 10 000 idle filtered Subscribe streams over
// four connections, and the server process's live heap and goroutine
// stacks before and after, both after a full GC. So the figure is the
// server's share alone.
//
// Metrics: server-bytes/sub, server-heap-bytes/sub, server-stack-bytes/sub,
// server-goroutines/sub.
func BenchmarkIdleSubscribersServerSide(b *testing.B) {
	const streams, conns = 10_000, 4
	e := newTestEnv(b, envOptions{})
	grpcAddr := strings.TrimPrefix(e.conn.Target(), "passthrough:///")
	var sum benchMemDelta
	for b.Loop() {
		before := benchMem()
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleSubscriberClients$", "-test.v")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%d", idleClientEnv, grpcAddr, streams, conns))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() && sc.Text() != "subscribed" {
		}
		testkit.WaitFor(b, time.Minute, "every subscription open", func() bool { return e.srv.subs.Stats().Open == streams })
		after := benchMem()
		stdin.Close() // the clients close their streams and exit
		if err := cmd.Wait(); err != nil {
			b.Fatalf("client process: %v", err)
		}
		testkit.WaitFor(b, time.Minute, "subscriptions closed", func() bool { return e.srv.subs.Stats().Open == 0 })
		sum = sum.add(after.sub(before))
	}
	n := float64(b.N * streams)
	b.ReportMetric(float64(sum.heap+sum.stack)/n, "server-bytes/sub")
	b.ReportMetric(float64(sum.heap)/n, "server-heap-bytes/sub")
	b.ReportMetric(float64(sum.stack)/n, "server-stack-bytes/sub")
	b.ReportMetric(float64(sum.goroutines)/n, "server-goroutines/sub")
}

// TestIdleSubscriberClients is the client process of
// BenchmarkIdleSubscribersServerSide; run on its own, it does nothing.
func TestIdleSubscriberClients(t *testing.T) {
	spec := os.Getenv(idleClientEnv)
	if spec == "" {
		return
	}
	parts := strings.Split(spec, ",")
	streams, _ := strconv.Atoi(parts[1])
	conns, _ := strconv.Atoi(parts[2])
	clients := make([]hooklinev1.EventServiceClient, conns)
	for i := range clients {
		cc, err := grpc.NewClient("passthrough:///"+parts[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		clients[i] = hooklinev1.NewEventServiceClient(cc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := benchParallel(16, streams, func(i int) error {
		_, err := benchSubscribe(ctx, clients[i%conns], &hooklinev1.SubscribeRequest{
			Filter: &hooklinev1.EventFilter{OrderIds: []string{"idle-order-" + strconv.Itoa(i)}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("subscribed")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the benchmark closes stdin
}
