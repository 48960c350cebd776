package analytics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/schemas"
)

// batch is the records in hand and the rows decoded from them.
type batch struct {
	attempts []attemptRow
	payments []paymentRow
	requests []requestRow
	// records are every record taken, rows or not (undecodable records are
	// committed too), with the epoch they were taken under.
	records []*kgo.Record
	epochs  []uint64
	// last is the highest offset taken per partition, to drop a record
	// delivered twice within the batch.
	last  map[partition]int64
	first time.Time // when the first record entered the batch
}

func (b *batch) len() int { return len(b.records) }

// ClickHouse error codes after which the schema is re-applied before the
// next retry: someone dropped the tables (or the database) under the sink.
const (
	chUnknownTable    = 60
	chUnknownDatabase = 81
)

// run migrates, joins the consumer group, then polls, batches and flushes
// until runCtx is cancelled, then flushes what is in hand and leaves the
// group. flushCtx bounds the ClickHouse retries: it is cancelled only when
// Stop gives up waiting.
func (s *Sink) run(runCtx, flushCtx context.Context) error {
	if err := s.retry(runCtx, "migrate", func() error { return Migrate(runCtx, s.conn) }); err != nil {
		return err
	}
	s.stats.migrated.Store(true)
	s.log.Info("analytics schema ready", "database", s.conn.Database)

	// Rebalances are not blocked while a batch is in hand (a ClickHouse
	// outage can hold one for minutes and would stall the group): revoke
	// waits only for the insert in flight, and the rows of partitions no
	// longer owned are dropped from the batch.
	opts := []kgo.Opt{
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.topics.Attempts, s.topics.Results, s.topics.Requested),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AdjustFetchOffsetsFn(s.adjust),
		kgo.OnPartitionsRevoked(s.revoke),
		kgo.OnPartitionsLost(s.revoke),
	}
	client, err := s.cluster.NewClient(append(opts, s.clientOpts...)...)
	if err != nil {
		return fmt.Errorf("analytics kafka client: %w", err)
	}
	s.client = client
	defer client.Close()

	b := newBatch()
	final := func() error {
		if err := s.flush(flushCtx, b); err != nil {
			// Not wrapped: this is not a clean stop.
			return fmt.Errorf("stopped with %d records not loaded (they are delivered again at the next start): %v", b.len(), err)
		}
		return nil
	}
	for {
		if runCtx.Err() != nil {
			return final()
		}
		wait := s.cfg.FlushInterval
		if b.len() > 0 {
			wait = time.Until(b.first.Add(s.cfg.FlushInterval))
		}
		if wait > 0 {
			pollCtx, cancel := context.WithTimeout(runCtx, wait)
			fetches := client.PollRecords(pollCtx, s.cfg.BatchSize-b.len())
			cancel()
			if fetches.IsClientClosed() {
				return final()
			}
			fetches.EachError(func(topic string, partition int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
					s.log.Warn("analytics fetch error", "topic", topic, "partition", partition, "err", err)
				}
			})
			var stop error
			fetches.EachRecord(func(rec *kgo.Record) {
				if stop == nil {
					stop = s.add(runCtx, b, rec)
				}
			})
			if stop != nil {
				// A transient decode failure outlasted the run: keep what was
				// decoded, leave the rest for next time.
				if err := final(); err != nil {
					return err
				}
				return stop
			}
			s.commitBehind(runCtx)
		}
		if b.len() > 0 && (b.len() >= s.cfg.BatchSize || time.Since(b.first) >= s.cfg.FlushInterval) {
			// The flush gives up only when Stop does.
			if err := final(); err != nil {
				return err
			}
			b = newBatch()
		}
	}
}

func newBatch() *batch { return &batch{last: map[partition]int64{}} }

