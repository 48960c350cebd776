package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/fx"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/kafka/kafkatest"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp/simulator"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// need returns the value of an environment variable a test depends on, or
// skips the test; under CI (CI set) a missing dependency fails it instead,
// since scripts/test.sh is expected to have provided it.
func need(t *testing.T, env, hint string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: %s", env, hint)
		}
		t.Skipf("%s is not set: %s", env, hint)
	}
	return v
}

func randomSuffix(t *testing.T) string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// e2e is the whole payroute application, wired by appOptions exactly as
// `payroute run` wires it, on an embedded broker, simulated PSPs and the real
// ClickHouse server in a database of its own.
type e2e struct {
	cfg      Configuration
	embedded *kafka.Embedded
	cluster  *kafka.Cluster
	proc     *consumers.Processor
	sink     *analytics.Sink
	records  *producers.Records
	serde    *schemas.Serde
	sim      *simulator.Server
	client   *kgo.Client
	ch       *analytics.Conn
}

func startE2E(t *testing.T) *e2e {
	t.Helper()
	addr := need(t, "TEST_CLICKHOUSE_ADDR", "run scripts/clickhouse.sh start and set TEST_CLICKHOUSE_ADDR=127.0.0.1:19000")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := &e2e{}
	fast := simulator.Profile{Latency: time.Millisecond}
	sim, err := simulator.New(simulator.Configuration{Listen: "127.0.0.1:0", Seed: 3, MaxHold: 5 * time.Second,
		PSPs: map[string]simulator.Profile{
			"psp-a": fast, "psp-b": fast,
			"test-failure": {Preset: "test-failure"}, "test-success": {Preset: "test-success"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Stop(context.Background()) })
	e.sim = sim

	suffix := randomSuffix(t)
	cfg := DefaultConfiguration()
	cfg.Kafka.Partitions = 3
	cfg.Simulator.Enabled = false
	cfg.PSPs = sim.RegistryConfiguration(500 * time.Millisecond)
	cfg.Router.Version = "v-e2e"
	cfg.Router.Routes = map[string][]router.Candidate{"Route_primary_secondary": {{PSP: "psp-a"}, {PSP: "psp-b"}}}
	cfg.Processor.InDoubtWindow = 3 * time.Second
	cfg.Analytics.ClickHouse.Addr = addr
	cfg.Analytics.ClickHouse.Database = "payroute_e2e_" + suffix
	cfg.Analytics.FlushInterval = 100 * time.Millisecond
	cfg.Admin.Listen = "127.0.0.1:0" // tests run side by side: never a fixed port
	e.cfg = cfg
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	app := fx.New(appOptions(cfg, log, fx.Populate(&e.embedded, &e.cluster, &e.proc, &e.sink, &e.records, &e.serde))...)
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := app.Stop(stopCtx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	e.client, err = e.cluster.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.client.Close)
	e.ch, err = analytics.Open(ctx, cfg.Analytics.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Analytics.ClickHouse.Database)
		_ = e.ch.Close()
	})
	return e
}

