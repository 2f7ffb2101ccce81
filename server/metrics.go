package server

import (
	"context"
	"net/http"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics: the Server exports its figures through client_golang on a
// registry of its own (never the global one, so that two Servers in one
// process, as in tests, do not collide). docs/metrics.md lists every
// metric; deploy/ holds a dashboard and alert rules built on them, and
// TestDeployFilesUseExportedMetrics checks that each one they name exists.
//
// Three kinds:
//   - per-source counters and the webhook histogram, updated on the ingest
//     path through handles resolved once per source (sourceMetrics), so a
//     delivery costs atomic adds and no label lookup;
//   - histograms of the pipeline and the subscriptions, fed by their hooks
//     (pipeline.Config.OnIndexApply, subscription.Config.OnLiveSend);
//   - gauges read at scrape time from the owners' Stats (stateCollector),
//     including the stream's figures, which cost one request to NATS per
//     scrape.

// latencyBuckets are the buckets of every latency histogram, in seconds:
// from half a millisecond (an append on a quiet machine) to ten seconds
// (the append timeout's order of magnitude).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// batchBuckets are the buckets of the index commit sizes, in events.
var batchBuckets = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}

// Outcomes of a delivery (the outcome label of
// hookline_webhook_duration_seconds): the three kinds of 200 answer, then
// the rejection codes in rejectCodes' order.
const (
	outcomeAccepted = iota
	outcomeDuplicate
	outcomePing
	outcomeRejected // + rejectIndex(code)
	numOutcomes     = outcomeRejected + len(rejectCodes)
)

func outcomeName(i int) string {
	switch i {
	case outcomeAccepted:
		return "accepted"
	case outcomeDuplicate:
		return "duplicate"
	case outcomePing:
		return "ping"
	}
	return rejectCodes[i-outcomeRejected]
}

// Outcomes of one Store call (hookline_append_duration_seconds).
const (
	appendStored = iota
	appendDuplicate
	appendFailed
	numAppendOutcomes
)

var appendOutcomes = [numAppendOutcomes]string{"stored", "duplicate", "failed"}

// Transports of a subscription (the transport label).
var transports = [...]string{transportGRPC, transportREST, transportSSE}

const (
	transportGRPC = "grpc"
	transportREST = "rest"
	transportSSE  = "sse"
)

// deliveryMetrics is what the webhook endpoints record. promDeliveries is
// the one the gateway uses; the benchmark of its cost compares it with
// the plain counters /metrics had before (BenchmarkIngestMetrics).
type deliveryMetrics interface {
	// delivered records one answered delivery of src with its outcome.
	delivered(src *Source, outcome int, took time.Duration)
	// stored records one event of src newly appended to the log.
	stored(src *Source, ev *hooklinev1.Event)
	// appended records one Store call.
	appended(outcome int, took time.Duration)
}

// sourceMetrics are one source's handles.
type sourceMetrics struct {
	accepted, duplicates, pings, events, unmapped prometheus.Counter
	rejected                                      [len(rejectCodes)]prometheus.Counter
	handling                                      [numOutcomes]prometheus.Observer
}

// promDeliveries records deliveries on client_golang metrics.
type promDeliveries struct {
	sources map[*Source]*sourceMetrics // read-only after newPromDeliveries
	append  [numAppendOutcomes]prometheus.Observer
}

