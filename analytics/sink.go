package analytics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/schemas"
)

// batch is the rows in hand and the records they came from. Records are
// committed together once every row of the batch is in ClickHouse.
type batch struct {
	attempts []attemptRow
	payments []paymentRow
	records  []*kgo.Record
	first    time.Time // when the first record entered the batch

	// Set once that table's rows are in: a retry after a failure of the
	// other table does not insert them twice.
	attemptsDone, paymentsDone bool
}

func (b *batch) len() int { return len(b.records) }

// ClickHouse error codes after which the schema is re-applied before the
// next retry: someone dropped the tables (or the database) under the sink.
const (
	chUnknownTable    = 60
	chUnknownDatabase = 81
)

// run migrates, then polls, batches and flushes until runCtx is cancelled,
// then flushes what is in hand. flushCtx bounds the ClickHouse retries: it
// is cancelled only when Stop gives up waiting.
func (s *Sink) run(runCtx, flushCtx context.Context) error {
	if err := s.retry(runCtx, "migrate", func() error { return Migrate(runCtx, s.conn) }); err != nil {
		return err
	}
	s.stats.migrated.Store(true)
	s.log.Info("analytics schema ready", "database", s.conn.Database)

	b := &batch{}
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
			fetches := s.client.PollRecords(pollCtx, s.cfg.BatchSize-b.len())
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
				// decoded, leave the rest uncommitted for next time.
				if err := final(); err != nil {
					return err
				}
				return stop
			}
		}
		if b.len() > 0 && (b.len() >= s.cfg.BatchSize || time.Since(b.first) >= s.cfg.FlushInterval) {
			// The flush gives up only when Stop does.
			if err := final(); err != nil {
				return err
			}
			b = &batch{}
		}
	}
}

// add decodes a record into the batch. Undecodable records are skipped (and
// committed with the batch); a transient decode failure (the schema
// registry unreachable) is retried, and its error returned only when ctx
// ends first.
func (s *Sink) add(ctx context.Context, b *batch, rec *kgo.Record) error {
	if b.len() == 0 {
		b.first = time.Now()
	}
	src := source{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}
	var v any
	switch rec.Topic {
	case s.topics.Attempts:
		v = new(schemas.AttemptRecorded)
	case s.topics.Results:
		v = new(schemas.PaymentResult)
	default:
		s.skip(rec, errors.New("not an analytics topic"))
		b.records = append(b.records, rec)
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
			b.payments = append(b.payments, paymentRow{p: e, src: src})
		}
	}
	b.records = append(b.records, rec)
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
func (s *Sink) flush(ctx context.Context, b *batch) error {
	if b.len() == 0 {
		return nil
	}
	paused := false
	defer func() {
		if paused {
			s.client.ResumeFetchTopics(s.topics.Attempts, s.topics.Results)
		}
	}()
	remigrate := false
	err := s.retry(ctx, "insert", func() error {
		if remigrate {
			if err := migrate(ctx, s.conn, true); err != nil {
				return err
			}
			remigrate = false
		}
		err := s.insert(ctx, b)
		if err != nil {
			if !paused {
				s.client.PauseFetchTopics(s.topics.Attempts, s.topics.Results)
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
	if s.commitDisabled {
		return nil
	}
	if err := s.client.CommitRecords(ctx, b.records...); err != nil {
		// The rows are in ClickHouse; the records come again (after a
		// rebalance, or at the next start) and their copies collapse.
		s.stats.commitErrors.Add(1)
		s.log.Warn("analytics offset commit failed; the batch will be delivered again", "records", b.len(), "err", err)
		return nil
	}
	s.stats.committed.Add(int64(b.len()))
	return nil
}

// insert sends the tables of the batch not sent yet.
func (s *Sink) insert(ctx context.Context, b *batch) error {
	if !b.attemptsDone {
		if err := insertRows(ctx, s.conn, "attempts", attemptColumns, b.attempts); err != nil {
			return err
		}
		b.attemptsDone = true
		s.stats.attempts.Add(int64(len(b.attempts)))
	}
	if !b.paymentsDone {
		if err := insertRows(ctx, s.conn, "payments", paymentColumns, b.payments); err != nil {
			return err
		}
		b.paymentsDone = true
		s.stats.payments.Add(int64(len(b.payments)))
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
