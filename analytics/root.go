// Package analytics streams every payment attempt, final result and payment
// request into ClickHouse, keeps per-PSP aggregates there, and reads them
// back: the per-PSP report (text and HTML with charts), the query pack
// (queries/*.sql) and the what-if replay of a candidate routing
// configuration.
//
// # The sink
//
// The sink is a Kafka consumer of payments.attempts, payments.results and
// payments.requested in its own consumer group. It decodes the events,
// accumulates rows into batches, column by column, and inserts, per table,
// one block with a named column list. One batch is inserted while the next
// one fills (inserts stay one at a time and in order), so that decoding and
// ClickHouse's writing overlap; ClickHouse's cost is mostly per insert (a
// part per table and per materialized view), hence large batches
// (batch_size) bounded in time (flush_interval). Undecodable records, and
// requests the processor would reject, are counted, logged and skipped:
// blocking analytics on bytes nothing can read would help nobody. The
// exception is an attempt or a result with a schema this build does not
// know: payroute wrote it, a newer release can read it, and skipping it
// would lose its row for good, so the sink stops there
// (NewerRecordError).
// Results republished for duplicate requests (producers.HeaderReplay) are
// counted and skipped too: they copy a result already loaded, and the
// per-minute payment counts (migration 0005) must see each result once.
//
// # Exactly once
//
// Counts in ClickHouse equal the records on the topics, whenever and however
// often the sink is killed and restarted. ReplacingMergeTree alone cannot
// give that: the materialized views that keep the aggregates (migration
// 0003) run on every inserted block, copies included, and a merge that
// collapses copies in a raw table never reaches them. So the sink never
// inserts a record ClickHouse already holds:
//
//   - Every raw row carries its record's (topic, partition, offset), and
//     materialized views record, inside the same INSERT, the highest offset
//     per partition of each block in ingest_offsets (migration 0002). What
//     ClickHouse holds is therefore known from ClickHouse itself, not from
//     Kafka's committed offsets, which lag after a crash between an insert
//     and its commit.
//   - A table's rows of one flush go as one INSERT of one block: clickhouse-go
//     sends a batch as a single native Data block, and the server applies a
//     block whole or not at all (a client that dies before the end of the
//     INSERT aborts it; max_insert_block_size only splits blocks the server
//     parses itself). Per partition the rows are a contiguous run of its
//     records starting right after what ClickHouse held, so "loaded up to
//     offset N" is exact: everything at or below N is in, nothing above.
//   - When partitions are assigned (AdjustFetchOffsetsFn), the sink waits
//     for every sink insert into the database still executing on the server
//     (each carries a query id starting "payroute-sink:<database>:"; a dead
//     predecessor's last insert may still be running), reads
//     ingest_offsets, and starts each partition right after it. A
//     partition that ends at or before that offset is not the one that was
//     loaded (a topic deleted and created again under its name, records
//     lost by the brokers): the sink stops (DivergedError) rather than skip
//     its records, until ForgetTopic says it is new. The application's
//     embedded broker starts empty with every run, so its sink forgets its
//     topics at start.
//   - After a failed insert it waits for that insert to leave
//     system.processes, re-reads ingest_offsets, and sends only the rows
//     still missing: an insert whose answer was lost may well be applied.
//   - When partitions are revoked or lost, the insert in flight is aborted
//     if it carries them and revoke returns only once it has returned; rows
//     polled under an earlier assignment of a partition are dropped.
//
// Kafka offsets are still committed after each flush, to show the group's
// lag and spare re-reading; they are never what decides.
//
// What this does not cover: a materialized view that fails (its table
// dropped or altered by hand) after the raw table took a block leaves the
// views before it counted and the ones after it not, whatever the sink
// does (ClickHouse has no multi-table transactions); a server crash in the
// middle of writing a block that spans two months (two parts) can keep one
// part. A sink cut off from Kafka but still reaching ClickHouse (a zombie)
// is fenced only by franz-go telling it that its partitions are lost. And
// an insert that a dying sink had sent but the server had not yet read off
// the socket is invisible in system.processes: what covers it is the group
// session timeout (45 s by default) that passes between a member's death
// and the reassignment of its partitions.
// Records that are distinct on the topic but describe the same attempt (a
// processor re-publishing without transactions) are distinct events and
// are counted as such; the raw tables, ReplacingMergeTree by event id since
// migration 0001, collapse them at their next merge, so count distinct
// attempts with FINAL or uniqExact(attempt_id).
//
// # Outages
//
// ClickHouse down (at start or later): the sink retries with exponential
// backoff, fetching paused and the batch kept in hand (the next one fills
// up to batch_size from what was already fetched, then waits), and catches
// up when the server is back. The payment processor has its own Kafka
// client and group and never waits for the sink, so an outage costs
// payments nothing.
//
// # Schema
//
// The schema is versioned SQL (migrations/), applied in order by Migrate (at
// the sink's start and by payroute migrate) and recorded in
// <database>.schema_migrations. Every statement names the configured
// database, and all SQL keeps to what both Debian's ClickHouse 18.16 (what
// scripts/clickhouse.sh installs, and what the tests run on) and current
// releases accept: DateTime plus UInt64 milliseconds rather than DateTime64,
// no Map or LowCardinality, no window functions, new-style MergeTree
// clauses, views that produce every column of their TO table.
package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
)

