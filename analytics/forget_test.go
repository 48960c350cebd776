package analytics

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// An earlier run with the embedded broker died in the middle of an insert
// that the server is still executing. Forgetting that run's offsets at
// start waits for the insert, as an assignment does: its offsets would
// otherwise land after the delete, and this run's sink would skip its first
// records (or stop on them, DivergedError).
func TestForgetEmbeddedWaitsForAnEarlierRunsInsert(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	e := newEnv(t)
	c := openTest(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Migrate(ctx, c); err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, e.cluster, e.serde, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.conn = c
	s.retryInitial, s.retryMax = 20*time.Millisecond, 200*time.Millisecond
	topic := e.cluster.Topics().Attempts

	// The earlier run's last insert, still executing: its offsets reach
	// ingest_offsets in two seconds.
	id := queryIDPrefix(c.Database) + "earlier-run"
	done := make(chan error, 1)
	go func() {
		done <- c.Exec(clickhouse.Context(ctx, clickhouse.WithQueryID(id)),
			"INSERT INTO "+c.table("ingest_offsets")+" (source_topic, source_partition, max_offset) "+
				"SELECT ?, toInt32(0), toUInt64(41) FROM system.one WHERE sleep(2) = 0", topic)
	}()
	waitFor(t, 10*time.Second, "the earlier insert to be running", func() bool {
		ids, err := runningInserts(ctx, c)
		return err == nil && len(ids) == 1 && ids[0] == id
	})

	if err := s.forgetEmbedded(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	held, err := loadedOffsets(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if at, ok := held[partition{topic, 0}]; ok {
		t.Fatalf("ClickHouse still holds %s partition 0 up to offset %d after forgetting at start: this run's records up to it would be skipped", topic, at)
	}
}
