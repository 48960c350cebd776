package analytics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/schemas"
)

// batch is the records in hand and the rows decoded from them, column by
// column, one block per table.
type batch struct {
	attempts *block[attemptRow]
	payments *block[paymentRow]
	requests *block[requestRow]
	// parts is every partition the batch has records of, with the epoch
	// they were polled under; rows refer to it by index.
	parts   []partEpoch
	partIdx map[partEpoch]int32
	// records is how many records were taken, rows or not (undecodable and
	// skipped records are committed too).
	records int
	// commit is, per partition, the last record taken, under the epoch of
	// its latest records, and how many records of that epoch were taken:
	// what is committed once the rows are in.
	commit map[partition]taken
	// seen is the last record taken per partition, in this batch or the
	// one before it, to drop a record delivered twice within an
	// assignment.
	seen  map[partition]taken
	first time.Time // when the first record entered the batch
}

// partEpoch is a partition under one assignment.
type partEpoch struct {
	p     partition
	epoch uint64
}

// taken is a record taken under an epoch; n counts the records of the
// partition taken under that epoch.
type taken struct {
	rec   *kgo.Record
	epoch uint64
	n     int
}

// newBatch is an empty batch following prev (nil for the first): it takes
// over prev's record of what was seen, and starts with the room prev's
// rows take.
func newBatch(prev *batch) *batch {
	if prev == nil {
		prev = &batch{}
	}
	b := &batch{
		attempts: newBlock("attempts", attemptColumns, prev.attempts),
		payments: newBlock("payments", paymentColumns, prev.payments),
		requests: newBlock("requests", requestColumns, prev.requests),
		partIdx:  map[partEpoch]int32{},
		commit:   map[partition]taken{},
		seen:     prev.seen,
	}
	prev.seen = nil
	if b.seen == nil {
		b.seen = map[partition]taken{}
	}
	return b
}

// part is the index of (p, epoch) in the partition table.
func (b *batch) part(p partition, epoch uint64) int32 {
	pe := partEpoch{p, epoch}
	i, ok := b.partIdx[pe]
	if !ok {
		i = int32(len(b.parts))
		b.parts = append(b.parts, pe)
		b.partIdx[pe] = i
	}
	return i
}

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
	if s.forgetAtStart {
		if err := s.forgetEmbedded(runCtx); err != nil {
			return err
		}
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
	// The admin client reads partitions' end offsets at each assignment;
	// it exists before the group client, whose assignments use it.
	adminClient, err := s.cluster.NewClient()
	if err != nil {
		return fmt.Errorf("analytics kafka client: %w", err)
	}
	defer adminClient.Close()
	s.admin = kadm.NewClient(adminClient)
	client, err := s.cluster.NewClient(append(opts, s.clientOpts...)...)
	if err != nil {
		return fmt.Errorf("analytics kafka client: %w", err)
	}
	s.client = client
	defer client.Close()

	// One batch is inserted (by its own goroutine) while the next one
	// fills: decoding the records here, and encoding and writing the block
	// in clickhouse-go and the server, overlap. Inserts stay one at a time,
	// in order, so each partition's rows still go in as a contiguous run;
	// a batch that is due while the insert before it is still going keeps
	// filling, up to BatchSize, and goes as soon as that insert is done.
	// At most two batches are in hand: once the second is full, polling
	// waits for the first.
	var inflight *flushing
	b := newBatch(nil)
	var recs []*kgo.Record // of one poll
	var events []decoded   // recs decoded
	notLoaded := func(err error, bs ...*batch) error {
		n := 0
		for _, b := range bs {
			n += b.records
		}
		// Not wrapped: this is not a clean stop.
		return fmt.Errorf("stopped with %d records not loaded (they are delivered again at the next start): %v", n, err)
	}
	// wait waits for the insert in flight; it fails only when Stop gave up.
	wait := func() error {
		if inflight == nil {
			return nil
		}
		f := inflight
		inflight = nil
		<-f.done.Done()
		if f.err != nil {
			return notLoaded(f.err, f.b, b)
		}
		return nil
	}
	final := func() error {
		if err := wait(); err != nil {
			return err
		}
		if err := s.flush(flushCtx, b); err != nil {
			return notLoaded(err, b)
		}
		return nil
	}
	for {
		if runCtx.Err() != nil {
			return final()
		}
		if inflight != nil && inflight.done.Err() != nil {
			if err := wait(); err != nil {
				return err
			}
		}
		if b.records > 0 {
			full := b.records >= s.cfg.BatchSize
			if (full || time.Since(b.first) >= s.cfg.FlushInterval) && inflight == nil {
				// The flush gives up only when Stop does.
				next := newBatch(b)
				inflight = s.startFlush(flushCtx, b)
				b = next
				continue
			}
			if full {
				if err := wait(); err != nil {
					return err
				}
				continue
			}
		}
		// Poll until the batch is due, or until the insert in flight ends
		// (a due batch then goes at once).
		pollFor := s.cfg.FlushInterval
		if b.records > 0 && inflight == nil {
			pollFor = time.Until(b.first.Add(s.cfg.FlushInterval))
		}
		pollCtx, cancel := context.WithTimeout(runCtx, pollFor)
		stopWake := func() bool { return false }
		if inflight != nil {
			stopWake = context.AfterFunc(inflight.done, cancel)
		}
		fetches := client.PollRecords(pollCtx, s.cfg.BatchSize-b.records)
		stopWake()
		cancel()
		if fetches.IsClientClosed() {
			return final()
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				s.log.Warn("analytics fetch error", "topic", topic, "partition", partition, "err", err)
			}
		})
		if div := s.divergedPartition(); div != nil {
			// Before taking any record of this poll: the diverged
			// partition's records are not loaded, nor, to keep it simple,
			// the others' (delivered again to their next owner).
			if err := final(); err != nil {
				return err
			}
			return div
		}
		recs = recs[:0]
		fetches.EachRecord(func(rec *kgo.Record) { recs = append(recs, rec) })
		events = s.decodeAll(runCtx, recs, events)
		var stop error
		for i, rec := range recs {
			if stop = s.add(b, rec, events[i]); stop != nil {
				break
			}
		}
		// The batch has the rows: let the records and events go.
		clear(recs)
		clear(events)
		if stop != nil {
			// A transient decode failure outlasted the run, or a record
			// needs a newer build: load what came before it, leave it and
			// the rest for next time.
			if err := final(); err != nil {
				return err
			}
			return stop
		}
		s.commitBehind(runCtx)
	}
}

