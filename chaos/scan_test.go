package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/analytics/clickhousetest"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/kafka/kafkatest"
	"github.com/payroute/payroute/schemas"
	"github.com/payroute/payroute/schemas/schemastest"
)

// kinds lists the findings' kinds and places, sorted (topics are read
// concurrently), for comparison.
func kinds(fs []Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind+"@"+f.Where)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// The scanner finds what it looks for (card numbers, plain and grouped,
// security-code fields and configured secrets) in logs, records and
// tables, and nothing in what payroute legitimately writes that looks
// numeric.
func TestScannerFindsCardData(t *testing.T) {
	pan := schemastest.CardNumber("5" + strings.Repeat("1", 14))
	grouped := pan[:4] + " " + pan[4:8] + " " + pan[8:12] + " " + pan[12:]

	t.Run("logs", func(t *testing.T) {
		s := NewScanner()
		s.Secret("sasl password", "hunter2-not-real")
		lines := []string{
			`level=INFO msg="attempt" payment_id=chaos-1-p000123 psp_code=incorrect_cvc amount_minor=424242`,
			`level=INFO msg="timestamps" at_ms=1763683200000 at_ns=1763683200000000000 id=31415926535897932384626`,
			`level=WARN msg="token" token="` + grouped + `"`,
			`level=INFO msg="form" cvv=123`,
			`{"level":"INFO","CVC2": "999"}`,
			`level=INFO msg="dump" password=hunter2-not-real`,
		}
		// Written in pieces that cut lines in two: the scanner joins them.
		all := strings.Join(lines, "\n") + "\n"
		for len(all) > 0 {
			n := min(len(all), 17)
			_, _ = s.Write([]byte(all[:n]))
			all = all[n:]
		}
		got := kinds(s.Findings())
		want := "cvv_field@log line 4\ncvv_field@log line 5\npan@log line 3\nsecret sasl password@log line 6"
		if got != want {
			t.Fatalf("findings:\n%s\nwant:\n%s", got, want)
		}
		if c := s.Counts(); c["log lines"] != int64(len(lines)) || c["findings"] != 4 {
			t.Fatalf("counts %v", c)
		}
	})

	t.Run("records", func(t *testing.T) {
		cfg := kafka.DefaultConfiguration()
		cfg.Partitions = 1
		cluster, _ := kafkatest.Cluster(t, cfg)
		serde, err := schemas.New(schemas.DefaultConfiguration())
		if err != nil {
			t.Fatal(err)
		}
		// An Avro value with the number in a string field, a clean one,
		// a header named like a CVV, a key with the number: in a committed
		// and an aborted transaction.
		withPAN, err := serde.Encode(&schemas.PaymentResult{PaymentID: "p-1", Operation: schemas.OpCharge, Status: schemas.StatusRejected, Reason: "bad token " + pan})
		if err != nil {
			t.Fatal(err)
		}
		clean, err := serde.Encode(&schemas.PaymentResult{PaymentID: "p-2", Operation: schemas.OpCharge, Status: schemas.StatusApproved, RequestedAtMs: 1763683200000, AmountMinor: 424242})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := cluster.NewClient(kgo.TransactionalID("scan-test"))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		topics := cluster.Topics()
		for i, batch := range [][]*kgo.Record{
			{{Topic: topics.Results, Key: []byte("p-2"), Value: clean}, {Topic: topics.Results, Key: []byte("p-1"), Value: withPAN}},
			{{Topic: topics.DLQ, Key: []byte(pan), Value: clean, Headers: []kgo.RecordHeader{{Key: "CVV2", Value: []byte("x")}}}},
		} {
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			// The second batch is aborted: it is in the log all the same.
			if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(i == 0)); err != nil {
				t.Fatal(err)
			}
		}
		s := NewScanner()
		if err := s.Topics(ctx, cluster); err != nil {
			t.Fatal(err)
		}
		got := kinds(s.Findings())
		want := fmt.Sprintf("cvv_field@topic %[1]s partition 0 offset 0 header name\npan@topic %[1]s partition 0 offset 0 key\npan@topic %[2]s partition 0 offset 1 value",
			topics.DLQ, topics.Results)
		if got != want {
			t.Fatalf("findings:\n%s\nwant:\n%s", got, want)
		}
		if n := s.Counts()["records"]; n != 3 {
			t.Fatalf("scanned %d records, want 3 (the aborted one included)", n)
		}
	})

	t.Run("tables", func(t *testing.T) {
		addr := clickhousetest.Addr(t)
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		cfg := analytics.DefaultConfiguration().ClickHouse
		cfg.Addr, cfg.Database = addr, "payroute_scan_"+hex.EncodeToString(b[:])
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		conn, err := analytics.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		defer func() { _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database) }()
		for _, q := range []string{
			"CREATE DATABASE " + cfg.Database,
			"CREATE TABLE " + cfg.Database + ".t (id String, cvc String, notes Array(String), at_ms UInt64) ENGINE = MergeTree() ORDER BY id",
			"CREATE MATERIALIZED VIEW " + cfg.Database + ".mv ENGINE = MergeTree() ORDER BY id AS SELECT id FROM " + cfg.Database + ".t",
			"INSERT INTO " + cfg.Database + ".t SELECT 'a', '', ['fine'], 1763683200000",
			"INSERT INTO " + cfg.Database + ".t SELECT 'b', '', ['x', 'card " + grouped + "'], 2",
		} {
			if err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		s := NewScanner()
		if err := s.Tables(ctx, conn); err != nil {
			t.Fatal(err)
		}
		// Rows come in no particular order: which one it was is not compared.
		got := regexp.MustCompile(`row \d+`).ReplaceAllString(kinds(s.Findings()), "row N")
		want := "cvv_field@table t column name\npan@table t row N column notes"
		if got != want {
			t.Fatalf("findings:\n%s\nwant:\n%s", got, want)
		}
	})
}
