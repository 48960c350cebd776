// Command producer is an example upstream service: it publishes
// PaymentRequested events to payroute's payments.requested topic the way
// docs/producers.md describes, and doubles as a load generator for the
// compose stack:
//
//	go run ./docs/examples/producer --brokers localhost:19092 --payments 1000 --rate 50
//
// What it shows:
//
//   - the event is payroute's Avro schema, in the Confluent wire format,
//     encoded with payroute's schemas package (registry-less by default;
//     --registry to use a schema registry, which payroute must then use too);
//   - the record key is the payment_id: every record about one payment lands
//     on one partition, in order, and payroute recognizes a re-sent payment
//     as a duplicate by its id;
//   - produce with acks from all in-sync replicas and idempotence (franz-go's
//     defaults), and retry a failed produce with the same payment_id: a
//     payment sent twice is still processed once;
//   - the W3C traceparent header carries the payment's trace through
//     payroute to the results (here a new trace per payment; a service with
//     an OpenTelemetry SDK injects its current span instead);
//   - no card number anywhere: a vault token, the BIN and last four digits.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

func main() {
	brokers := flag.String("brokers", "localhost:19092", "Kafka brokers, comma-separated")
	topic := flag.String("topic", "payments.requested", "the topic payroute consumes (with kafka.topic_prefix in front when one is set)")
	registry := flag.String("registry", "", "schema registry URL (empty: registry-less, payroute's default)")
	payments := flag.Int("payments", 100, "payments to publish")
	rate := flag.Float64("rate", 20, "payments per second")
	merchant := flag.String("merchant", "example-shop", "merchant_id of the payments")
	flag.Parse()
	if err := run(*brokers, *topic, *registry, *merchant, *payments, *rate); err != nil {
		fmt.Fprintf(os.Stderr, "producer: %v\n", err)
		os.Exit(1)
	}
}

func run(brokers, topic, registry, merchant string, payments int, rate float64) error {
	if payments <= 0 || rate <= 0 {
		return errors.New("--payments and --rate must be > 0")
	}
	scfg := schemas.DefaultConfiguration()
	if registry != "" {
		scfg.RegistryURLs = []string{registry}
	}
	serde, err := schemas.New(scfg)
	if err != nil {
		return err
	}
	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(brokers, ",")...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // and idempotent writes: franz-go's default
	)
	if err != nil {
		return err
	}
	defer client.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx); err != nil {
		return fmt.Errorf("no broker answers at %s (is Kafka up? with compose, use localhost:19092): %w", brokers, err)
	}

	run := time.Now().UTC().Format("20060102T150405")
	var acked, failed atomic.Int64
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	for i := range payments {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-progress.C:
			fmt.Fprintf(os.Stderr, "producer: %d of %d published, %d acknowledged, %d failed\n", i, payments, acked.Load(), failed.Load())
		case <-tick.C:
		}
		req := examplePayment(fmt.Sprintf("%s-%s-%06d", merchant, run, i), merchant, i)
		value, err := serde.Encode(req)
		if err != nil {
			return err
		}
		rec := &kgo.Record{Key: []byte(req.PaymentID), Value: value}
		propagation.TraceContext{}.Inject(newTrace(ctx), kafka.HeaderCarrier{Headers: &rec.Headers})
		client.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				// franz-go has already retried; re-sending the same
				// payment_id later is safe (payroute answers duplicates).
				failed.Add(1)
				fmt.Fprintf(os.Stderr, "producer: %s not published: %v\n", req.PaymentID, err)
				return
			}
			acked.Add(1)
		})
	}
	if err := client.Flush(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "producer: done: %d acknowledged, %d failed\n", acked.Load(), failed.Load())
	if failed.Load() > 0 {
		return fmt.Errorf("%d payments were not published", failed.Load())
	}
	return nil
}

// examplePayment is a card authorization. Every tenth payment carries a
// token the simulated PSPs decline, so the results show declines too.
func examplePayment(id, merchant string, i int) *schemas.PaymentRequested {
	token := "tok_approve"
	if i%10 == 9 {
		token = "tok_soft_decline"
	}
	currencies := []string{"EUR", "USD", "GBP"}
	return &schemas.PaymentRequested{
		PaymentID:   id,
		MerchantID:  merchant,
		Operation:   schemas.OpAuthorize,
		AmountMinor: int64(500 + 137*(i%40)),
		Currency:    currencies[i%len(currencies)],
		PaymentMethod: schemas.PaymentMethod{
			Token: token, Type: "card", Network: "visa", Funding: "credit",
			BIN: "411111", Last4: fmt.Sprintf("%04d", i%10000),
			IssuerCountry: "DE", ExpiryMonth: 12, ExpiryYear: 2030,
			Fingerprint: fmt.Sprintf("fp-example-%d", i%500),
		},
		Customer:      schemas.Customer{CustomerID: fmt.Sprintf("cust-%d", i%500), Country: "DE"},
		Metadata:      map[string]string{"channel": "web"},
		RequestedAtMs: time.Now().UnixMilli(),
	}
}

// newTrace starts a new trace for one payment: a random trace id and span
// id, sampled. With an OpenTelemetry SDK, inject the context of the span
// that handles the payment instead.
func newTrace(ctx context.Context) context.Context {
	var tid trace.TraceID
	var sid trace.SpanID
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(ctx, sc)
}
