package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/analytics/clickhousetest"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/kafka/kafkatest"
)

// payroute migrate --forget-topic forgets how far a recreated topic was
// loaded (the rest of the remedy is analytics.TestSinkStopsOnARecreatedTopic)
// and refuses a topic the sink does not load.
func TestMigrateForgetTopic(t *testing.T) {
	addr := clickhousetest.Addr(t)
	_, emb := kafkatest.Cluster(t, kafka.DefaultConfiguration())
	database := "payroute_forget_" + randomSuffix(t)
	file := filepath.Join(t.TempDir(), "payroute.yaml")
	yaml := "kafka:\n  brokers: [" + strings.Join(emb.Addrs(), ", ") + "]\nanalytics:\n  clickhouse:\n    addr: " + addr + "\n    database: " + database + "\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := migrateCommand([]string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	ch := analytics.DefaultConfiguration().ClickHouse
	ch.Addr, ch.Database = addr, database
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := analytics.Open(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+database)
		_ = conn.Close()
	}()
	// INSERT ... SELECT: clickhouse-go sends INSERT ... VALUES as a batch.
	if err := conn.Exec(ctx, "INSERT INTO "+database+".ingest_offsets (source_topic, source_partition, max_offset) "+
		"SELECT t.1, t.2, t.3 FROM (SELECT arrayJoin([('payments.attempts', toInt32(0), toUInt64(41)), ('payments.attempts', toInt32(1), toUInt64(7)), ('payments.results', toInt32(0), toUInt64(12))]) AS t)"); err != nil {
		t.Fatal(err)
	}

	if err := migrateCommand([]string{"--config", file, "--forget-topic", "payments.dlq"}); err == nil || !strings.Contains(err.Error(), "not a topic the sink loads") {
		t.Fatalf("forgetting payments.dlq: %v, want a refusal", err)
	}
	if err := migrateCommand([]string{"--config", file, "--forget-topic", "payments.attempts"}); err != nil {
		t.Fatal(err)
	}
	var attempts, results uint64
	if err := conn.QueryRow(ctx, "SELECT countIf(source_topic = 'payments.attempts'), countIf(source_topic = 'payments.results') FROM "+database+".ingest_offsets").Scan(&attempts, &results); err != nil {
		t.Fatal(err)
	}
	if attempts != 0 || results != 1 {
		t.Fatalf("ingest_offsets after forgetting payments.attempts: %d rows of it, %d of payments.results; want 0 and 1", attempts, results)
	}
}