func (e *e2e) publish(t *testing.T, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func (e *e2e) request(t *testing.T, p *schemas.PaymentRequested) *kgo.Record {
	t.Helper()
	rec, err := e.records.Requested(p)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// consume reads a topic from the start, read_committed, until want records
// arrived (and a moment more, to catch any extra), or fails.
func (e *e2e) consume(t *testing.T, topic string, want int) []*kgo.Record {
	t.Helper()
	return kafkatest.Read(t, e.cluster, topic, kafkatest.AtLeast(want))
}

// waitRows waits until the sink has loaded at least n rows of each table.
func (e *e2e) waitRows(t *testing.T, attempts, payments int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, p := e.sink.Inserted()
		if a >= attempts && p >= payments {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink loaded %d attempts and %d payments, want %d and %d", a, p, attempts, payments)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func card(id, token string, candidates ...string) *schemas.PaymentRequested {
	p := &schemas.PaymentRequested{
		PaymentID: id, MerchantID: "m-e2e", Operation: schemas.OpCharge, AmountMinor: 4999, Currency: "USD",
		PaymentMethod: schemas.PaymentMethod{Token: token, Type: "card", Network: "mastercard", Funding: "debit",
			BIN: "555555", Last4: "4444", IssuerCountry: "US", ExpiryMonth: 1, ExpiryYear: 2031},
		RequestedAtMs: time.Now().UnixMilli(),
	}
	for i, c := range candidates {
		p.Routing.Candidates = append(p.Routing.Candidates, schemas.Candidate{PSP: c, Method: "card", Rank: int32(i + 1)})
	}
	return p
}

// TestEndToEndSeedScenarios drives the PortOne scenario table (seed 000)
// and the Orchestra failover test (seed 001) through Kafka, the simulated
// PSPs and ClickHouse, and checks the results topic, the attempts topic and
// the ClickHouse rows agree.
func TestEndToEndSeedScenarios(t *testing.T) {
	e := startE2E(t)
	routed := card("e2e-route-ref", "tok_fail_at_psp-a")
	routed.Routing.RouteRef = "Route_primary_secondary"
	scenarios := []struct {
		p      *schemas.PaymentRequested
		status schemas.Status
		path   []string
	}{
		// PortOne: happy scenario, one try at PSP A.
		{card("e2e-happy", "tok_approve", "psp-a", "psp-b"), schemas.StatusApproved, []string{"psp-a"}},
		// PortOne: PSP error, primary fails, PSP B approves.
		{card("e2e-primary-fails", "tok_fail_at_psp-a", "psp-a", "psp-b"), schemas.StatusApproved, []string{"psp-a", "psp-b"}},
		// PortOne: PSP error, secondary also fails: payment failed.
		{card("e2e-both-fail", "tok_psp_503", "psp-a", "psp-b"), schemas.StatusFailed, []string{"psp-a", "psp-b"}},
		// PortOne: user error (OTP incorrect) stays on PSP A for the customer's retry.
		{card("e2e-user-error", "tok_customer_error", "psp-a", "psp-b"), schemas.StatusActionRequired, []string{"psp-a"}},
		// Orchestra: test-failure, test-failure, test-success: the third processes it.
		{card("e2e-orchestra", "tok_approve", "test-failure", "test-failure", "test-success"), schemas.StatusApproved, []string{"test-failure", "test-failure", "test-success"}},
		// The same failover through a stored route (PortOne route_ref).
		{routed, schemas.StatusApproved, []string{"psp-a", "psp-b"}},
	}
	var recs []*kgo.Record
	totalAttempts := 0
	for _, s := range scenarios {
		recs = append(recs, e.request(t, s.p))
		totalAttempts += len(s.path)
	}
	e.publish(t, recs...)

	results := map[string]schemas.PaymentResult{}
	for _, r := range e.consume(t, e.cluster.Topics().Results, len(scenarios)) {
		var res schemas.PaymentResult
		if err := e.serde.Decode(r.Value, &res); err != nil {
			t.Fatal(err)
		}
		if _, dup := results[res.PaymentID]; dup {
			t.Errorf("%s: two final results", res.PaymentID)
		}
		results[res.PaymentID] = res
	}
	attempts := map[string][]schemas.AttemptRecorded{}
	for _, r := range e.consume(t, e.cluster.Topics().Attempts, totalAttempts) {
		var a schemas.AttemptRecorded
		if err := e.serde.Decode(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		attempts[a.PaymentID] = append(attempts[a.PaymentID], a)
	}
	e.waitRows(t, int64(totalAttempts), int64(len(scenarios)))

	ctx := context.Background()
	db := e.cfg.Analytics.ClickHouse.Database
	type paymentRow struct {
		status, psp, first string
		path               []string
		count              uint32
	}
	rows, err := e.ch.Query(ctx, "SELECT payment_id, status, psp, first_psp, psp_path, attempt_count FROM "+db+".payments FINAL")
	if err != nil {
		t.Fatal(err)
	}
	chPayments := map[string]paymentRow{}
	for rows.Next() {
		var id string
		var r paymentRow
		if err := rows.Scan(&id, &r.status, &r.psp, &r.first, &r.path, &r.count); err != nil {
			t.Fatal(err)
		}
		chPayments[id] = r
	}
	rows.Close()
	arows, err := e.ch.Query(ctx, "SELECT payment_id, psp, previous_psp, outcome, class FROM "+db+".attempts FINAL ORDER BY payment_id, attempt_number")
	if err != nil {
		t.Fatal(err)
	}
	chAttempts := map[string][]string{}
	for arows.Next() {
		var id, pspName, prev, outcome, class string
		if err := arows.Scan(&id, &pspName, &prev, &outcome, &class); err != nil {
			t.Fatal(err)
		}
		chAttempts[id] = append(chAttempts[id], pspName)
	}
	arows.Close()

	for _, s := range scenarios {
		id := s.p.PaymentID
		t.Run(id, func(t *testing.T) {
			last := s.path[len(s.path)-1]
			res := results[id]
			if res.Status != s.status || res.PSP != last || !equalStrings(pathOf(res), s.path) {
				t.Errorf("result %s at %s via %v, want %s at %s via %v", res.Status, res.PSP, pathOf(res), s.status, last, s.path)
			}
			var topicPath []string
			for i, a := range attempts[id] {
				topicPath = append(topicPath, a.PSP)
				if i > 0 && a.PreviousPSP != s.path[i-1] {
					t.Errorf("attempt %d hop from %q, want %q", i+1, a.PreviousPSP, s.path[i-1])
				}
				if a.CardBIN != "555555" || a.ConfigVersion != "v-e2e" {
					t.Errorf("attempt %d: bin %q version %q", i+1, a.CardBIN, a.ConfigVersion)
				}
			}
			if !equalStrings(topicPath, s.path) {
				t.Errorf("attempts topic path %v, want %v", topicPath, s.path)
			}
			row, ok := chPayments[id]
			if !ok {
				t.Fatal("no row in payroute.payments")
			}
			if row.status != string(s.status) || row.psp != last || row.first != s.path[0] ||
				!equalStrings(row.path, s.path) || int(row.count) != len(s.path) {
				t.Errorf("ClickHouse payments row %+v, want %s at %s via %v", row, s.status, last, s.path)
			}
			if !equalStrings(chAttempts[id], s.path) {
				t.Errorf("ClickHouse attempts %v, want %v", chAttempts[id], s.path)
			}
		})
	}
	var n uint64
	if err := e.ch.QueryRow(ctx, "SELECT count() FROM "+db+".attempts FINAL").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if int(n) != totalAttempts {
		t.Errorf("ClickHouse has %d attempts, the topic %d", n, totalAttempts)
	}
}

// TestKcatSeesRealKafka proves the embedded broker speaks the real Kafka
// protocol to an outside client: Debian's kcat publishes a garbage record to
// payments.requested, and reads payroute's results back, keyed by payment id,
// including the REJECTED answer to its own garbage.
func TestKcatSeesRealKafka(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kcat is not installed: scripts/test.sh installs it (apt-get install kcat)")
		}
		t.Skip("kcat is not installed (apt-get install kcat)")
	}
	e := startE2E(t)
	broker := e.embedded.Addrs()[0]
	e.publish(t, e.request(t, card("kcat-approved", "tok_approve", "psp-a")))

	produce := exec.Command(kcat, "-b", broker, "-P", "-t", e.cluster.Topics().Requested, "-K", ":")
	produce.Stdin = strings.NewReader("kcat-garbage:this is not avro\n")
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	e.consume(t, e.cluster.Topics().Results, 2)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	read := exec.CommandContext(ctx, kcat, "-b", broker, "-C", "-t", e.cluster.Topics().Results,
		"-o", "beginning", "-e", "-q", "-X", "isolation.level=read_committed", "-f", "%k %S\n")
	var stdout, stderr bytes.Buffer
	read.Stdout, read.Stderr = &stdout, &stderr
	if err := read.Run(); err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, stderr.String())
	}
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		keys = append(keys, strings.Fields(line)[0])
	}
	sort.Strings(keys)
	if !equalStrings(keys, []string{"kcat-approved", "kcat-garbage"}) {
		t.Fatalf("kcat read result keys %v, want kcat-approved and kcat-garbage\n%s", keys, stdout.String())
	}
	// And the garbage is in the DLQ, as kcat sees it, with its reason header.
	dlq := exec.CommandContext(ctx, kcat, "-b", broker, "-C", "-t", e.cluster.Topics().DLQ,
		"-o", "beginning", "-e", "-q", "-f", "%k %h\n")
	out, err := dlq.Output()
	if err != nil {
		t.Fatalf("kcat -C dlq: %v", err)
	}
	if !strings.Contains(string(out), "kcat-garbage") || !strings.Contains(string(out), producers.HeaderDLQReason+"=malformed") {
		t.Fatalf("DLQ as kcat sees it: %q", out)
	}
}

func pathOf(res schemas.PaymentResult) []string {
	var out []string
	for _, a := range res.Path {
		out = append(out, a.PSP)
	}
	return out
}

func equalStrings(a, b []string) bool {
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
