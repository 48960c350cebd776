package admin

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

func testHolder(t *testing.T, version string) *router.Holder {
	t.Helper()
	cfg := router.DefaultConfiguration()
	cfg.Version = version
	cfg.Routes = map[string][]router.Candidate{"cards": {{PSP: "psp-a"}, {PSP: "psp-b"}}}
	cfg.DefaultRoute = "cards"
	r, err := router.New(cfg, []string{"psp-a", "psp-b"})
	if err != nil {
		t.Fatal(err)
	}
	return router.NewHolder(r)
}

// TestCollectorReadsSourcesAtScrape checks that every series read from the
// components' own counters shows their value at the time of the scrape.
func TestCollectorReadsSourcesAtScrape(t *testing.T) {
	counters := &fakeCounters{committed: 10, attempts: 12, failovers: 3, dead: 1, duplicates: 2, scheduled: 4, abort: 1,
		results: map[schemas.Status]int64{schemas.StatusApproved: 7, schemas.StatusDeclined: 2, "SOMETHING_NEW": 1}}
	holder := testHolder(t, "v42")
	src := Sources{
		Cluster:    embeddedCluster(t),
		Counters:   counters,
		InFlight:   fakeInFlight(5),
		Accounts:   fakeAccounts{"psp-a": {Kind: "simulator"}, "psp-b": {Kind: "simulator"}},
		Calls:      fakeCalls{"psp-a": {500, 42}},
		Assignment: AssignmentFunc(func() bool { return true }),
		Sink:       fakeSink(analytics.Stats{AttemptsInserted: 12, PaymentsInserted: 9, RequestsInserted: 10, Batches: 3, Committed: 25, Skipped: 1, InsertErrors: 2}),
		Router:     holder,
		Health: HealthFunc(func() []PSPHealth {
			return []PSPHealth{
				{PSP: "psp-a", State: "down", Since: time.Unix(200, 0)},
				{PSP: "psp-a", State: "up", Since: time.Unix(100, 0)}, // stale: an older state of the same scope
				{PSP: "psp-a", Scope: "EUR/visa", State: "probing", Since: time.Unix(150, 0)},
				{PSP: "psp-b", State: "up", Since: time.Unix(50, 0)},
			}
		}),
	}
	s, err := New(testConfig(), nil, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, s.Handler())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"payroute_processor_records_total", nil, 10},
		{"payroute_processor_attempts_total", nil, 12},
		{"payroute_failovers_total", nil, 3},
		{"payroute_dead_letters_total", nil, 1},
		{"payroute_duplicate_requests_total", nil, 2},
		{"payroute_retries_scheduled_total", nil, 4},
		{"payroute_transactions_aborted_total", nil, 1},
		{"payroute_payments_total", map[string]string{"status": "APPROVED"}, 7},
		{"payroute_payments_total", map[string]string{"status": "DECLINED"}, 2},
		{"payroute_payments_total", map[string]string{"status": "FAILED"}, 0},
		{"payroute_payments_total", map[string]string{"status": "SOMETHING_NEW"}, 1},
		{"payroute_payments_in_flight", nil, 5},
		{"payroute_psp_calls_running", map[string]string{"psp": "psp-a"}, 500},
		{"payroute_psp_calls_queued", map[string]string{"psp": "psp-a"}, 42},
		{"payroute_psp_calls_running", map[string]string{"psp": "psp-b"}, 0}, // idle PSPs show 0, not nothing
		{"payroute_psp_calls_queued", map[string]string{"psp": "psp-b"}, 0},
		{"payroute_processor_assigned", nil, 1},
		{"payroute_sink_stopped", nil, 0},
		{"payroute_sink_rows_total", map[string]string{"table": "attempts"}, 12},
		{"payroute_sink_rows_total", map[string]string{"table": "payments"}, 9},
		{"payroute_sink_rows_total", map[string]string{"table": "requests"}, 10},
		{"payroute_sink_batches_total", nil, 3},
		{"payroute_sink_records_skipped_total", nil, 1},
		{"payroute_sink_insert_errors_total", nil, 2},
		{"payroute_sink_records_committed_total", nil, 25},
		{"payroute_psp_health", map[string]string{"psp": "psp-a", "scope": "", "state": "down"}, 1},
		{"payroute_psp_health", map[string]string{"psp": "psp-a", "scope": "EUR/visa", "state": "probing"}, 1},
		{"payroute_psp_health", map[string]string{"psp": "psp-b", "scope": "", "state": "up"}, 1},
		{"payroute_config_info", map[string]string{"version": "v42"}, 1},
	} {
		got, ok := value(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := value(fams, "payroute_psp_health", map[string]string{"psp": "psp-a", "scope": "", "state": "up"}); ok {
		t.Error("a PSP and scope must show only its most recent state")
	}

	// Scrape time, not construction time: new values show at once.
	counters.mu.Lock()
	counters.failovers = 30
	counters.mu.Unlock()
	if err := holder.Swap(func() router.Configuration {
		c := holder.Current().Configuration()
		c.Version = "v43"
		return c
	}()); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, s.Handler())
	if got, _ := value(fams, "payroute_failovers_total", nil); got != 30 {
		t.Errorf("failovers after change = %v, want 30", got)
	}
	if _, ok := value(fams, "payroute_config_info", map[string]string{"version": "v43"}); !ok {
		t.Error("payroute_config_info does not follow the holder's swap")
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("Go runtime metrics missing")
	}
}

