package analytics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// The sink's own view of what ClickHouse holds: how far each Kafka
// partition is loaded (ingest_offsets, migration 0002), and which of its
// inserts are still executing on the server.

// errStillRunning is returned (and retried) while an insert the sink waits
// for is still in the server's process list.
var errStillRunning = errors.New("an earlier insert is still executing on the server")

// queryIDPrefix starts the query id of every insert the sink sends into a
// database, so that any sink, in any process, can find the inserts into
// that database still executing on the server.
func queryIDPrefix(database string) string { return "payroute-sink:" + database + ":" }

// queryID is a fresh query id for one insert.
func (s *Sink) queryID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return queryIDPrefix(s.conn.Database) + hex.EncodeToString(b[:])
}

// loadedOffsets reads, per partition, the highest offset ClickHouse holds
// in any raw table.
func loadedOffsets(ctx context.Context, c *Conn) (map[partition]int64, error) {
	rows, err := c.Query(ctx, `SELECT source_topic, source_partition, max(max_offset)
FROM `+c.table("ingest_offsets")+`
GROUP BY source_topic, source_partition`)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.table("ingest_offsets"), err)
	}
	defer rows.Close()
	out := map[partition]int64{}
	for rows.Next() {
		var topic string
		var id int32
		var at uint64
		if err := rows.Scan(&topic, &id, &at); err != nil {
			return nil, fmt.Errorf("read %s: %w", c.table("ingest_offsets"), err)
		}
		out[partition{topic, id}] = int64(at)
	}
	return out, rows.Err()
}

// runningInserts lists the sink inserts into c's database executing on the
// server now, from any sink instance.
func runningInserts(ctx context.Context, c *Conn) ([]string, error) {
	rows, err := c.Query(ctx, "SELECT query_id FROM system.processes WHERE startsWith(query_id, ?)", queryIDPrefix(c.Database))
	if err != nil {
		return nil, fmt.Errorf("read system.processes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read system.processes: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// insertsRunning waits for the sink inserts into a database that were
// executing on the server when wait was first called: those may carry the
// rows of partitions changing hands (or of a run that died), while inserts
// that start later are other owners' and waiting for them could last as
// long as they keep coming. wait is meant to be retried until it returns
// nil; the list is taken once.
type insertsRunning struct {
	ids    []string
	listed bool
}

func (r *insertsRunning) wait(ctx context.Context, c *Conn) error {
	if !r.listed {
		ids, err := runningInserts(ctx, c)
		if err != nil {
			return err
		}
		r.ids, r.listed = ids, true
	}
	return waitQueries(ctx, c, r.ids)
}

// waitQueries returns errStillRunning while any of the queries is in the
// server's process list, nil once none is. A query leaves the list only
// after it has finished, materialized views included, so from then on its
// effect (all of the block, or none of it) is final.
func waitQueries(ctx context.Context, c *Conn, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var n uint64
	if err := c.QueryRow(ctx, "SELECT count() FROM system.processes WHERE has(?, query_id)", ids).Scan(&n); err != nil {
		return fmt.Errorf("read system.processes: %w", err)
	}
	if n > 0 {
		return errStillRunning
	}
	return nil
}
