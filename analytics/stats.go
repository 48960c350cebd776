package analytics

import "sync/atomic"

// Stats is a snapshot of the sink's counters, for progress output, metrics
// and tests. Rows inserted are distinct records: the sink never inserts a
// record ClickHouse already holds.
type Stats struct {
	// AttemptsInserted, PaymentsInserted and RequestsInserted are rows
	// accepted by ClickHouse.
	AttemptsInserted int64
	PaymentsInserted int64
	RequestsInserted int64
	// Batches is the number of flushes that reached ClickHouse.
	Batches int64
	// Committed is the number of Kafka records whose offsets are committed:
	// loaded (or skipped) for good.
	Committed int64
	// Skipped is the number of records that could not be decoded.
	Skipped int64
	// Invalid is the number of payment requests that decoded but that the
	// processor rejects (not loaded: there is no payment to analyse).
	Invalid int64
	// Replays is the number of results republished for duplicate requests
	// (producers.HeaderReplay): copies of results already loaded, not
	// loaded again.
	Replays int64
	// Duplicates counts records delivered again that ClickHouse (or the
	// batch) already held, or that belonged to a partition revoked since
	// they were fetched; none of them was inserted.
	Duplicates int64
	// InsertErrors counts failed ClickHouse round trips (each one retried).
	InsertErrors int64
	// CommitErrors counts failed offset commits (harmless: the next owner
	// of the partition starts from what ClickHouse holds).
	CommitErrors int64
	// Migrated is true once the schema is in place and loading has begun.
	Migrated bool
	// Stopped is why the sink stopped on its own, not asked to (a
	// *NewerRecordError, a *DivergedError, or a decode failure that
	// outlasted its retries); empty while it runs and after Stop. Nothing is loaded on this
	// instance after that until it is restarted.
	Stopped string
}

type counters struct {
	attempts, payments, requests, batches, committed atomic.Int64
	skipped, invalid, replays, duplicates            atomic.Int64
	insertErrors, commitErrors                       atomic.Int64
	migrated                                         atomic.Bool
	stopped                                          atomic.Pointer[string]
}

func (c *counters) snapshot() Stats {
	return Stats{
		AttemptsInserted: c.attempts.Load(),
		PaymentsInserted: c.payments.Load(),
		RequestsInserted: c.requests.Load(),
		Batches:          c.batches.Load(),
		Committed:        c.committed.Load(),
		Skipped:          c.skipped.Load(),
		Invalid:          c.invalid.Load(),
		Replays:          c.replays.Load(),
		Duplicates:       c.duplicates.Load(),
		InsertErrors:     c.insertErrors.Load(),
		CommitErrors:     c.commitErrors.Load(),
		Migrated:         c.migrated.Load(),
		Stopped:          c.stoppedReason(),
	}
}

func (c *counters) stoppedReason() string {
	if p := c.stopped.Load(); p != nil {
		return *p
	}
	return ""
}
