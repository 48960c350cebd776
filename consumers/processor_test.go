package consumers_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/kafka/kafkatest"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/simulator"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// stack is processors on an embedded broker with simulated PSPs.
type stack struct {
	kcfg    kafka.Configuration
	cluster *kafka.Cluster
	emb     *kafka.Embedded
	sim     *simulator.Server
	reg     *psp.Registry
	router  *router.Router
	serde   *schemas.Serde
	records *producers.Records
	proc    *consumers.Processor
	client  *kgo.Client
	// connectors, when set, are what processors call instead of reg.
	connectors consumers.Connectors
}

// stackOptions shape a stack; the zero value is the default.
type stackOptions struct {
	profiles   map[string]simulator.Profile // extra or replaced simulated PSPs
	delayTiers []time.Duration
	retryRules []router.RetryRule
	processor  func(*consumers.Configuration)
	noStart    bool  // do not start a processor
	partitions int32 // 3 unless set
}

func newStack(t *testing.T, mutate func(*consumers.Configuration)) *stack {
	return newStackWith(t, stackOptions{processor: mutate})
}

func newStackWith(t *testing.T, o stackOptions) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kcfg := kafka.DefaultConfiguration()
	kcfg.Partitions = 3
	if o.partitions > 0 {
		kcfg.Partitions = o.partitions
	}
	if o.delayTiers != nil {
		kcfg.RetryDelayTiers = o.delayTiers
	}
	cluster, emb := kafkatest.Cluster(t, kcfg)
	fast := simulator.Profile{Latency: time.Millisecond}
	profiles := map[string]simulator.Profile{
		"psp-a": fast, "psp-b": fast,
		"test-failure": {Preset: "test-failure"}, "test-success": {Preset: "test-success"},
	}
	for name, prof := range o.profiles {
		profiles[name] = prof
	}
	sim, err := simulator.New(simulator.Configuration{Listen: "127.0.0.1:0", Seed: 7, MaxHold: 5 * time.Second, PSPs: profiles},
		simulator.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Stop(context.Background()) })
	reg, err := psp.NewRegistry(sim.RegistryConfiguration(300 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rcfg := router.DefaultConfiguration()
	rcfg.Version = "v-test"
	rcfg.Routes = map[string][]router.Candidate{"Route_portone": {{PSP: "psp-a"}, {PSP: "psp-b"}}}
	rcfg.RetryRules = o.retryRules
	r, err := router.New(rcfg, reg.Names())
	if err != nil {
		t.Fatal(err)
	}
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	client, err := cluster.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	s := &stack{kcfg: kcfg, cluster: cluster, emb: emb, sim: sim, reg: reg, router: r, serde: serde,
		records: producers.NewRecords(serde, cluster.Topics()), client: client}
	if !o.noStart {
		s.proc = s.startProcessor(t, o.processor)
	}
	return s
}

// partitionOf is the partition of payments.requested that a payment's
// records go to (keyed by payment id, as producers publish them).
func (s *stack) partitionOf(id string) int32 {
	p := kgo.StickyKeyPartitioner(nil).ForTopic(s.cluster.Topics().Requested)
	return int32(p.Partition(&kgo.Record{Key: []byte(id)}, int(s.kcfg.Partitions)))
}

// startProcessor starts one more processor in the stack's group.
func (s *stack) startProcessor(t *testing.T, mutate func(*consumers.Configuration)) *consumers.Processor {
	t.Helper()
	return s.startProcessorWith(t, mutate, nil)
}

// startProcessorWith is startProcessor with a hook run before Start.
func (s *stack) startProcessorWith(t *testing.T, mutate func(*consumers.Configuration), before func(*consumers.Processor)) *consumers.Processor {
	t.Helper()
	ccfg := consumers.DefaultConfiguration()
	ccfg.InDoubtWindow = 3 * time.Second
	ccfg.InDoubtInitialInterval = 50 * time.Millisecond
	ccfg.TransactionTimeout = 10 * time.Second
	if mutate != nil {
		mutate(&ccfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var conns consumers.Connectors = s.reg
	if s.connectors != nil {
		conns = s.connectors
	}
	proc, err := consumers.New(ccfg, s.cluster, s.serde, s.records, s.router, conns, log)
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(proc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := proc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := proc.Stop(context.Background()); err != nil {
			t.Errorf("processor stopped with %v", err)
		}
	})
	return proc
}

func payment(id, token string, candidates ...string) *schemas.PaymentRequested {
	p := &schemas.PaymentRequested{
		PaymentID: id, MerchantID: "m-1", Operation: schemas.OpCharge, AmountMinor: 1250, Currency: "EUR",
		PaymentMethod: schemas.PaymentMethod{Token: token, Type: "card", Network: "visa", BIN: "424242", Last4: "4242"},
		RequestedAtMs: time.Now().UnixMilli(),
	}
	for i, c := range candidates {
		p.Routing.Candidates = append(p.Routing.Candidates, schemas.Candidate{PSP: c, Method: "card", Rank: int32(i + 1)})
	}
	return p
}

func (s *stack) publish(t *testing.T, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func (s *stack) request(t *testing.T, p *schemas.PaymentRequested) *kgo.Record {
	t.Helper()
	rec, err := s.records.Requested(p)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// readTopic reads a topic from the start, read_committed, until want records
// arrived or the deadline passed, and then a little longer to catch extras.
func (s *stack) readTopic(t *testing.T, topic string, want int) []*kgo.Record {
	t.Helper()
	return kafkatest.Read(t, s.cluster, topic, kafkatest.AtLeast(want))
}

// results reads payments.results until want payments have a final result
// and fails on a second final result for any payment. Replays (answers to
// duplicate requests, marked with HeaderReplay) and ACTION_REQUIRED (not
// final) are returned apart.
func (s *stack) results(t *testing.T, want int) map[string]schemas.PaymentResult {
	t.Helper()
	final, _ := s.resultsAndReplays(t, want)
	return final
}

func (s *stack) resultsAndReplays(t *testing.T, want int) (final map[string]schemas.PaymentResult, others []schemas.PaymentResult) {
	t.Helper()
	isFinal := func(r *kgo.Record, res schemas.PaymentResult) bool {
		return producers.HeaderValue(r, consumers.HeaderReplay) == "" && res.Status != schemas.StatusActionRequired
	}
	decode := func(r *kgo.Record) schemas.PaymentResult {
		var res schemas.PaymentResult
		if err := s.serde.Decode(r.Value, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	recs := kafkatest.Read(t, s.cluster, s.cluster.Topics().Results, func(recs []*kgo.Record) bool {
		ids := map[string]bool{}
		for _, r := range recs {
			if res := decode(r); isFinal(r, res) {
				ids[res.PaymentID] = true
			}
		}
		return len(ids) >= want
	})
	final = map[string]schemas.PaymentResult{}
	for _, r := range recs {
		res := decode(r)
		if string(r.Key) != res.PaymentID {
			t.Errorf("result key %q for payment %q", r.Key, res.PaymentID)
		}
		if !isFinal(r, res) {
			others = append(others, res)
			continue
		}
		if prev, dup := final[res.PaymentID]; dup {
			t.Errorf("payment %s has two final results: %s then %s", res.PaymentID, prev.Status, res.Status)
		}
		final[res.PaymentID] = res
	}
	if len(final) != want {
		t.Fatalf("got final results for %d payments, want %d", len(final), want)
	}
	return final, others
}

func pathPSPs(res schemas.PaymentResult) []string {
	var out []string
	for _, a := range res.Path {
		out = append(out, a.PSP)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSeedScenarios runs the PortOne scenario table (seed 000) and the
// Orchestra failover test (seed 001) through Kafka and the simulator.
func TestSeedScenarios(t *testing.T) {
	s := newStack(t, nil)
	cases := []struct {
		name       string
		p          *schemas.PaymentRequested
		status     schemas.Status
		psp        string
		path       []string
		class      schemas.Class
		retryTopic bool
	}{
		{"portone happy path", payment("p-happy", "tok_approve", "psp-a", "psp-b"), schemas.StatusApproved, "psp-a", []string{"psp-a"}, "", false},
		{"portone primary fails, secondary approves", payment("p-failover", "tok_fail_at_psp-a", "psp-a", "psp-b"), schemas.StatusApproved, "psp-b", []string{"psp-a", "psp-b"}, "", true},
		{"portone secondary also fails", payment("p-both-fail", "tok_psp_503", "psp-a", "psp-b"), schemas.StatusFailed, "psp-b", []string{"psp-a", "psp-b"}, schemas.ClassPSPError, true},
		{"portone user error stays on the same PSP", payment("p-user-error", "tok_customer_error", "psp-a", "psp-b"), schemas.StatusActionRequired, "psp-a", []string{"psp-a"}, schemas.ClassCustomerError, false},
		{"orchestra two failing gateways then success", payment("p-orchestra", "tok_approve", "test-failure", "test-failure", "test-success"), schemas.StatusApproved, "test-success", []string{"test-failure", "test-failure", "test-success"}, "", true},
		{"hard decline never fails over", payment("p-hard", "tok_hard_decline", "psp-a", "psp-b"), schemas.StatusDeclined, "psp-a", []string{"psp-a"}, schemas.ClassHardDecline, false},
		{"soft decline is declined with retry advice", payment("p-soft", "tok_soft_decline", "psp-a", "psp-b"), schemas.StatusDeclined, "psp-a", []string{"psp-a"}, schemas.ClassSoftDecline, false},
		{"rate limit fails over", payment("p-429", "tok_rate_limited", "psp-a", "test-success"), schemas.StatusApproved, "test-success", []string{"psp-a", "test-success"}, "", true},
		{"route_ref", func() *schemas.PaymentRequested {
			p := payment("p-route-ref", "tok_fail_at_psp-a")
			p.Routing.RouteRef = "Route_portone"
			return p
		}(), schemas.StatusApproved, "psp-b", []string{"psp-a", "psp-b"}, "", true},
	}
	var recs []*kgo.Record
	for _, c := range cases {
		recs = append(recs, s.request(t, c.p))
	}
	s.publish(t, recs...)
	// The user-error payment waits for the customer: its ACTION_REQUIRED is
	// not final.
	results, others := s.resultsAndReplays(t, len(cases)-1)
	for _, r := range others {
		results[r.PaymentID] = r
	}
	attempts := map[string]int{}
	for _, r := range s.readTopic(t, s.cluster.Topics().Attempts, 15) {
		var a schemas.AttemptRecorded
		if err := s.serde.Decode(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		attempts[a.PaymentID]++
		if a.ConfigVersion != "v-test" || a.IdempotencyKey == "" {
			t.Errorf("attempt %s: config version %q, idempotency key %q", a.AttemptID, a.ConfigVersion, a.IdempotencyKey)
		}
	}
	// Every failover went through payments.retry.rank-2, as an AttemptFailed
	// naming the failure that caused it; nothing else did.
	viaRetry := map[string]schemas.Class{}
	wantRetries := 0
	for _, c := range cases {
		if c.retryTopic {
			wantRetries++
		}
	}
	for _, r := range s.readTopic(t, s.cluster.Topics().Retry[2], wantRetries) {
		var f schemas.AttemptFailed
		if err := s.serde.Decode(r.Value, &f); err != nil {
			t.Fatal(err)
		}
		viaRetry[f.PaymentID] = f.Failure.Class
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, ok := results[c.p.PaymentID]
			if !ok {
				t.Fatal("no result")
			}
			if class, ok := viaRetry[c.p.PaymentID]; ok != c.retryTopic || (ok && !class.FailsOver()) {
				t.Errorf("on payments.retry.rank-2: %v (failure class %q), want %v with a class that fails over", ok, class, c.retryTopic)
			}
			if res.Status != c.status || res.PSP != c.psp || res.Class != c.class {
				t.Errorf("result %s at %s class %q, want %s at %s class %q (reason %q)", res.Status, res.PSP, res.Class, c.status, c.psp, c.class, res.Reason)
			}
			if got := pathPSPs(res); !equal(got, c.path) {
				t.Errorf("path %v, want %v", got, c.path)
			}
			if int(res.AttemptCount) != len(c.path) || attempts[c.p.PaymentID] != len(c.path) {
				t.Errorf("attempt count %d, attempts on topic %d, want %d", res.AttemptCount, attempts[c.p.PaymentID], len(c.path))
			}
			if res.FirstPSP != c.path[0] || res.ConfigVersion != "v-test" {
				t.Errorf("first psp %q version %q", res.FirstPSP, res.ConfigVersion)
			}
			if c.status == schemas.StatusDeclined && c.class == schemas.ClassSoftDecline && res.RetryAfterMs <= 0 {
				t.Errorf("soft decline without retry advice")
			}
		})
	}
	// The simulator granted exactly one approval per approved payment.
	for _, c := range cases {
		want := 0
		if c.status == schemas.StatusApproved {
			want = 1
		}
		if got := s.sim.Approvals(c.p.PaymentID); got != want {
			t.Errorf("%s: simulator granted %d approvals, want %d", c.p.PaymentID, got, want)
		}
	}
}

// TestBadInputGoesToDLQ sends malformed records between good ones: each bad
// record lands in the DLQ with its reason, a REJECTED result where its
// payment id is readable, and the good records behind it are processed.
func TestBadInputGoesToDLQ(t *testing.T) {
	s := newStack(t, nil)
	topic := s.cluster.Topics().Requested
	negative := payment("p-negative", "tok_approve", "psp-a")
	negative.AmountMinor = -5
	badCurrency := payment("p-currency", "tok_approve", "psp-a")
	badCurrency.Currency = "XYZ"
	noID := payment("", "tok_approve", "psp-a")
	action, err := s.serde.Encode(&schemas.CustomerAction{PaymentID: "p-wrong-schema", Action: schemas.ActionCancel})
	if err != nil {
		t.Fatal(err)
	}
	raw := func(key string, value []byte) *kgo.Record {
		return &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
	}
	encodeRaw := func(p *schemas.PaymentRequested) []byte {
		b, err := s.serde.Encode(p)
		if err != nil {
			// The serde may refuse to encode invalid values; write the valid
			// form and corrupt it the way a broken producer would.
			t.Fatalf("encode %s: %v", p.PaymentID, err)
		}
		return b
	}
	s.publish(t,
		s.request(t, payment("p-good-1", "tok_approve", "psp-a")),
		raw("p-garbage", []byte("\x00\x00\x00\x00\x01garbage that is not avro")),
		raw("", []byte("not even framed")),
		raw("p-wrong-schema", action),
		raw("p-negative", encodeRaw(negative)),
		raw("p-currency", encodeRaw(badCurrency)),
		raw("", encodeRaw(noID)),
		raw("p-unknown-route", encodeRaw(func() *schemas.PaymentRequested {
			p := payment("p-unknown-route", "tok_approve")
			p.Routing.RouteRef = "Route_nope"
			return p
		}())),
		s.request(t, payment("p-good-2", "tok_approve", "psp-a")),
	)
	want := map[string]string{
		"p-garbage":       "malformed",
		"":                "",
		"p-wrong-schema":  "wrong_schema",
		"p-negative":      "invalid_field",
		"p-currency":      "invalid_field",
		"p-unknown-route": "routing:unknown_route_ref",
	}
	dlq := s.readTopic(t, s.cluster.Topics().DLQ, 7)
	if len(dlq) != 7 {
		t.Fatalf("DLQ has %d records, want 7", len(dlq))
	}
	for _, r := range dlq {
		reason := producers.HeaderValue(r, producers.HeaderDLQReason)
		if reason == "" || producers.HeaderValue(r, producers.HeaderSourceTopic) != topic {
			t.Errorf("DLQ record %q without reason or source: %v", r.Key, r.Headers)
		}
		if w, ok := want[string(r.Key)]; ok && w != "" && reason != w {
			t.Errorf("DLQ record %q reason %q, want %q", r.Key, reason, w)
		}
		if producers.HeaderValue(r, producers.HeaderDLQError) == "" {
			t.Errorf("DLQ record %q has no error header", r.Key)
		}
	}
	results := s.results(t, 7)
	for _, id := range []string{"p-good-1", "p-good-2"} {
		if results[id].Status != schemas.StatusApproved {
			t.Errorf("%s: %s, want APPROVED", id, results[id].Status)
		}
	}
	for _, id := range []string{"p-garbage", "p-wrong-schema", "p-negative", "p-currency", "p-unknown-route"} {
		if res := results[id]; res.Status != schemas.StatusRejected || res.Reason == "" {
			t.Errorf("%s: %s (%q), want REJECTED with a reason", id, res.Status, res.Reason)
		}
	}
	if res, ok := results[""]; ok {
		t.Errorf("a result without payment id was published: %+v", res)
	}
}

// TestInDoubtIsResolvedAtTheSamePSP: a timeout after the PSP processed the
// payment is never failed over; the status inquiry finds the approval.
func TestInDoubtIsResolvedAtTheSamePSP(t *testing.T) {
	s := newStack(t, nil)
	s.publish(t, s.request(t, payment("p-timeout", "tok_timeout", "psp-a", "psp-b")))
	res := s.results(t, 1)["p-timeout"]
	if res.Status != schemas.StatusApproved || res.PSP != "psp-a" || len(res.Path) != 1 {
		t.Fatalf("result %s at %s path %v, want APPROVED at psp-a with one attempt", res.Status, res.PSP, pathPSPs(res))
	}
	if n := s.sim.Approvals("p-timeout"); n != 1 {
		t.Fatalf("simulator approvals %d, want 1", n)
	}
	// The attempt's record tells analytics it was in doubt and for how
	// long, though its class is the approval the inquiry found.
	var a schemas.AttemptRecorded
	if err := s.serde.Decode(s.readTopic(t, s.cluster.Topics().Attempts, 1)[0].Value, &a); err != nil {
		t.Fatal(err)
	}
	if a.Outcome != schemas.OutcomeApproved || a.Inquiries < 1 || a.InDoubtMs < 0 || a.InDoubtMs > a.FinishedAtMs-a.StartedAtMs {
		t.Fatalf("attempt %s, %d inquiries, in doubt %d ms of %d ms: want APPROVED after at least one inquiry, in doubt for part of the attempt",
			a.Outcome, a.Inquiries, a.InDoubtMs, a.FinishedAtMs-a.StartedAtMs)
	}
}

// TestUnprocessedTimeoutFailsOver is Orchestra's "network timeout" trigger:
// the first PSP never answers and never processed the request, so the
// status inquiry finds nothing, the attempt is settled as a PSP error, and
// the payment fails over to the next PSP, approved once.
func TestUnprocessedTimeoutFailsOver(t *testing.T) {
	s := newStack(t, nil)
	s.publish(t, s.request(t, payment("p-lost", simulator.LostAt("psp-a"), "psp-a", "psp-b")))
	res := s.results(t, 1)["p-lost"]
	if res.Status != schemas.StatusApproved || res.PSP != "psp-b" || !slices.Equal(pathPSPs(res), []string{"psp-a", "psp-b"}) {
		t.Fatalf("result %s at %s path %v, want APPROVED at psp-b after psp-a", res.Status, res.PSP, pathPSPs(res))
	}
	if n := s.sim.Approvals("p-lost"); n != 1 {
		t.Fatalf("simulator approvals %d, want 1", n)
	}
	var first schemas.AttemptRecorded
	for _, rec := range s.readTopic(t, s.cluster.Topics().Attempts, 2) {
		var a schemas.AttemptRecorded
		if err := s.serde.Decode(rec.Value, &a); err != nil {
			t.Fatal(err)
		}
		if a.PSP == "psp-a" {
			first = a
		}
	}
	if first.Class != schemas.ClassPSPError || first.Inquiries < 1 || first.InDoubtMs <= 0 {
		t.Fatalf("psp-a attempt: class %s after %d inquiries, in doubt %d ms; want a PSP error found by an inquiry", first.Class, first.Inquiries, first.InDoubtMs)
	}
}

// TestRedeliveryNeverApprovesTwice replays the same request: the PSP
// idempotency key makes the second attempt return the stored approval.
func TestRedeliveryNeverApprovesTwice(t *testing.T) {
	s := newStack(t, nil)
	rec := s.request(t, payment("p-dup", "tok_approve", "psp-a"))
	s.publish(t, rec)
	s.results(t, 1)
	again := s.request(t, payment("p-dup", "tok_approve", "psp-a"))
	s.publish(t, again)
	_, replays := s.resultsAndReplays(t, 1)
	if len(replays) != 1 || replays[0].Status != schemas.StatusApproved {
		t.Fatalf("the duplicate got %v, want the approval replayed", replays)
	}
	if n := s.sim.Approvals("p-dup"); n != 1 {
		t.Fatalf("simulator approvals %d after redelivery, want 1", n)
	}
}

// TestTraceContextFollowsThePayment: a request carrying a W3C traceparent
// gets its attempts and its result in the same trace, across the
// asynchronous PSP call and a failover.
func TestTraceContextFollowsThePayment(t *testing.T) {
	s := newStack(t, nil)
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	rec := s.request(t, payment("p-traced", "tok_fail_at_psp-a", "psp-a", "psp-b"))
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "traceparent", Value: []byte(traceparent)})
	s.publish(t, rec)
	s.results(t, 1)
	for _, topic := range []string{s.cluster.Topics().Results, s.cluster.Topics().Attempts, s.cluster.Topics().Retry[2]} {
		recs := s.readTopicNow(t, topic)
		if len(recs) == 0 {
			t.Errorf("%s has no record of the payment: nothing to check the trace on", topic)
		}
		for _, r := range recs {
			got := producers.HeaderValue(r, "traceparent")
			if len(got) < 36 || got[3:35] != traceparent[3:35] {
				t.Errorf("%s record %q has traceparent %q, want trace %s", topic, r.Key, got, traceparent[3:35])
			}
		}
	}
}