func newPromDeliveries(reg prometheus.Registerer, sources map[string]*Source) *promDeliveries {
	labels := []string{"provider", "source"}
	counter := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		reg.MustRegister(c)
		return c
	}
	accepted := counter("hookline_deliveries_accepted_total", "Deliveries answered 200 (new, duplicate or ping).")
	duplicates := counter("hookline_deliveries_duplicate_total", "Accepted deliveries whose events were all stored already.")
	pings := counter("hookline_deliveries_ping_total", "Liveness pings answered without storing.")
	events := counter("hookline_events_stored_total", "Events appended to the log.")
	unmapped := counter("hookline_events_unmapped_total", "Events stored as unmapped.")
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookline_deliveries_rejected_total", Help: "Deliveries rejected, by error code.",
	}, []string{"provider", "source", "code"})
	handling := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hookline_webhook_duration_seconds",
		Help:    "Time from a delivery's arrival to its answer, by outcome (accepted, duplicate, ping, or the rejection code).",
		Buckets: latencyBuckets,
	}, []string{"provider", "source", "outcome"})
	appendTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hookline_append_duration_seconds",
		Help:    "Time to store one event: the de-duplication lookup and, for a new event, the acknowledged JetStream append.",
		Buckets: latencyBuckets,
	}, []string{"outcome"})
	reg.MustRegister(rejected, handling, appendTime)

	m := &promDeliveries{sources: map[*Source]*sourceMetrics{}}
	for i, o := range appendOutcomes {
		m.append[i] = appendTime.WithLabelValues(o)
	}
	for _, src := range sources {
		sm := &sourceMetrics{
			accepted: accepted.WithLabelValues(src.Provider, src.Name), duplicates: duplicates.WithLabelValues(src.Provider, src.Name),
			pings: pings.WithLabelValues(src.Provider, src.Name), events: events.WithLabelValues(src.Provider, src.Name),
			unmapped: unmapped.WithLabelValues(src.Provider, src.Name),
		}
		for i, code := range rejectCodes {
			sm.rejected[i] = rejected.WithLabelValues(src.Provider, src.Name, code)
		}
		for i := range numOutcomes {
			sm.handling[i] = handling.WithLabelValues(src.Provider, src.Name, outcomeName(i))
		}
		m.sources[src] = sm
	}
	return m
}

func (m *promDeliveries) delivered(src *Source, outcome int, took time.Duration) {
	sm := m.sources[src]
	switch {
	case outcome >= outcomeRejected:
		sm.rejected[outcome-outcomeRejected].Inc()
	case outcome == outcomePing:
		sm.accepted.Inc()
		sm.pings.Inc()
	case outcome == outcomeDuplicate:
		sm.accepted.Inc()
		sm.duplicates.Inc()
	default:
		sm.accepted.Inc()
	}
	sm.handling[outcome].Observe(took.Seconds())
}

func (m *promDeliveries) stored(src *Source, ev *hooklinev1.Event) {
	sm := m.sources[src]
	sm.events.Inc()
	if ev.GetType() == hooklinev1.EventType_EVENT_TYPE_UNMAPPED {
		sm.unmapped.Inc()
	}
}

func (m *promDeliveries) appended(outcome int, took time.Duration) {
	m.append[outcome].Observe(took.Seconds())
}

// serverMetrics are the Server's registry and the histograms fed by the
// pipeline's and the subscriptions' hooks.
type serverMetrics struct {
	reg        *prometheus.Registry
	endToEnd   [len(transports)]prometheus.Observer
	applyTime  prometheus.Histogram
	applySizes prometheus.Histogram
}

func newServerMetrics() *serverMetrics {
	m := &serverMetrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	endToEnd := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hookline_event_delivery_seconds",
		Help:    "Time from the gateway's receipt of a delivery (just before its append) to the send of its event to a live subscriber, by transport.",
		Buckets: latencyBuckets,
	}, []string{"transport"})
	m.applyTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "hookline_index_apply_duration_seconds", Help: "Time of one index commit (a bbolt transaction and the id set).",
		Buckets: latencyBuckets,
	})
	m.applySizes = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "hookline_index_apply_batch_events", Help: "Events applied by one index commit.", Buckets: batchBuckets,
	})
	m.reg.MustRegister(endToEnd, m.applyTime, m.applySizes)
	for i, t := range transports {
		m.endToEnd[i] = endToEnd.WithLabelValues(t)
	}
	return m
}

// onIndexApply is the pipeline's OnIndexApply hook.
func (m *serverMetrics) onIndexApply(events int, took time.Duration) {
	m.applyTime.Observe(took.Seconds())
	m.applySizes.Observe(float64(events))
}

// onLiveSend is the subscriptions' OnLiveSend hook.
func (m *serverMetrics) onLiveSend(transport string, ev *hooklinev1.Event) {
	for i, t := range transports {
		if t == transport {
			m.endToEnd[i].Observe(time.Since(ev.GetReceiveTime().AsTime()).Seconds())
			return
		}
	}
}

// stateCollector reports the gauges and the counters other types keep,
// read from their Stats at each scrape.
type stateCollector struct {
	s *Server

	applied, indexLag, lagging, idRuns, idsInMemory, idRecords, idMergeFailures *prometheus.Desc
	subscribers, maxLagEvents, maxLagSeconds, lagged, refused                   *prometheus.Desc
	apiRefused, adminRefused                                                    *prometheus.Desc
	storeUp, streamMessages, streamBytes, streamFirst, streamLast, subjects     *prometheus.Desc
}

