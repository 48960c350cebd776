package analytics

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/schemas"
)

// dataset is payments with 1 to 3 attempts each: every third payment fails
// over once, every fifth twice. events has them in publishing order: each
// payment's attempts, then its result.
func dataset(merchant, prefix string, payments int, at time.Time) (attempts []*schemas.AttemptRecorded, results []*schemas.PaymentResult, events []any) {
	psps := []string{"psp-a", "psp-b", "psp-c"}
	for i := 0; i < payments; i++ {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		hops := 1
		if i%3 == 0 {
			hops = 2
		}
		if i%5 == 0 {
			hops = 3
		}
		var path []*schemas.AttemptRecorded
		prev := ""
		for n := 1; n <= hops; n++ {
			class := schemas.ClassNone
			if n < hops {
				class = schemas.ClassPSPError
			}
			a := attempt(merchant, id, int32(n), psps[n-1], prev, class, at.Add(time.Duration(i)*time.Second+time.Duration(n)*100*time.Millisecond))
			path = append(path, a)
			prev = a.PSP
		}
		res := result(schemas.StatusApproved, path...)
		attempts = append(attempts, path...)
		results = append(results, res)
		for _, a := range path {
			events = append(events, a)
		}
		events = append(events, res)
	}
	return attempts, results, events
}

func TestSinkLoadsEvents(t *testing.T) {
	cfg := testConfig(t)
	e := newEnv(t)
	c := openTest(t, cfg)
	attempts, results, events := dataset("m-1", "pay", 23, base)
	// A record that is not an event: counted, skipped, committed.
	events = append(events, &kgo.Record{Topic: e.cluster.Topics().Attempts, Key: []byte("x"), Value: []byte("not avro")})
	e.publish(t, events...)

	s := e.startSink(t, cfg)
	waitFor(t, 30*time.Second, "all records committed", func() bool {
		return s.Stats().Committed == int64(len(events))
	})
	na, np := s.Inserted()
	if na != int64(len(attempts)) || np != int64(len(results)) {
		t.Fatalf("Inserted() = %d, %d; want %d, %d", na, np, len(attempts), len(results))
	}
	st := s.Stats()
	if st.Skipped != 1 || !st.Migrated || st.InsertErrors != 0 || st.Batches < 2 {
		t.Fatalf("stats %+v", st)
	}
	for table, want := range map[string]int{"attempts": len(attempts), "payments": len(results)} {
		if n := count(t, c, "SELECT count() FROM "+c.table(table)+" FINAL"); n != uint64(want) {
			t.Errorf("%s FINAL: %d rows, want %d", table, n, want)
		}
		if n := count(t, c, "SELECT count() FROM "+c.table(table)); n != uint64(want) {
			t.Errorf("%s: %d rows, want %d (no copies without a crash)", table, n, want)
		}
	}

	// One attempt, column by column.
	want := attempts[1] // pay-0000's second attempt: a failover from psp-a
	var got struct {
		payment, merchant, psp, prev, outcome, class, bin, topic string
		number, rank                                             uint32
		amount, fee                                              int64
		latency, startedMs, finishedMs                           uint64
		started                                                  time.Time
	}
	if err := c.QueryRow(context.Background(), `SELECT payment_id, merchant_id, psp, previous_psp, outcome, class, card_bin,
    source_topic, attempt_number, rank, amount_minor, fee_minor, latency_ms, started_at_ms, finished_at_ms, started_at
FROM `+c.table("attempts")+` FINAL WHERE attempt_id = ?`, want.AttemptID).Scan(
		&got.payment, &got.merchant, &got.psp, &got.prev, &got.outcome, &got.class, &got.bin, &got.topic,
		&got.number, &got.rank, &got.amount, &got.fee, &got.latency, &got.startedMs, &got.finishedMs, &got.started); err != nil {
		t.Fatal(err)
	}
	if got.payment != want.PaymentID || got.merchant != "m-1" || got.psp != "psp-b" || got.prev != "psp-a" ||
		got.outcome != string(want.Outcome) || got.class != string(want.Class) || got.bin != "400000" ||
		got.topic != e.cluster.Topics().Attempts || got.number != 2 || got.rank != 2 || got.amount != 1299 ||
		got.fee != 31 || got.latency != 42 || got.startedMs != uint64(want.StartedAtMs) ||
		got.finishedMs != uint64(want.FinishedAtMs) || !got.started.Equal(time.UnixMilli(want.StartedAtMs).Truncate(time.Second)) {
		t.Fatalf("attempt row %+v, published %+v", got, want)
	}

	// One payment: the path, the first and final PSPs, time to final.
	res := results[0] // pay-0000: three attempts
	var path []string
	var first, final, status string
	var count32 uint32
	var ttf uint64
	if err := c.QueryRow(context.Background(), `SELECT psp_path, first_psp, psp, status, attempt_count, time_to_final_ms
FROM `+c.table("payments")+` FINAL WHERE payment_id = ?`, res.PaymentID).Scan(&path, &first, &final, &status, &count32, &ttf); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(path, []string{"psp-a", "psp-b", "psp-c"}) || first != "psp-a" || final != "psp-c" ||
		status != "APPROVED" || count32 != 3 || ttf != uint64(res.CompletedAtMs-res.RequestedAtMs) {
		t.Fatalf("payment row: path %v first %s final %s status %s count %d ttf %d", path, first, final, status, count32, ttf)
	}

	// Tables dropped under the running sink are re-created, and the rows
	// that were waiting for them loaded.
	if err := c.Exec(context.Background(), "DROP TABLE "+c.table("attempts")); err != nil {
		t.Fatal(err)
	}
	more, _, moreEvents := dataset("m-1", "later", 3, base)
	e.publish(t, moreEvents...)
	waitFor(t, 30*time.Second, "rows after the table was dropped", func() bool {
		return s.Stats().Committed == int64(len(events)+len(moreEvents))
	})
	if n := count(t, c, "SELECT count() FROM "+c.table("attempts")+" FINAL"); n != uint64(len(more)) {
		t.Fatalf("re-created attempts table has %d rows, want %d", n, len(more))
	}

	if err := stopSink(s); err != nil {
		t.Fatal(err)
	}
}