// add decodes a record into the batch. Undecodable records, and requests
// the processor would reject, are skipped (and committed with the batch); a
// transient decode failure (the schema registry unreachable) is retried,
// and its error returned only when ctx ends first.
func (s *Sink) add(ctx context.Context, b *batch, rec *kgo.Record) error {
	p := partition{rec.Topic, rec.Partition}
	s.asg.mu.Lock()
	epoch, owned := s.asg.owned[p]
	loaded := s.asg.loaded[p]
	s.asg.mu.Unlock()
	last, seen := b.last[p]
	if !owned || rec.Offset <= loaded || (seen && rec.Offset <= last) {
		// Revoked since it was fetched, or already in ClickHouse (or in
		// the batch): the owner of the partition has it.
		s.stats.duplicates.Add(1)
		return nil
	}
	if b.len() == 0 {
		b.first = time.Now()
	}
	b.last[p] = rec.Offset
	src := source{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, epoch: epoch}
	var v any
	switch rec.Topic {
	case s.topics.Attempts:
		v = new(schemas.AttemptRecorded)
	case s.topics.Results:
		v = new(schemas.PaymentResult)
	case s.topics.Requested:
		v = new(schemas.PaymentRequested)
	default:
		s.skip(rec, errors.New("not an analytics topic"))
		b.records, b.epochs = append(b.records, rec), append(b.epochs, epoch)
		return nil
	}
	err := s.retry(ctx, "decode", func() error {
		err := s.decoder.Decode(rec.Value, v)
		var de *schemas.DecodeError
		if errors.As(err, &de) {
			return backoff.Permanent(err)
		}
		return err
	})
	if err != nil {
		var de *schemas.DecodeError
		if !errors.As(err, &de) {
			return err
		}
		s.skip(rec, err)
	} else {
		switch e := v.(type) {
		case *schemas.AttemptRecorded:
			b.attempts = append(b.attempts, attemptRow{a: e, src: src})
		case *schemas.PaymentResult:
			if producers.HeaderValue(rec, producers.HeaderReplay) != "" {
				// The answer to a duplicate request: a copy of a result
				// already loaded, not a result (migration 0005).
				s.stats.replays.Add(1)
			} else {
				b.payments = append(b.payments, paymentRow{p: e, src: src})
			}
		case *schemas.PaymentRequested:
			if err := e.Validate(); err != nil {
				// The processor rejects it (REJECTED result, DLQ): there is
				// no payment to replay.
				s.stats.invalid.Add(1)
			} else {
				b.requests = append(b.requests, requestRow{r: e, src: src})
			}
		}
	}
	b.records, b.epochs = append(b.records, rec), append(b.epochs, epoch)
	return nil
}

