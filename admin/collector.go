package admin

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payroute/payroute/schemas"
)

// sourceCollector exports the counters the processor and the sink keep
// themselves, the PSP health states and the routing version, reading them
// at scrape time: nothing is copied between scrapes, so the series cannot
// drift from the components' own counts.
type sourceCollector struct {
	src Sources
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descCommitted = desc("payroute_processor_records_total",
		"Input records whose processing the processor committed (requests, retries, actions, follow-ups).")
	descAttempts = desc("payroute_processor_attempts_total",
		"PSP attempts in committed processor batches.")
	descFailovers = desc("payroute_failovers_total",
		"Payments moved to their next-ranked PSP after a PSP-side failure.")
	descDeadLettered = desc("payroute_dead_letters_total",
		"Records sent to payments.dlq.")
	descDuplicates = desc("payroute_duplicate_requests_total",
		"Duplicate PaymentRequested records answered from payment state.")
	descScheduled = desc("payroute_retries_scheduled_total",
		"Retries scheduled through the delay tiers (retry rules).")
	descAborted = desc("payroute_transactions_aborted_total",
		"Processor batches whose Kafka transaction aborted (they are processed again).")
	descRestarts = desc("payroute_processor_restarts_total",
		"Times the processor restarted its Kafka session after an error it could not retry in place (the log says which).")
	descPayments = desc("payroute_payments_total",
		"Payment results published, by status (ACTION_REQUIRED counts when published; the payment's final result counts again).",
		"status")
	descInFlight = desc("payroute_payments_in_flight",
		"Payments this instance holds without a final result.")
	descCallsRunning = desc("payroute_psp_calls_running",
		"PSP calls under way on this instance, by PSP; at most processor.max_in_flight_per_psp each and processor.max_in_flight in all.", "psp")
	descCallsQueued = desc("payroute_psp_calls_queued",
		"PSP calls waiting for a slot on this instance, by PSP (a PSP whose calls run at its bound while this grows is slow or hung).", "psp")
	descAssigned = desc("payroute_processor_assigned",
		"1 when the processor has joined its group and restored its partitions' state, else 0.")
	descSinkRows = desc("payroute_sink_rows_total",
		"Rows the analytics sink inserted into ClickHouse, by table.", "table")
	descSinkBatches = desc("payroute_sink_batches_total",
		"Inserts (batches) that reached ClickHouse; rows per batch is rate(payroute_sink_rows_total) / rate(payroute_sink_batches_total).")
	descSinkSkipped = desc("payroute_sink_records_skipped_total",
		"Records the sink could not decode and skipped.")
	descSinkInsertErrors = desc("payroute_sink_insert_errors_total",
		"Failed ClickHouse inserts (each is retried).")
	descSinkStopped = desc("payroute_sink_stopped",
		"1 when the analytics sink stopped on its own rather than lose rows (a record this build cannot read, a topic that was recreated: /readyz and the log say which, and what to do), else 0.")
	descSinkCommitted = desc("payroute_sink_records_committed_total",
		"Records whose offsets the sink committed: loaded, or skipped, for good.")
	descHealth = desc("payroute_psp_health",
		"1 for the current health state (HEALTHY, DOWN, PROBING) of a PSP in a scope (scope=\"*\": the whole account).",
		"psp", "scope", "state")
	descHealthTransitions = desc("payroute_psp_health_transitions_total",
		"PSP scopes entering a health state, decided here or adopted from psp.health.", "state")
	descHealthProbes = desc("payroute_psp_health_probes_total",
		"Payments let through to a probing PSP to test its recovery.")
	descHealthReordered = desc("payroute_psp_health_reordered_total",
		"Payments whose PSP order the health tracker changed (a PSP down or probing).")
	descConfig = desc("payroute_config_info",
		"1, labelled with the routing configuration version in force.", "version")
)

func (c sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descCommitted, descAttempts, descFailovers, descDeadLettered, descDuplicates, descScheduled,
		descAborted, descRestarts, descPayments, descInFlight, descCallsRunning, descCallsQueued, descAssigned, descSinkRows, descSinkBatches,
		descSinkSkipped, descSinkInsertErrors, descSinkCommitted, descSinkStopped, descHealth, descHealthTransitions,
		descHealthProbes, descHealthReordered, descConfig,
	} {
		ch <- d
	}
}

func (c sourceCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if s := c.src.Counters; s != nil {
		counter(descCommitted, s.Committed())
		counter(descAttempts, s.Attempts())
		counter(descFailovers, s.Failovers())
		counter(descDeadLettered, s.DeadLettered())
		counter(descDuplicates, s.Duplicates())
		counter(descScheduled, s.Scheduled())
		counter(descAborted, s.Aborted())
		counter(descRestarts, s.Restarts())
		results := s.Results()
		// Every status is exported from the start, so rate() and alerts
		// see a 0 before the first result of a status.
		for _, st := range schemas.Statuses {
			counter(descPayments, results[st], string(st))
		}
		for st, n := range results {
			if !knownStatus(st) {
				counter(descPayments, n, string(st))
			}
		}
	}
	if c.src.InFlight != nil {
		gauge(descInFlight, float64(c.src.InFlight.InFlight()))
	}
	if c.src.Calls != nil && c.src.Accounts != nil {
		for _, name := range c.src.Accounts.Names() {
			running, queued := c.src.Calls.Calls(name)
			gauge(descCallsRunning, float64(running), name)
			gauge(descCallsQueued, float64(queued), name)
		}
	}
	if c.src.Assignment != nil {
		v := 0.0
		if c.src.Assignment.Assigned() {
			v = 1
		}
		gauge(descAssigned, v)
	}
	if c.src.Sink != nil {
		st := c.src.Sink.Stats()
		counter(descSinkRows, st.AttemptsInserted, "attempts")
		counter(descSinkRows, st.PaymentsInserted, "payments")
		counter(descSinkRows, st.RequestsInserted, "requests")
		counter(descSinkBatches, st.Batches)
		counter(descSinkSkipped, st.Skipped)
		counter(descSinkInsertErrors, st.InsertErrors)
		counter(descSinkCommitted, st.Committed)
		stopped := 0.0
		if st.Stopped != "" {
			stopped = 1
		}
		gauge(descSinkStopped, stopped)
	}
	if c.src.Health != nil {
		seen := map[[2]string]bool{}
		states := c.src.Health.PSPHealth()
		sort.SliceStable(states, func(i, j int) bool { return states[i].Since.After(states[j].Since) })
		for _, h := range states {
			// One state per PSP and scope: the most recent, should a
			// source report a stale one too.
			k := [2]string{h.PSP, h.Scope}
			if seen[k] {
				continue
			}
			seen[k] = true
			gauge(descHealth, 1, h.PSP, h.Scope, h.State)
		}
	}
	if hc := c.src.HealthCounters; hc != nil {
		st := hc.Stats()
		counter(descHealthTransitions, st.ToHealthy, string(schemas.HealthHealthy))
		counter(descHealthTransitions, st.ToDown, string(schemas.HealthDown))
		counter(descHealthTransitions, st.ToProbing, string(schemas.HealthProbing))
		counter(descHealthProbes, st.Probes)
		counter(descHealthReordered, st.Reordered)
	}
	if c.src.Router != nil {
		gauge(descConfig, 1, c.src.Router.Current().Version())
	}
}

func knownStatus(st schemas.Status) bool {
	for _, s := range schemas.Statuses {
		if s == st {
			return true
		}
	}
	return false
}
