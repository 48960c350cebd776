// Package analytics streams every payment attempt and every final result
// into ClickHouse, and reads them back as the per-PSP report.
//
// The sink is a Kafka consumer of payments.attempts and payments.results in
// its own consumer group. It decodes AttemptRecorded and PaymentResult
// events, accumulates rows into batches, inserts each batch with a named
// column list, and commits the records' offsets only once ClickHouse has
// accepted the batch. Nothing is ever dropped:
//
//   - ClickHouse down (at start or later): the sink retries with exponential
//     backoff, consumption paused and the batch kept in hand, and catches up
//     when the server is back. The payment processor has its own Kafka client
//     and group and never waits for the sink, so an outage costs payments
//     nothing.
//   - A crash between an insert and its offset commit re-delivers the batch.
//     The tables are ReplacingMergeTree keyed by attempt_id and payment_id, so
//     the copies collapse, and the queries of this package that must be exact
//     read with FINAL. (A later migration makes ingestion exactly-once with
//     materialized views; until then FINAL is what keeps counts exact.)
//   - A record that does not decode is counted, logged and skipped (its
//     offset is committed with the batch). Both topics carry only payroute's
//     own outputs, encoded by the same serde, so such a record is a bug or
//     foreign data, and blocking analytics on it would help nobody.
//
// The schema is versioned SQL (migrations/), applied in order by Migrate and
// recorded in <database>.schema_migrations. Every statement names the
// configured database, and all SQL keeps to what both Debian's ClickHouse
// 18.16 (what scripts/clickhouse.sh installs, and what the tests run on)
// and current releases accept: DateTime plus UInt64 milliseconds rather
// than DateTime64, no Map or LowCardinality, new-style MergeTree clauses.
package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
)

// Decoder reads payroute's Avro events (schemas.Serde). Errors caused by the
// input are *schemas.DecodeError; any other error is transient.
type Decoder interface {
	Decode(b []byte, v any) error
}

// Sink loads payments.attempts and payments.results into ClickHouse.
type Sink struct {
	cfg     Configuration
	cluster *kafka.Cluster
	topics  kafka.Topics
	decoder Decoder
	log     *slog.Logger
	stats   counters

	// Retry schedule of ClickHouse round trips; tests shorten it.
	retryInitial, retryMax time.Duration
	// commitDisabled makes the sink insert without ever committing offsets:
	// a crash after every insert, for tests.
	commitDisabled bool

	mu          sync.Mutex
	client      *kgo.Client
	conn        *Conn
	cancelRun   context.CancelFunc
	cancelFlush context.CancelFunc
	done        chan struct{}
	stopped     bool
	err         error
}

// New builds a sink; Start runs it. It does not touch the network.
func New(cfg Configuration, cluster *kafka.Cluster, decoder Decoder, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	if cluster == nil || decoder == nil {
		return nil, errors.New("analytics: a Kafka cluster and a decoder are required")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Sink{
		cfg: cfg, cluster: cluster, topics: cluster.Topics(), decoder: decoder,
		log:          log.With("component", "analytics"),
		retryInitial: 200 * time.Millisecond, retryMax: 30 * time.Second,
	}, nil
}

// Start creates the sink's Kafka client and ClickHouse pool and loads in a
// goroutine until Stop. It returns at once: ClickHouse being down does not
// fail it (the sink migrates and loads as soon as the server answers).
func (s *Sink) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return errors.New("analytics: sink already started")
	}
	conn, err := dial(s.cfg.ClickHouse)
	if err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	// Rebalances are not blocked while a batch is in hand (unlike the
	// processor): a ClickHouse outage can hold a batch for minutes, and
	// blocking would stall the group. A partition revoked meanwhile is
	// re-delivered to its next owner from the last commit; the rows in hand
	// are still inserted here, and the copies collapse.
	client, err := s.cluster.NewClient(
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.topics.Attempts, s.topics.Results),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("analytics kafka client: %w", err)
	}
	s.conn, s.client = conn, client
	runCtx, cancelRun := context.WithCancel(context.Background())
	flushCtx, cancelFlush := context.WithCancel(context.Background())
	s.cancelRun, s.cancelFlush = cancelRun, cancelFlush
	done := make(chan struct{})
	s.done = done
	go func() {
		defer close(done)
		err := s.run(runCtx, flushCtx)
		if err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("analytics sink stopped", "err", err)
		}
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
	s.log.Info("analytics sink started", "clickhouse", s.cfg.ClickHouse.Addr, "database", s.cfg.ClickHouse.Database, "group", s.cfg.Group)
	return nil
}

// Stop stops consuming, inserts and commits the rows in hand (retrying until
// ctx is done if ClickHouse is unavailable; whatever is not committed then
// is simply delivered again later), leaves the consumer group and closes
// the connections.
func (s *Sink) Stop(ctx context.Context) error {
	s.mu.Lock()
	done, client, conn := s.done, s.client, s.conn
	cancelRun, cancelFlush := s.cancelRun, s.cancelFlush
	stopped := s.stopped
	s.stopped = true
	s.mu.Unlock()
	if done == nil || stopped {
		return nil
	}
	cancelRun()
	select {
	case <-done:
	case <-ctx.Done():
		cancelFlush()
		<-done
	}
	cancelFlush()
	client.Close()
	_ = conn.Close()
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Inserted is the number of rows ClickHouse accepted into attempts and
// payments since Start (copies re-delivered after a crash included).
func (s *Sink) Inserted() (attempts, payments int64) {
	return s.stats.attempts.Load(), s.stats.payments.Load()
}

// Stats is a snapshot of the sink's counters.
func (s *Sink) Stats() Stats { return s.stats.snapshot() }