// skip counts and logs an undecodable record. The log carries where it is
// and why, never its bytes.
func (s *Sink) skip(rec *kgo.Record, err error) {
	s.stats.skipped.Add(1)
	s.log.Warn("analytics: skipping undecodable record",
		"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "err", err)
}

// flush inserts the batch's rows, retrying until ClickHouse takes them or
// ctx ends, with fetching paused meanwhile, then commits its records.
//
// After a failed insert the next try first waits for that insert to leave
// the server's process list and re-reads how far ClickHouse has loaded the
// batch's partitions: an insert whose answer was lost (connection cut after
// the server had the whole block) is applied, and its rows must not go in
// again. Each table's rows are one block, all-or-nothing, so "loaded up to
// offset N" is exact.
func (s *Sink) flush(ctx context.Context, b *batch) error {
	if b.len() == 0 {
		return nil
	}
	paused := false
	defer func() {
		if paused {
			s.client.ResumeFetchTopics(s.topics.Attempts, s.topics.Results, s.topics.Requested)
		}
	}()
	remigrate := false
	var unsure []string // query ids of failed inserts that may have been applied
	err := s.retry(ctx, "insert", func() error {
		if remigrate {
			if err := migrate(ctx, s.conn, true); err != nil {
				return err
			}
			remigrate = false
		}
		if len(unsure) > 0 {
			if err := waitQueries(ctx, s.conn, unsure); err != nil {
				return err
			}
			if err := s.refreshLoaded(ctx); err != nil {
				return err
			}
			unsure = nil
		}
		ids, err := s.insert(ctx, b)
		if err != nil {
			unsure = ids
			if !paused {
				s.client.PauseFetchTopics(s.topics.Attempts, s.topics.Results, s.topics.Requested)
				paused = true
			}
			var ex *clickhouse.Exception
			if errors.As(err, &ex) && (ex.Code == chUnknownTable || ex.Code == chUnknownDatabase) {
				remigrate = true
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	s.stats.batches.Add(1)
	s.countLoaded(b)
	_ = s.hook("committing") // crash tests exit here; there is nothing to fail
	recs := s.stillOwned(b)
	if len(recs) == 0 {
		return nil
	}
	// The commit only saves re-reading what ClickHouse already has (adjust
	// skips it anyway) and shows the group's lag; a failure costs nothing.
	if err := s.client.CommitRecords(ctx, recs...); err != nil {
		s.stats.commitErrors.Add(1)
		s.log.Warn("analytics offset commit failed; ClickHouse has the rows, the next owner skips them", "records", len(recs), "err", err)
		return nil
	}
	s.stats.committed.Add(int64(len(recs)))
	return nil
}

// countLoaded adds to the stats the batch's rows that ClickHouse now holds:
// inserted and confirmed, or found there after an insert whose answer was
// lost. Rows of partitions revoked meanwhile are not counted (their next
// owner loads them).
func (s *Sink) countLoaded(b *batch) {
	s.asg.mu.Lock()
	defer s.asg.mu.Unlock()
	in := func(src source) bool {
		p := partition{src.Topic, src.Partition}
		return s.asg.owned[p] == src.epoch && src.Offset <= s.asg.loaded[p]
	}
	var n int64
	for i := range b.attempts {
		if in(b.attempts[i].src) {
			n++
		}
	}
	s.stats.attempts.Add(n)
	n = 0
	for i := range b.payments {
		if in(b.payments[i].src) {
			n++
		}
	}
	s.stats.payments.Add(n)
	n = 0
	for i := range b.requests {
		if in(b.requests[i].src) {
			n++
		}
	}
	s.stats.requests.Add(n)
}

// pending is the rows of one table that are still to be inserted, and the
// highest offset they carry per partition.
type pending[R any] struct {
	table string
	cols  []column[R]
	rows  []R
	max   map[partition]int64
}

// select keeps the rows whose partition is owned under the epoch they were
// taken in and whose offset ClickHouse does not hold yet. Per partition,
// what remains is a contiguous run of the partition's records, starting
// right after what ClickHouse holds. Called with asg.mu held.
func selectRows[R any](asg *assignment, table string, cols []column[R], rows []R, src func(*R) source) pending[R] {
	out := pending[R]{table: table, cols: cols, max: map[partition]int64{}}
	for i := range rows {
		sr := src(&rows[i])
		p := partition{sr.Topic, sr.Partition}
		if asg.owned[p] != sr.epoch || sr.Offset <= asg.loaded[p] {
			continue
		}
		out.rows = append(out.rows, rows[i])
		out.max[p] = max(out.max[p], sr.Offset)
	}
	return out
}

// insert sends, under insertMu, each table's rows that ClickHouse does not
// hold yet as one INSERT (one block), with a query id of the sink's so that
// a later owner can wait for it. It returns the query ids it sent, so that
// after a failure the caller can wait for them before looking at what
// ClickHouse holds.
func (s *Sink) insert(ctx context.Context, b *batch) (ids []string, err error) {
	s.insertMu.Lock()
	defer s.insertMu.Unlock()
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()

	s.asg.mu.Lock()
	att := selectRows(&s.asg, "attempts", attemptColumns, b.attempts, func(r *attemptRow) source { return r.src })
	pay := selectRows(&s.asg, "payments", paymentColumns, b.payments, func(r *paymentRow) source { return r.src })
	req := selectRows(&s.asg, "requests", requestColumns, b.requests, func(r *requestRow) source { return r.src })
	s.asg.inflight = map[partition]bool{}
	for _, m := range []map[partition]int64{att.max, pay.max, req.max} {
		for p := range m {
			s.asg.inflight[p] = true
		}
	}
	s.asg.cancel = cancel
	s.asg.mu.Unlock()
	defer func() {
		s.asg.mu.Lock()
		s.asg.cancel, s.asg.inflight = nil, nil
		s.asg.mu.Unlock()
	}()

	send := func(table string, n int, upTo map[partition]int64, do func(context.Context) error) error {
		if n == 0 {
			return nil
		}
		id := s.queryID()
		ids = append(ids, id)
		if err := do(clickhouse.Context(ictx, clickhouse.WithQueryID(id))); err != nil {
			return err
		}
		if err := s.hook("inserted:" + table); err != nil {
			return err
		}
		s.markLoaded(upTo)
		return nil
	}
	if err := send("attempts", len(att.rows), att.max, func(c context.Context) error {
		return insertRows(c, s.conn, att.table, att.cols, att.rows)
	}); err != nil {
		return ids, err
	}
	if err := send("payments", len(pay.rows), pay.max, func(c context.Context) error {
		return insertRows(c, s.conn, pay.table, pay.cols, pay.rows)
	}); err != nil {
		return ids, err
	}
	if err := send("requests", len(req.rows), req.max, func(c context.Context) error {
		return insertRows(c, s.conn, req.table, req.cols, req.rows)
	}); err != nil {
		return ids, err
	}
	return ids, nil
}

// hook runs the test hook at a named point of the flush; an error from it
// is the error of the step that just succeeded.
func (s *Sink) hook(point string) error {
	if s.testHook != nil {
		return s.testHook(point)
	}
	return nil
}

// retry runs op until it succeeds, returns a backoff.Permanent error, or ctx
// ends, waiting exponentially longer (up to retryMax) between tries. Every
// failure is counted and logged; there is no give-up time, because giving
// up would mean dropping rows.
func (s *Sink) retry(ctx context.Context, what string, op func() error) error {
	eb := backoff.NewExponentialBackOff()
	eb.InitialInterval = s.retryInitial
	eb.MaxInterval = s.retryMax
	eb.MaxElapsedTime = 0
	tries := 0
	return backoff.RetryNotify(op, backoff.WithContext(eb, ctx), func(err error, next time.Duration) {
		tries++
		if what != "decode" {
			s.stats.insertErrors.Add(1)
		}
		s.log.Warn("analytics: "+what+" failed, retrying", "addr", s.conn.Addr, "try", tries, "next", next.Round(time.Millisecond), "err", err)
	})
}
