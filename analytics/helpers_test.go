package analytics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/analytics/clickhousetest"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/kafka/kafkatest"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/schemas"
)

// testConfig is a configuration on a fresh database, dropped at cleanup.
func testConfig(t *testing.T) Configuration {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.ClickHouse.Addr = clickhousetest.Addr(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	cfg.ClickHouse.Database = "payroute_test_" + hex.EncodeToString(b[:])
	cfg.Group = "analytics-test-" + hex.EncodeToString(b[:])
	cfg.BatchSize = 10
	cfg.FlushInterval = 100 * time.Millisecond
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := Open(ctx, cfg.ClickHouse)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer c.Close()
		if err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.ClickHouse.Database); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return cfg
}

// openTest opens the test database's server.
func openTest(t *testing.T, cfg Configuration) *Conn {
	t.Helper()
	c, err := Open(context.Background(), cfg.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// env is an embedded Kafka broker with a producer and the serde.
type env struct {
	cluster  *kafka.Cluster
	serde    *schemas.Serde
	records  *producers.Records
	producer *kgo.Client
}

func newEnv(t *testing.T, opts ...kfake.Opt) *env {
	t.Helper()
	kcfg := kafka.DefaultConfiguration()
	kcfg.Partitions = 3
	cluster, _ := kafkatest.Cluster(t, kcfg, opts...)
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	producer, err := cluster.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	return &env{cluster: cluster, serde: serde, records: producers.NewRecords(serde, cluster.Topics()), producer: producer}
}

// publish produces events (*schemas.AttemptRecorded, *schemas.PaymentResult,
// *schemas.PaymentRequested or raw *kgo.Record) and waits for the acks.
func (e *env) publish(t *testing.T, events ...any) {
	t.Helper()
	if err := e.produce(events...); err != nil {
		t.Fatal(err)
	}
}

// produce is publish for goroutines other than the test's.
func (e *env) produce(events ...any) error {
	var recs []*kgo.Record
	for _, ev := range events {
		var rec *kgo.Record
		var err error
		switch v := ev.(type) {
		case *schemas.AttemptRecorded:
			rec, err = e.records.Attempt(v)
		case *schemas.PaymentResult:
			rec, err = e.records.Result(v)
		case *schemas.PaymentRequested:
			rec, err = e.records.Requested(v)
		case *kgo.Record:
			rec = v
		default:
			return fmt.Errorf("cannot publish %T", ev)
		}
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.producer.ProduceSync(ctx, recs...).FirstErr()
}

// startSink starts a sink on the environment; it is stopped at cleanup if
// the test has not stopped it.
func (e *env) startSink(t *testing.T, cfg Configuration, mutate ...func(*Sink)) *Sink {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := New(cfg, e.cluster, e.serde, log)
	if err != nil {
		t.Fatal(err)
	}
	s.retryInitial, s.retryMax = 20*time.Millisecond, 200*time.Millisecond
	for _, m := range mutate {
		m(s)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stopSink(s) })
	return s
}

func stopSink(s *Sink) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return s.Stop(ctx)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// count runs a SELECT returning one UInt64.
func count(t *testing.T, c *Conn, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := c.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// base is the start of the test data's period: a fixed instant, so that
// reports over it are reproducible.
var base = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// attempt is an AttemptRecorded; outcome follows from class ("" approved).
func attempt(merchant, payment string, n int32, psp, prev string, class schemas.Class, at time.Time) *schemas.AttemptRecorded {
	outcome := schemas.OutcomeApproved
	switch class {
	case schemas.ClassNone:
	case schemas.ClassHardDecline, schemas.ClassSoftDecline:
		outcome = schemas.OutcomeDeclined
	default:
		outcome = schemas.OutcomeError
	}
	return &schemas.AttemptRecorded{
		AttemptID:      fmt.Sprintf("%s-%d", payment, n),
		PaymentID:      payment,
		MerchantID:     merchant,
		AttemptNumber:  n,
		Rank:           n,
		PSP:            psp,
		Method:         "card",
		PreviousPSP:    prev,
		Operation:      schemas.OpAuthorize,
		AmountMinor:    1299,
		Currency:       "EUR",
		Outcome:        outcome,
		Class:          class,
		PSPCode:        string(class),
		Message:        "test",
		PSPReference:   "ref-" + payment,
		IdempotencyKey: fmt.Sprintf("%s:%s:AUTHORIZE", payment, psp),
		LatencyMs:      42,
		FeeMinor:       31,
		CardNetwork:    "visa",
		CardFunding:    "credit",
		CardBIN:        "400000",
		IssuerCountry:  "FR",
		ConfigVersion:  "v7",
		RuleID:         "default",
		StartedAtMs:    at.UnixMilli(),
		FinishedAtMs:   at.UnixMilli() + 42,
	}
}

// result is the PaymentResult ending the attempts of one payment.
func result(status schemas.Status, attempts ...*schemas.AttemptRecorded) *schemas.PaymentResult {
	first, last := attempts[0], attempts[len(attempts)-1]
	r := &schemas.PaymentResult{
		PaymentID:     first.PaymentID,
		MerchantID:    first.MerchantID,
		Operation:     first.Operation,
		Status:        status,
		AmountMinor:   first.AmountMinor,
		Currency:      first.Currency,
		PSP:           last.PSP,
		PSPReference:  last.PSPReference,
		FirstPSP:      first.PSP,
		AttemptCount:  int32(len(attempts)),
		Class:         last.Class,
		PSPCode:       last.PSPCode,
		ConfigVersion: first.ConfigVersion,
		RuleID:        first.RuleID,
		RequestedAtMs: first.StartedAtMs - 5,
		CompletedAtMs: last.FinishedAtMs + 3,
	}
	for _, a := range attempts {
		r.Path = append(r.Path, schemas.AttemptSummary{AttemptID: a.AttemptID, PSP: a.PSP, Rank: a.Rank,
			Outcome: a.Outcome, Class: a.Class, PSPCode: a.PSPCode})
	}
	return r
}

// loadWorld publishes a world's events, loads them with a sink and stops
// it; it returns the connection to the test database.
func loadWorld(t *testing.T, w *world) (Configuration, *Conn) {
	t.Helper()
	cfg := testConfig(t)
	cfg.BatchSize = 500
	e := newEnv(t)
	c := openTest(t, cfg)
	events := w.events()
	e.publish(t, events...)
	s := e.startSink(t, cfg)
	waitFor(t, 60*time.Second, "the world to load", func() bool { return s.Stats().Committed == int64(len(events)) })
	if err := stopSink(s); err != nil {
		t.Fatal(err)
	}
	return cfg, c
}

// request is a PaymentRequested with inline candidates and metadata.
func request(merchant, payment string, at time.Time) *schemas.PaymentRequested {
	return &schemas.PaymentRequested{
		PaymentID: payment, MerchantID: merchant, Operation: schemas.OpAuthorize, AmountMinor: 1299, Currency: "EUR",
		PaymentMethod: schemas.PaymentMethod{Token: "tok_test", Type: "card", Network: "visa", Funding: "credit",
			BIN: "400000", Last4: "0004", IssuerCountry: "FR", ExpiryMonth: 12, ExpiryYear: 2030, Fingerprint: "fp_test"},
		Customer:      schemas.Customer{CustomerID: "cus-1", Country: "FR"},
		Recurring:     true,
		Routing:       schemas.Routing{Candidates: []schemas.Candidate{{PSP: "psp-b", Method: "card", Rank: 1}, {PSP: "psp-a", Rank: 2}}},
		Metadata:      map[string]string{"segment": "gold", "channel": "web"},
		RequestedAtMs: at.UnixMilli(),
	}
}
