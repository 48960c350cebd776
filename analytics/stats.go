package analytics

import "sync/atomic"

// Stats is a snapshot of the sink's counters, for progress output, metrics
// and tests. Rows inserted count what ClickHouse accepted, copies included:
// after a crash between an insert and its offset commit the same rows are
// inserted again (and collapse in the tables), so these may exceed the
// number of distinct events; Committed never does.
type Stats struct {
	// AttemptsInserted and PaymentsInserted are rows accepted by ClickHouse.
	AttemptsInserted int64
	PaymentsInserted int64
	// Batches is the number of flushes that reached ClickHouse.
	Batches int64
	// Committed is the number of Kafka records whose offsets are committed:
	// loaded (or skipped as undecodable) for good.
	Committed int64
	// Skipped is the number of records that could not be decoded.
	Skipped int64
	// InsertErrors counts failed ClickHouse round trips (each one retried).
	InsertErrors int64
	// CommitErrors counts failed offset commits (the rows are in ClickHouse;
	// the records are delivered again and collapse).
	CommitErrors int64
	// Migrated is true once the schema is in place and loading has begun.
	Migrated bool
}

type counters struct {
	attempts, payments, batches, committed, skipped, insertErrors, commitErrors atomic.Int64
	migrated                                                                    atomic.Bool
}

func (c *counters) snapshot() Stats {
	return Stats{
		AttemptsInserted: c.attempts.Load(),
		PaymentsInserted: c.payments.Load(),
		Batches:          c.batches.Load(),
		Committed:        c.committed.Load(),
		Skipped:          c.skipped.Load(),
		InsertErrors:     c.insertErrors.Load(),
		CommitErrors:     c.commitErrors.Load(),
		Migrated:         c.migrated.Load(),
	}
}