// TestNoSourcesNoSeries: an instance without a processor or sink exports
// none of their series rather than zeros that would read as "no traffic".
func TestNoSourcesNoSeries(t *testing.T) {
	s, err := New(testConfig(), nil, Sources{Cluster: embeddedCluster(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, s.Handler())
	for _, name := range []string{"payroute_processor_records_total", "payroute_payments_total", "payroute_sink_rows_total",
		"payroute_psp_health", "payroute_config_info", "payroute_processor_assigned"} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s exported without its source", name)
		}
	}
}

// TestAttemptTapAndClientMetrics produces AttemptRecorded records through a
// client of the cluster, as the processor does, and checks the per-PSP
// series and the console's live window count them once the broker has
// them; records of other topics are ignored, undecodable ones counted. It
// also checks each client gets kprom series of its own.
func TestAttemptTapAndClientMetrics(t *testing.T) {
	cluster := embeddedCluster(t)
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, testConfig(), Sources{Cluster: cluster, Decoder: serde})

	prod, err := cluster.NewClient(kgo.ConsumerGroup("some-group"), kgo.ConsumeTopics(cluster.Topics().Results))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	other, err := cluster.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	attempt := func(psp string, class schemas.Class, outcome schemas.Outcome, ms int64) *kgo.Record {
		v, err := serde.Encode(&schemas.AttemptRecorded{AttemptID: psp + string(class), PaymentID: "p", PSP: psp,
			Class: class, Outcome: outcome, LatencyMs: ms, Operation: schemas.OpAuthorize, Currency: "EUR", AmountMinor: 100})
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Topic: cluster.Topics().Attempts, Key: []byte("p"), Value: v}
	}
	recs := []*kgo.Record{
		attempt("psp-a", schemas.ClassNone, schemas.OutcomeApproved, 20),
		attempt("psp-a", schemas.ClassPSPError, schemas.OutcomeError, 300),
		attempt("psp-a", schemas.ClassPSPError, schemas.OutcomeError, 400),
		attempt("psp-b", schemas.ClassHardDecline, schemas.OutcomeDeclined, 50),
		{Topic: cluster.Topics().Attempts, Key: []byte("x"), Value: []byte("not avro")},
		{Topic: cluster.Topics().Results, Key: []byte("p"), Value: recsValue(t, serde)},
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, s.Handler())
	for _, c := range []struct {
		psp, class string
		want       float64
	}{{"psp-a", "none", 1}, {"psp-a", "psp_error", 2}, {"psp-b", "hard_decline", 1}} {
		if got, _ := value(fams, "payroute_psp_attempts_total", map[string]string{"psp": c.psp, "class": c.class}); got != c.want {
			t.Errorf("attempts %s/%s = %v, want %v", c.psp, c.class, got, c.want)
		}
	}
	if got, _ := value(fams, "payroute_psp_attempt_duration_seconds", map[string]string{"psp": "psp-a"}); got != 3 {
		t.Errorf("psp-a latency observations = %v, want 3", got)
	}
	if got, _ := value(fams, "payroute_psp_attempts_undecodable_total", nil); got != 1 {
		t.Errorf("undecodable = %v, want 1", got)
	}
	live := s.live.snapshot()
	if a := live["psp-a"]; a.Attempts != 3 || a.Approved != 1 || a.PSPErrors != 2 || a.MaxLatencyMs != 400 {
		t.Errorf("live psp-a = %+v", a)
	}
	if b := live["psp-b"]; b.Attempts != 1 || b.Declined != 1 {
		t.Errorf("live psp-b = %+v", b)
	}

	// kprom: the group client is labelled by its group; the admin port's
	// own client and the other group-less client have distinct labels.
	// franz-go runs the batch-written hook kprom counts in after it has
	// finished the records' promises, so ProduceSync may return first:
	// scrape until it has counted (or give up after 30 s).
	produced := func() (float64, bool) {
		return value(fams, "payroute_kafka_produce_records_total", map[string]string{"client": "some-group", "topic": cluster.Topics().Attempts})
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, ok := produced(); ok && got >= 5 {
			break
		}
		fams = scrape(t, s.Handler())
	}
	if got, ok := produced(); !ok || got != 5 {
		t.Errorf("kprom produce records of some-group to attempts = %v (present %v), want 5", got, ok)
	}
	labels := map[string]bool{}
	// kprom's buffered-records gauges exist for every live client.
	for _, m := range fams["payroute_kafka_buffered_produce_records_total"].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "client" {
				labels[l.GetValue()] = true
			}
		}
	}
	if !labels["client"] || !labels["client-2"] || !labels["some-group"] {
		t.Errorf("client labels %v: want client, client-2 and some-group", labels)
	}
	// A closed client's series go, and its label is free again.
	other.Close()
	again, err := cluster.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	fams = scrape(t, s.Handler())
	if _, ok := value(fams, "payroute_kafka_buffered_produce_records_total", map[string]string{"client": "client-3"}); ok {
		t.Error("a new client took client-3 although client-2 was freed")
	}
}

func recsValue(t *testing.T, serde interface{ Encode(any) ([]byte, error) }) []byte {
	t.Helper()
	v, err := serde.Encode(&schemas.PaymentResult{PaymentID: "p", Status: schemas.StatusApproved, Operation: schemas.OpAuthorize, Currency: "EUR", AmountMinor: 100})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