// Decoder reads payroute's Avro events (schemas.Serde). Errors caused by the
// input are *schemas.DecodeError; any other error is transient. The sink
// decodes on several goroutines at once.
type Decoder interface {
	Decode(b []byte, v any) error
}

// Sink loads payments.attempts, payments.results and payments.requested
// into ClickHouse.
type Sink struct {
	cfg     Configuration
	cluster *kafka.Cluster
	topics  kafka.Topics
	decoder Decoder
	log     *slog.Logger
	stats   counters

	// Retry schedule of ClickHouse round trips; tests shorten it.
	retryInitial, retryMax time.Duration
	// forgetAtStart is set by Module when the brokers are the embedded
	// broker of this same application, which starts empty (forgetEmbedded).
	// Not from Cluster.Embedded alone: a test's embedded broker outlives
	// the sinks it restarts.
	forgetAtStart bool
	// admin reads end offsets for the divergence check; set by run before
	// the group client exists.
	admin *kadm.Client
	// clientOpts are added to the Kafka client's options (tests shorten
	// the group session).
	clientOpts []kgo.Opt
	// testHook, when set, is called at named points of a flush
	// ("inserted:<table>", "committing"): crash tests exit there, and an
	// error returned after an insert makes it look failed although
	// ClickHouse took it (an answer lost on the way back).
	testHook func(point string) error

	conn   *Conn
	client *kgo.Client // set by run once the schema is in place
	asg    assignment
	// insertMu is held for the duration of one insert try; revoke takes it
	// to wait for the try in flight.
	insertMu sync.Mutex

	mu          sync.Mutex
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
		asg: assignment{owned: map[partition]uint64{}, loaded: map[partition]int64{}, behind: map[partition]behindCommit{}},
	}, nil
}

// Start creates the sink's ClickHouse pool and loads in a goroutine until
// Stop: it migrates the schema, then joins the consumer group. It returns
// at once: ClickHouse being down does not fail it (the sink migrates and
// loads as soon as the server answers).
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
	s.conn = conn
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
			if runCtx.Err() == nil {
				reason := err.Error()
				s.stats.stopped.Store(&reason)
			}
		}
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
	s.log.Info("analytics sink started", "clickhouse", s.cfg.ClickHouse.Addr, "database", s.cfg.ClickHouse.Database, "group", s.cfg.Group)
	return nil
}

// Stop stops consuming, inserts and commits the rows in hand (retrying until
// ctx is done if ClickHouse is unavailable; whatever is not loaded then is
// simply loaded by the next owner), leaves the consumer group and closes
// the connections.
func (s *Sink) Stop(ctx context.Context) error {
	s.mu.Lock()
	done, conn := s.done, s.conn
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
// payments since Start. Each record is inserted once, so these count
// distinct records.
func (s *Sink) Inserted() (attempts, payments int64) {
	return s.stats.attempts.Load(), s.stats.payments.Load()
}

// Stats is a snapshot of the sink's counters.
func (s *Sink) Stats() Stats { return s.stats.snapshot() }
