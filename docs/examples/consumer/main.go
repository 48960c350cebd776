// Command consumer is an example downstream service: it reads payroute's
// final results from payments.results the way docs/consumers.md
// describes, and prints one line per result.
//
//	go run ./docs/examples/consumer --brokers localhost:19092 --group order-service
//
// What it shows:
//
//   - read_committed: payroute writes results inside Kafka transactions; a
//     read_uncommitted consumer would also see the results of batches that
//     were aborted and processed again, i.e. a payment's result twice;
//   - the record key is the payment_id, and every record about one payment
//     is on one partition, in order;
//   - ACTION_REQUIRED is not final: the payment's final result follows on
//     the same topic once the customer acted (RETRY or CANCEL);
//   - commit offsets after handling: a crash re-delivers, so handling must
//     be idempotent by payment_id (a result for a payment already settled
//     is the same result again).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/schemas"
)

func main() {
	brokers := flag.String("brokers", "localhost:19092", "Kafka brokers, comma-separated")
	topic := flag.String("topic", "payments.results", "payroute's results topic (with kafka.topic_prefix in front when one is set)")
	group := flag.String("group", "example-results-reader", "this service's consumer group")
	registry := flag.String("registry", "", "schema registry URL (empty: registry-less, payroute's default)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Split(*brokers, ","), *topic, *group, *registry, os.Stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "consumer: %v\n", err)
		os.Exit(1)
	}
}

// run reads results until ctx is done.
func run(ctx context.Context, brokers []string, topic, group, registry string, out io.Writer) error {
	scfg := schemas.DefaultConfiguration()
	if registry != "" {
		scfg.RegistryURLs = []string{registry}
	}
	serde, err := schemas.New(scfg)
	if err != nil {
		return err
	}
	client, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		// Only results of committed transactions: exactly one final
		// result per payment.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Commit what was handled, not what was fetched.
		kgo.DisableAutoCommit(),
	)
	if err != nil {
		return err
	}
	defer client.Close()
	return consume(ctx, client, serde, func(res *schemas.PaymentResult) {
		final := "final"
		if res.Status == schemas.StatusActionRequired {
			final = "waiting for the customer"
		}
		fmt.Fprintf(out, "%s %s %s %d %s via %s after %d attempt(s) (%s)\n",
			res.PaymentID, res.Status, res.Operation, res.AmountMinor, res.Currency, res.PSP, res.AttemptCount, final)
	})
}

// consume hands every result to handle and commits the offsets of each
// handled poll.
func consume(ctx context.Context, client *kgo.Client, serde *schemas.Serde, handle func(*schemas.PaymentResult)) error {
	for {
		fetches := client.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fetches.EachError(func(topic string, part int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("%s[%d]: %w", topic, part, err))
		})
		if ferr != nil {
			return ferr
		}
		var decodeErr error
		fetches.EachRecord(func(r *kgo.Record) {
			var res schemas.PaymentResult
			if err := serde.Decode(r.Value, &res); err != nil {
				// payments.results carries only payroute's results; a record
				// that does not decode is a schema mismatch to fix, not to skip.
				decodeErr = errors.Join(decodeErr, fmt.Errorf("%s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err))
				return
			}
			handle(&res)
		})
		if decodeErr != nil {
			return decodeErr
		}
		if err := client.CommitUncommittedOffsets(ctx); err != nil {
			return err
		}
	}
}