// flushing is the flush of one batch, running in a goroutine of its own.
// done is cancelled once it has returned, with err.
type flushing struct {
	b    *batch
	done context.Context
	err  error
}

func (s *Sink) startFlush(ctx context.Context, b *batch) *flushing {
	done, finished := context.WithCancel(context.Background())
	f := &flushing{b: b, done: done}
	go func() {
		defer finished()
		f.err = s.flush(ctx, b)
	}()
	return f
}

// add puts a record, decoded as ev, into the batch. Undecodable records,
// and requests the processor would reject, are skipped (and committed with
// the batch). Two errors are returned, the record not taken, and the sink
// stops: a transient decode failure that outlasted the run, and a
// *NewerRecordError.
func (s *Sink) add(b *batch, rec *kgo.Record, ev decoded) error {
	p := partition{rec.Topic, rec.Partition}
	s.asg.mu.Lock()
	epoch, owned := s.asg.owned[p]
	loaded := s.asg.loaded[p]
	s.asg.mu.Unlock()
	last, seen := b.seen[p]
	if !owned || rec.Offset <= loaded || (seen && last.epoch == epoch && rec.Offset <= last.rec.Offset) {
		// Revoked since it was fetched, or already in ClickHouse (or in
		// hand): the owner of the partition has it. A record seen under an
		// earlier assignment is not a duplicate: that assignment's rows
		// are dropped, and this one starts from what ClickHouse holds.
		s.stats.duplicates.Add(1)
		return nil
	}
	var de *schemas.DecodeError
	switch {
	case ev.err == nil:
		src := source{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}
		at := rowSource{part: b.part(p, epoch), offset: rec.Offset}
		switch e := ev.v.(type) {
		case *schemas.AttemptRecorded:
			b.attempts.add(&attemptRow{a: e, src: src}, at)
		case *schemas.PaymentResult:
			if producers.HeaderValue(rec, producers.HeaderReplay) != "" {
				// The answer to a duplicate request: a copy of a result
				// already loaded, not a result (migration 0005).
				s.stats.replays.Add(1)
			} else {
				b.payments.add(&paymentRow{p: e, src: src}, at)
			}
		case *schemas.PaymentRequested:
			if err := e.Validate(); err != nil {
				// The processor rejects it (REJECTED result, DLQ): there is
				// no payment to replay.
				s.stats.invalid.Add(1)
			} else {
				b.requests.add(&requestRow{r: e, src: src}, at)
			}
		}
	case errors.As(ev.err, &de) && de.Kind == schemas.KindUnknownSchema && rec.Topic != s.topics.Requested:
		return &NewerRecordError{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Err: de}
	case errors.As(ev.err, &de) || errors.Is(ev.err, errNotAnalytics):
		s.skip(rec, ev.err)
	default:
		return ev.err
	}
	b.take(rec, p, epoch)
	return nil
}

// take records that rec, of partition p polled under epoch, is in the
// batch, rows or not.
func (b *batch) take(rec *kgo.Record, p partition, epoch uint64) {
	if b.records == 0 {
		b.first = time.Now()
	}
	b.records++
	n := 1
	if t, ok := b.commit[p]; ok && t.epoch == epoch {
		n = t.n + 1
	}
	b.commit[p] = taken{rec: rec, epoch: epoch, n: n}
	b.seen[p] = taken{rec: rec, epoch: epoch}
}

