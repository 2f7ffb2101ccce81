package server

import (
	"fmt"
	"net/http"
	"sort"
)

// metricsHandler writes the counters in the Prometheus text format.
func (s *Server) metricsHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	keys := make([]string, 0, len(s.ingest.sources))
	for k := range s.ingest.sources {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	counter := func(name, help string, get func(*Source) int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
		for _, k := range keys {
			src := s.ingest.sources[k]
			fmt.Fprintf(w, "%s{provider=%q,source=%q} %d\n", name, src.Provider, src.Name, get(src))
		}
	}
	counter("hookline_deliveries_accepted_total", "Deliveries answered 200.", func(s *Source) int64 { return s.stats.accepted.Load() })
	counter("hookline_deliveries_duplicate_total", "Accepted deliveries whose events were all stored already.", func(s *Source) int64 { return s.stats.duplicates.Load() })
	counter("hookline_deliveries_ping_total", "Liveness pings answered without storing.", func(s *Source) int64 { return s.stats.pings.Load() })
	counter("hookline_events_stored_total", "Events appended to the log.", func(s *Source) int64 { return s.stats.events.Load() })
	counter("hookline_events_unmapped_total", "Events stored as unmapped.", func(s *Source) int64 { return s.stats.unmapped.Load() })
	fmt.Fprintf(w, "# HELP hookline_deliveries_rejected_total Deliveries rejected, by error code.\n# TYPE hookline_deliveries_rejected_total counter\n")
	for _, k := range keys {
		src := s.ingest.sources[k]
		for i, code := range rejectCodes {
			fmt.Fprintf(w, "hookline_deliveries_rejected_total{provider=%q,source=%q,code=%q} %d\n", src.Provider, src.Name, code, src.stats.rejected[i].Load())
		}
	}
	ps, ss := s.pipeline.Stats(), s.subs.Stats()
	fmt.Fprintf(w, "# HELP hookline_index_applied_sequence Last log sequence applied to the local index.\n# TYPE hookline_index_applied_sequence gauge\nhookline_index_applied_sequence %d\n", ps.Applied)
	ids := ps.IDs
	fmt.Fprintf(w, "# HELP hookline_index_id_runs Run files of the index's id set.\n# TYPE hookline_index_id_runs gauge\nhookline_index_id_runs %d\n", ids.Runs)
	fmt.Fprintf(w, "# HELP hookline_index_ids_in_memory Ids in the id set's in-memory table, not yet in a run file.\n# TYPE hookline_index_ids_in_memory gauge\nhookline_index_ids_in_memory %d\n", ids.InMemory)
	fmt.Fprintf(w, "# HELP hookline_index_id_merge_failures_total Failed background merges of id runs (each is retried).\n# TYPE hookline_index_id_merge_failures_total counter\nhookline_index_id_merge_failures_total %d\n", ids.MergeFailures)
	fmt.Fprintf(w, "# HELP hookline_index_lag_seconds Age of the oldest event known to be in the log and not yet applied to the index.\n# TYPE hookline_index_lag_seconds gauge\nhookline_index_lag_seconds %.3f\n", ps.IndexLag.Seconds())
	lagging := 0
	if ps.Lagging {
		lagging = 1
	}
	fmt.Fprintf(w, "# HELP hookline_index_lagging 1 while webhooks get 503 because the index lags the log by more than the limit.\n# TYPE hookline_index_lagging gauge\nhookline_index_lagging %d\n", lagging)
	fmt.Fprintf(w, "# HELP hookline_subscribers Open subscriptions.\n# TYPE hookline_subscribers gauge\nhookline_subscribers %d\n", ss.Open)
	fmt.Fprintf(w, "# HELP hookline_subscribers_lagged_total Subscribers moved to catch-up from the log because they fell behind.\n# TYPE hookline_subscribers_lagged_total counter\nhookline_subscribers_lagged_total %d\n", ss.Lagged)
	fmt.Fprintf(w, "# HELP hookline_subscriptions_refused_total Subscriptions refused because the open-subscription limit was reached.\n# TYPE hookline_subscriptions_refused_total counter\nhookline_subscriptions_refused_total %d\n", ss.Refused)
	fmt.Fprintf(w, "# HELP hookline_api_unauthenticated_total Read API calls refused for a missing or invalid token.\n# TYPE hookline_api_unauthenticated_total counter\nhookline_api_unauthenticated_total %d\n", s.auth.refused.Load())
}
