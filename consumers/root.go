// Package consumers holds the payment processor: the Kafka consumer that
// reads payments.requested and every payments.retry.rank-<n> topic, routes
// each payment, attempts it at the PSP of the rank it is at, and emits the
// attempt, the next retry or the final result.
//
// Delivery: the processor disables auto-commit and commits a polled batch's
// offsets only after every output record of that batch is acknowledged by
// the brokers (acks=all, idempotent producer). A crash between the two
// re-processes the batch; the PSP idempotency key, stable per (payment, PSP,
// operation), makes the re-sent attempts land on the PSP's stored result
// instead of charging twice. Rebalances are blocked while a batch is in
// hand (BlockRebalanceOnPoll), so a clean hand-over never re-processes.
package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// Router turns a payment into ranked candidates (router.Router).
type Router interface {
	Route(req *schemas.PaymentRequested) (schemas.Decision, error)
}

// Connectors finds the connector of a PSP account by name (psp.Registry).
type Connectors interface {
	Get(name string) (psp.Connector, bool)
}

// Decoder reads payroute's Avro events (schemas.Serde).
type Decoder interface {
	DecodePaymentRequested(b []byte) (*schemas.PaymentRequested, error)
	Decode(b []byte, v any) error
}

// Processor is the payment processor of one instance.
type Processor struct {
	cfg        Configuration
	cluster    *kafka.Cluster
	topics     kafka.Topics
	maxRanks   int
	decoder    Decoder
	records    *producers.Records
	router     Router
	connectors Connectors
	log        *slog.Logger
	stats      *Stats

	client *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// New builds a processor; Start connects it.
func New(cfg Configuration, cluster *kafka.Cluster, decoder Decoder, records *producers.Records,
	router Router, connectors Connectors, log *slog.Logger) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Processor{
		cfg: cfg, cluster: cluster, topics: cluster.Topics(), maxRanks: cluster.Config().MaxRanks,
		decoder: decoder, records: records, router: router, connectors: connectors,
		log: log.With("component", "processor"), stats: newStats(),
	}, nil
}

// Stats are the processor's running counters.
func (p *Processor) Stats() *Stats { return p.stats }

// Start joins the consumer group and processes in a goroutine until Stop.
func (p *Processor) Start(ctx context.Context) error {
	client, err := p.cluster.NewClient(
		kgo.ConsumerGroup(p.cfg.Group),
		kgo.ConsumeTopics(p.topics.Processing()...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return fmt.Errorf("processor kafka client: %w", err)
	}
	if err := client.Ping(ctx); err != nil {
		client.Close()
		return fmt.Errorf("processor cannot reach kafka %v: %w", p.cluster.Seeds(), err)
	}
	p.client = client
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		if err := p.run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			p.err = err
			p.log.Error("processor stopped", "err", err)
		}
	}()
	return nil
}

// Stop finishes the batch in hand, commits it, and leaves the group.
func (p *Processor) Stop(ctx context.Context) error {
	if p.client == nil {
		return nil
	}
	p.cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.client.Close()
	return p.err
}

// Err is the error that stopped the processor, if any.
func (p *Processor) Err() error { return p.err }

func (p *Processor) run(ctx context.Context) error {
	// However run ends, a rebalance must not wait on it, or Close would hang
	// leaving the group.
	defer p.client.AllowRebalance()
	for {
		fetches := p.client.PollRecords(ctx, p.cfg.MaxPollRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			p.client.AllowRebalance()
			return ctx.Err()
		}
		fetches.EachError(func(topic string, part int32, err error) {
			p.log.Warn("fetch error", "topic", topic, "partition", part, "err", err)
		})
		// Payments in hand finish even while stopping: a half-done batch would
		// only be re-processed by the next owner, and a PSP call cut short is
		// in doubt, so finishing it is both cheaper and safer.
		flushCtx := context.WithoutCancel(ctx)
		var recs []*kgo.Record
		outputs, err := p.processBatch(flushCtx, fetches, &recs)
		if err != nil {
			// Nothing of the batch is produced or committed: the next owner
			// starts again from the last commit.
			return err
		}
		if len(recs) == 0 {
			p.client.AllowRebalance()
			continue
		}
		if err := p.client.ProduceSync(flushCtx, outputs...).FirstErr(); err != nil {
			// The batch's offsets stay uncommitted: whoever owns the partitions
			// next re-processes it, and idempotency keys make that safe.
			return fmt.Errorf("produce outputs: %w", err)
		}
		if err := p.client.CommitRecords(flushCtx, recs...); err != nil {
			return fmt.Errorf("commit offsets: %w", err)
		}
		p.stats.committed.Add(int64(len(recs)))
		p.client.AllowRebalance()
	}
}

// processBatch handles each topic-partition of a poll concurrently and the
// records of one partition in order, and returns every output in input order.
// Different partitions never hold the same payment, so they are independent.
// A panic while handling a record (an output that cannot be encoded: a bug)
// fails the whole batch rather than commit past a payment with no result.
func (p *Processor) processBatch(ctx context.Context, fetches kgo.Fetches, recs *[]*kgo.Record) ([]*kgo.Record, error) {
	type partOut struct {
		outs []*kgo.Record
		err  error
	}
	var parts []kgo.FetchTopicPartition
	fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if len(ftp.Records) > 0 {
			parts = append(parts, ftp)
		}
	})
	results := make([]partOut, len(parts))
	var wg sync.WaitGroup
	for i, ftp := range parts {
		*recs = append(*recs, ftp.Records...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					results[i].err = fmt.Errorf("handling %s/%d: %v", ftp.Topic, ftp.Partition, r)
				}
			}()
			for _, rec := range ftp.Records {
				results[i].outs = append(results[i].outs, p.handle(ctx, rec)...)
			}
		}()
	}
	wg.Wait()
	var outs []*kgo.Record
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		outs = append(outs, r.outs...)
	}
	return outs, nil
}
