package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/grpc/metadata"
)

// benchReprocessEvents is how many stored events the reprocess run of
// BenchmarkIngestDuringReprocess covers.
const benchReprocessEvents = 100_000

// BenchmarkIngestDuringReprocess measures what a reprocess run costs
// webhooks: 100 000 stored Truv events whose mapping is out of date (a
// status the old mapping did not know, now COMPLETED) are reprocessed at
// the gateway's default rate (1 000 events/s), each appending a corrected event, while
// signed webhooks arrive open loop at 1 000/s; the same webhooks without a
// run, in the same process, are the baseline. Each iteration sends 2 000
// webhooks in each phase.
//
// Metrics: p99-ms (webhooks during the run), baseline-p99-ms,
// ratio-p99-vs-baseline, reprocessed-events/s.
func BenchmarkIngestDuringReprocess(b *testing.B) {
	e := newProviderEnv(b, envOptions{cfg: func(c *Config) {
		src := c.Sources[0]
		c.Sources[0] = &Source{Provider: src.Provider, Name: src.Name, Adapter: src.Adapter, MappingVersion: 2}
		c.AdminTokens = []string{adminToken}
	}})
	truvAdapter := e.srv.ingest.sources["truv/default"].Adapter
	ctx := context.Background()
	err := benchParallel(32, benchReprocessEvents, func(i int) error {
		body := truvOrderBody(fmt.Sprintf("rp%030d", i), fmt.Sprintf("rp-order-%d", i), "completed", "2026-01-02T03:04:05Z")
		res, err := truvAdapter.Normalize(&adapters.Delivery{Header: http.Header{"Content-Type": {"application/json"}}, Body: body,
			ReceiveTime: time.Now(), ID: "bench"})
		if err != nil {
			return err
		}
		ev := res.Events[0]
		ev.MappingVersion = 1
		ev.GetOrder().Status = hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN // what version 1 made of it
		_, err = e.log.Append(ctx, ev)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	benchCaughtUp(b, e)
	client := newBenchClient(benchPacedWorkers)
	defer client.CloseIdleConnections()
	url := e.httpURL + "/webhooks/truv"
	admin := hooklinev1.NewAdminServiceClient(e.conn)
	const perPhase = 2000

	var during, baseline []time.Duration
	var reprocessed uint64
	var runTime time.Duration
	n := 0
	for b.Loop() {
		lat, _, err := benchPaced(client, url, newBenchLoad(fmt.Sprintf("base%d", n), perPhase), 1000)
		if err != nil {
			b.Fatal(err)
		}
		baseline = append(baseline, lat...)

		rctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminToken))
		st, err := admin.Reprocess(rctx, &hooklinev1.ReprocessRequest{MappingVersionBelow: 2})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan *hooklinev1.ReprocessProgress, 1)
		go func() {
			var last *hooklinev1.ReprocessProgress
			for {
				f, err := st.Recv()
				if err != nil {
					done <- last
					return
				}
				if p := f.GetProgress(); p != nil {
					last = p
				}
			}
		}()
		start := time.Now()
		time.Sleep(time.Second) // let the run reach its pace
		lat, _, err = benchPaced(client, url, newBenchLoad(fmt.Sprintf("during%d", n), perPhase), 1000)
		if err != nil {
			b.Fatal(err)
		}
		during = append(during, lat...)
		cancel()
		p := <-done
		runTime += time.Since(start)
		reprocessed += p.GetScanned()
		if n == 0 && p.GetCorrected() == 0 || p.GetFailed() > 0 {
			b.Fatalf("the run corrected %d events, %d failed; want corrections", p.GetCorrected(), p.GetFailed())
		}
		n++
	}
	slices.Sort(during)
	slices.Sort(baseline)
	p99, base := benchMS(benchQuantile(during, 0.99)), benchMS(benchQuantile(baseline, 0.99))
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(base, "baseline-p99-ms")
	b.ReportMetric(p99/base, "ratio-p99-vs-baseline")
	b.ReportMetric(float64(reprocessed)/runTime.Seconds(), "reprocessed-events/s")
}
