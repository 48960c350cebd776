package analytics

import (
	"context"
	"errors"
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
	t.Parallel()
	cfg := testConfig(t)
	e := newEnv(t)
	c := openTest(t, cfg)
	attempts, results, events := dataset("m-1", "pay", 23, base)
	// A record that is not an event: counted, skipped, committed.
	events = append(events, &kgo.Record{Topic: e.cluster.Topics().Attempts, Key: []byte("x"), Value: []byte("not avro")})
	// A request, and one the processor rejects: only the first is loaded.
	req := request("m-1", "req-1", base)
	bad := request("m-1", "req-2", base)
	bad.AmountMinor = 0
	events = append(events, req, bad)
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
	if st.Skipped != 1 || st.Invalid != 1 || st.RequestsInserted != 1 || !st.Migrated || st.InsertErrors != 0 || st.Batches < 2 || st.Duplicates != 0 {
		t.Fatalf("stats %+v", st)
	}
	for table, want := range map[string]int{"attempts": len(attempts), "payments": len(results), "requests": 1} {
		if n := count(t, c, "SELECT count() FROM "+c.table(table)); n != uint64(want) {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	// The aggregates have every attempt once.
	if n := count(t, c, "SELECT sum(attempts) FROM "+c.table("psp_minute")); n != uint64(len(attempts)) {
		t.Errorf("psp_minute counts %d attempts, want %d", n, len(attempts))
	}

	// The request, with what routing needs.
	var cands, methods, keys, values []string
	var ranks []int32
	var bin, last4, network, override string
	var recurring uint8
	if err := c.QueryRow(context.Background(), `SELECT candidate_psps, candidate_methods, candidate_ranks, metadata_keys, metadata_values,
    card_bin, card_last4, card_network, provider_override, recurring
FROM `+c.table("requests")+` WHERE payment_id = 'req-1'`).Scan(&cands, &methods, &ranks, &keys, &values, &bin, &last4, &network, &override, &recurring); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cands, []string{"psp-b", "psp-a"}) || !reflect.DeepEqual(methods, []string{"card", ""}) ||
		!reflect.DeepEqual(ranks, []int32{1, 2}) || !reflect.DeepEqual(keys, []string{"channel", "segment"}) ||
		!reflect.DeepEqual(values, []string{"web", "gold"}) || bin != "400000" || last4 != "0004" || network != "visa" ||
		override != "" || recurring != 1 {
		t.Fatalf("request row: %v %v %v %v %v %s %s %s %q %d", cands, methods, ranks, keys, values, bin, last4, network, override, recurring)
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
FROM `+c.table("attempts")+` WHERE attempt_id = ?`, want.AttemptID).Scan(
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
FROM `+c.table("payments")+` WHERE payment_id = ?`, res.PaymentID).Scan(&path, &first, &final, &status, &count32, &ttf); err != nil {
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
	if n := count(t, c, "SELECT count() FROM "+c.table("attempts")); n != uint64(len(more)) {
		t.Fatalf("re-created attempts table has %d rows, want %d", n, len(more))
	}

	if err := stopSink(s); err != nil {
		t.Fatal(err)
	}
}

// An insert that ClickHouse applied but whose answer was lost (the
// connection cut on the way back) is not sent again: the sink waits for it
// to leave the server and sees that its rows are in.
func TestSinkLostInsertAnswerIsNotRepeated(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.BatchSize = 50
	e := newEnv(t)
	c := openTest(t, cfg)
	attempts, results, events := dataset("m-1", "lost", 40, base)
	e.publish(t, events...)
	var mu sync.Mutex
	lost := 0
	s := e.startSink(t, cfg, func(s *Sink) {
		s.testHook = func(point string) error {
			mu.Lock()
			defer mu.Unlock()
			if point == "inserted:attempts" && lost < 2 {
				lost++
				return errors.New("connection reset by peer (test: the answer was lost)")
			}
			return nil
		}
	})
	waitFor(t, 30*time.Second, "all records committed", func() bool { return s.Stats().Committed == int64(len(events)) })
	if st := s.Stats(); st.InsertErrors < 2 || st.AttemptsInserted != int64(len(attempts)) {
		t.Fatalf("stats %+v", st)
	}
	for table, want := range map[string]int{"attempts": len(attempts), "payments": len(results)} {
		if n := count(t, c, "SELECT count() FROM "+c.table(table)); n != uint64(want) {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	if n := count(t, c, "SELECT sum(attempts) FROM "+c.table("psp_minute")); n != uint64(len(attempts)) {
		t.Errorf("psp_minute counts %d attempts, want %d", n, len(attempts))
	}
}

// Two sinks in one group share the partitions, hand them over when the
// second joins and when the first leaves, while events keep coming: every
// event is in ClickHouse once.
func TestSinksHandOverPartitions(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.BatchSize = 20
	cfg.FlushInterval = 50 * time.Millisecond
	e := newEnv(t)
	c := openTest(t, cfg)
	w := newWorld(5, 300, base)
	events := w.events()
	third := len(events) / 3
	e.publish(t, events[:third]...)
	quick := func(s *Sink) { s.clientOpts = []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond)} }
	a := e.startSink(t, cfg, quick)
	waitFor(t, 30*time.Second, "the first sink to load", func() bool { return a.Stats().Committed > 0 })
	e.publish(t, events[third:2*third]...)
	b := e.startSink(t, cfg, quick)
	waitFor(t, 30*time.Second, "the second sink to load", func() bool { return b.Stats().Committed > 0 })
	if err := stopSink(a); err != nil {
		t.Fatal(err)
	}
	e.publish(t, events[2*third:]...)
	waitFor(t, 60*time.Second, "every event loaded", func() bool {
		return count(t, c, "SELECT count() FROM "+c.table("attempts")) >= uint64(len(w.attempts)) &&
			count(t, c, "SELECT count() FROM "+c.table("payments")) >= uint64(len(w.results))
	})
	if err := stopSink(b); err != nil {
		t.Fatal(err)
	}
	t.Logf("first sink %+v", a.Stats())
	t.Logf("second sink %+v", b.Stats())
	for table, want := range map[string]int{"attempts": len(w.attempts), "payments": len(w.results)} {
		if n := count(t, c, "SELECT count() FROM "+c.table(table)); n != uint64(want) {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	res, err := RunQuery(context.Background(), c, "success_rate", ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	compareTables(t, resultTable(t, res, []string{"psp"}), truthSuccessRate(w, scope{from: minDateTime, to: maxDateTime}))
}