func newStateCollector(s *Server) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &stateCollector{
		s:               s,
		applied:         d("hookline_index_applied_sequence", "Last log sequence applied to the local index."),
		indexLag:        d("hookline_index_lag_seconds", "Age of the oldest event known to be in the log and not yet applied to the index."),
		lagging:         d("hookline_index_lagging", "1 while webhooks get 503 because the index lags the log by more than the limit."),
		idRuns:          d("hookline_index_id_runs", "Run files of the index's id set."),
		idsInMemory:     d("hookline_index_ids_in_memory", "Ids in the id set's in-memory table, not yet in a run file."),
		idRecords:       d("hookline_index_id_records", "Id records in the id set's run files (an id replayed after a crash counts twice until merged)."),
		idMergeFailures: d("hookline_index_id_merge_failures_total", "Failed background merges of id runs (each is retried)."),
		subscribers:     d("hookline_subscribers", "Open subscriptions, by transport.", "transport"),
		maxLagEvents:    d("hookline_subscriber_max_lag_events", "Events the most lagging open subscription has yet to send (while catching up: every event up to its join point, matching or not)."),
		maxLagSeconds:   d("hookline_subscriber_max_lag_seconds", "Among open subscriptions with events yet to send, the largest age of the newest event sent to one."),
		lagged:          d("hookline_subscribers_lagged_total", "Subscribers moved to catch-up from the log because they fell behind."),
		refused:         d("hookline_subscriptions_refused_total", "Subscriptions refused because the open-subscription limit was reached."),
		apiRefused:      d("hookline_api_unauthenticated_total", "Read API calls refused for a missing or invalid token."),
		adminRefused:    d("hookline_admin_unauthenticated_total", "Admin API calls refused for a missing or invalid admin token."),
		storeUp:         d("hookline_store_up", "1 when the event store answered this scrape's stream info request, else 0 (and no hookline_stream_* figures)."),
		streamMessages:  d("hookline_stream_messages", "Messages (events) in the JetStream stream."),
		streamBytes:     d("hookline_stream_bytes", "Bytes the JetStream stream holds."),
		streamFirst:     d("hookline_stream_first_sequence", "First sequence in the stream (the oldest retained event)."),
		streamLast:      d("hookline_stream_last_sequence", "Last sequence in the stream (the newest event)."),
		subjects:        d("hookline_stream_subjects", "Distinct subjects in the stream."),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

// streamStatsTimeout bounds the scrape's request to the store.
const streamStatsTimeout = 2 * time.Second

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	count := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	ps := c.s.pipeline.Stats()
	gauge(c.applied, float64(ps.Applied))
	gauge(c.indexLag, ps.IndexLag.Seconds())
	gauge(c.lagging, boolFloat(ps.Lagging))
	gauge(c.idRuns, float64(ps.IDs.Runs))
	gauge(c.idsInMemory, float64(ps.IDs.InMemory))
	gauge(c.idRecords, float64(ps.IDs.InRuns))
	count(c.idMergeFailures, float64(ps.IDs.MergeFailures))

	ss := c.s.subs.Stats()
	for _, t := range transports {
		gauge(c.subscribers, float64(ss.OpenBy[t]), t)
	}
	gauge(c.maxLagEvents, float64(ss.MaxLagEvents))
	gauge(c.maxLagSeconds, ss.MaxLagAge.Seconds())
	count(c.lagged, float64(ss.Lagged))
	count(c.refused, float64(ss.Refused))
	count(c.apiRefused, float64(c.s.auth.refused.Load()))
	count(c.adminRefused, float64(c.s.admin.refused.Load()))

	ctx, cancel := context.WithTimeout(context.Background(), streamStatsTimeout)
	defer cancel()
	st, err := c.s.log.StreamStats(ctx)
	gauge(c.storeUp, boolFloat(err == nil))
	if err != nil {
		return
	}
	gauge(c.streamMessages, float64(st.Messages))
	gauge(c.streamBytes, float64(st.Bytes))
	gauge(c.streamFirst, float64(st.FirstSeq))
	gauge(c.streamLast, float64(st.LastSeq))
	gauge(c.subjects, float64(st.Subjects))
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricsHandler serves /metrics in the Prometheus exposition formats.
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{Registry: s.metrics.reg})
}