// A sink stopped mid-stream, then one that crashes after every insert
// (never committing), then a third: nothing is lost, copies collapse, and
// the FINAL counts equal the event log exactly.
func TestSinkRestartMidStream(t *testing.T) {
	cfg := testConfig(t)
	cfg.BatchSize = 25
	e := newEnv(t)
	c := openTest(t, cfg)
	stopMerges(t, c)
	attempts, results, events := dataset("m-1", "pay", 300, base)

	// Publish in small chunks while the sinks come and go.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < len(events); i += 20 {
			e.publish(t, events[i:min(i+20, len(events))]...)
			time.Sleep(10 * time.Millisecond)
		}
	}()

	s1 := e.startSink(t, cfg)
	waitFor(t, 30*time.Second, "first sink to load something", func() bool { return s1.Stats().Committed >= 100 })
	if err := stopSink(s1); err != nil {
		t.Fatal(err)
	}
	first := s1.Stats().Committed

	crashy := e.startSink(t, cfg, func(s *Sink) { s.commitDisabled = true })
	waitFor(t, 30*time.Second, "crashing sink to insert", func() bool { a, p := crashy.Inserted(); return a+p >= 100 })
	if err := stopSink(crashy); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	s3 := e.startSink(t, cfg)
	waitFor(t, 60*time.Second, "the rest to be committed", func() bool {
		return first+s3.Stats().Committed == int64(len(events))
	})
	if err := stopSink(s3); err != nil {
		t.Fatal(err)
	}

	// Merges are stopped, so the crashing sink's copies are all still there
	// as rows; only FINAL collapses them.
	var raw uint64
	for table, want := range map[string]int{"attempts": len(attempts), "payments": len(results)} {
		if n := count(t, c, "SELECT count() FROM "+c.table(table)+" FINAL"); n != uint64(want) {
			t.Errorf("%s FINAL: %d rows, want exactly %d", table, n, want)
		}
		n := count(t, c, "SELECT count() FROM "+c.table(table))
		if n < uint64(want) {
			t.Errorf("%s: %d raw rows, fewer than the %d events", table, n, want)
		}
		t.Logf("%s: %d events, %d raw rows, %d with FINAL", table, want, n, want)
		raw += n
	}
	var inserted int64
	for _, s := range []*Sink{s1, crashy, s3} {
		a, p := s.Inserted()
		inserted += a + p
	}
	if inserted <= int64(len(events)) || raw != uint64(inserted) {
		t.Fatalf("%d rows inserted, %d raw rows, for %d events: want copies from the crash, all kept as rows", inserted, raw, len(events))
	}
	t.Logf("%d rows inserted in all for %d events", inserted, len(events))
	if n := count(t, c, "SELECT uniqExact(payment_id) FROM "+c.table("attempts")); n != uint64(len(results)) {
		t.Fatalf("%d payments in attempts, want %d", n, len(results))
	}
}