// skip counts and logs an undecodable record. The log carries where it is
// and why, never its bytes.
func (s *Sink) skip(rec *kgo.Record, err error) {
	s.stats.skipped.Add(1)
	s.log.Warn("analytics: skipping undecodable record",
		"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "err", err)
}

// flush inserts the batch's rows, retrying until ClickHouse takes them or
// ctx ends, with fetching paused while it fails, then commits its records.
//
// After a failed insert the next try first waits for that insert to leave
// the server's process list and re-reads how far ClickHouse has loaded the
// batch's partitions: an insert whose answer was lost (connection cut after
// the server had the whole block) is applied, and its rows must not go in
// again. Each table's rows are one block, all-or-nothing, so "loaded up to
// offset N" is exact.
func (s *Sink) flush(ctx context.Context, b *batch) error {
	if b.records == 0 {
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
	recs, n := s.stillOwned(b)
	if len(recs) == 0 {
		return nil
	}
	// The commit only saves re-reading what ClickHouse already has (adjust
	// skips it anyway) and shows the group's lag; a failure costs nothing.
	if err := s.client.CommitRecords(ctx, recs...); err != nil {
		s.stats.commitErrors.Add(1)
		s.log.Warn("analytics offset commit failed; ClickHouse has the rows, the next owner skips them", "records", n, "err", err)
		return nil
	}
	s.stats.committed.Add(int64(n))
	return nil
}

// countLoaded adds to the stats the batch's rows that ClickHouse now holds:
// inserted and confirmed, or found there after an insert whose answer was
// lost. Rows of partitions revoked meanwhile are not counted (their next
// owner loads them).
func (s *Sink) countLoaded(b *batch) {
	s.asg.mu.Lock()
	defer s.asg.mu.Unlock()
	upTo := b.loadedUpTo(&s.asg)
	count := func(srcs []rowSource) int64 {
		var n int64
		for _, src := range srcs {
			if src.offset <= upTo[src.part] {
				n++
			}
		}
		return n
	}
	s.stats.attempts.Add(count(b.attempts.srcs))
	s.stats.payments.Add(count(b.payments.srcs))
	s.stats.requests.Add(count(b.requests.srcs))
}

// loadedUpTo is, for each partition of the batch's table (by index), the
// highest offset ClickHouse holds if it is still owned under the epoch of
// the batch's records, and -1 otherwise (the rows are the next owner's).
// Called with asg.mu held.
func (b *batch) loadedUpTo(asg *assignment) []int64 {
	out := make([]int64, len(b.parts))
	for i, pe := range b.parts {
		out[i] = -1
		if asg.owned[pe.p] == pe.epoch {
			out[i] = asg.loaded[pe.p]
		}
	}
	return out
}

// selection is the rows of a block still to be inserted: their indexes
// (nil: every row), how many, and the highest offset they carry per
// partition.
type selection struct {
	keep []int32
	n    int
	max  map[partition]int64
}

// selectRows keeps the rows whose partition is owned under the epoch they
// were taken in and whose offset ClickHouse does not hold yet. Per
// partition, what remains is a contiguous run of the partition's records,
// starting right after what ClickHouse holds. Called with asg.mu held.
func (b *batch) selectRows(asg *assignment, srcs []rowSource) selection {
	// from is, per partition of the batch, the lowest offset that may go
	// in: right after what ClickHouse holds, or none when the records were
	// polled under an assignment that has ended.
	from := make([]int64, len(b.parts))
	for i, pe := range b.parts {
		from[i] = math.MaxInt64
		if asg.owned[pe.p] == pe.epoch {
			from[i] = asg.loaded[pe.p] + 1
		}
	}
	top := make([]int64, len(b.parts))
	sel := selection{}
	for i, src := range srcs {
		if src.offset < from[src.part] {
			if sel.keep == nil {
				// From now on the rows are listed one by one.
				sel.keep = make([]int32, i, len(srcs))
				for j := range i {
					sel.keep[j] = int32(j)
				}
			}
			continue
		}
		if sel.keep != nil {
			sel.keep = append(sel.keep, int32(i))
		}
		sel.n++
		top[src.part] = max(top[src.part], src.offset)
	}
	sel.max = map[partition]int64{}
	for i, n := range top {
		if from[i] != math.MaxInt64 && n >= from[i] {
			sel.max[b.parts[i].p] = n
		}
	}
	return sel
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
	att := b.selectRows(&s.asg, b.attempts.srcs)
	pay := b.selectRows(&s.asg, b.payments.srcs)
	req := b.selectRows(&s.asg, b.requests.srcs)
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

	send := func(table string, sel selection, do func(context.Context) error) error {
		if sel.n == 0 {
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
		s.markLoaded(sel.max)
		return nil
	}
	if err := send("attempts", att, func(c context.Context) error {
		return insertBlock(c, s.conn, b.attempts, att.keep)
	}); err != nil {
		return ids, err
	}
	if err := send("payments", pay, func(c context.Context) error {
		return insertBlock(c, s.conn, b.payments, pay.keep)
	}); err != nil {
		return ids, err
	}
	if err := send("requests", req, func(c context.Context) error {
		return insertBlock(c, s.conn, b.requests, req.keep)
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
