package analytics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
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

// The batch's bookkeeping, without Kafka or ClickHouse: what an insert
// would send after a partition is revoked and assigned again in the middle
// of a batch, and what is committed.
func TestBatchKeepsOneContiguousRunPerAssignment(t *testing.T) {
	topics := kafka.DefaultConfiguration().Topics()
	s := &Sink{topics: topics, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		asg: assignment{owned: map[partition]uint64{}, loaded: map[partition]int64{}, behind: map[partition]behindCommit{}}}
	p := partition{topics.Attempts, 0}
	assign := func(epoch uint64, loaded int64) {
		s.asg.owned[p], s.asg.loaded[p] = epoch, loaded
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := func(offset int64) (*kgo.Record, decoded) {
		a := attempt("m-1", fmt.Sprintf("p-%d", offset), 1, "psp-a", "", schemas.ClassNone, at)
		return &kgo.Record{Topic: p.topic, Partition: p.id, Offset: offset}, decoded{v: a}
	}
	add := func(b *batch, from, to int64) {
		t.Helper()
		for o := from; o <= to; o++ {
			r, ev := rec(o)
			if err := s.add(b, r, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	offsets := func(b *batch, sel selection) []int64 {
		var out []int64
		for i, src := range b.attempts.srcs {
			if sel.keep == nil || slices.Contains(sel.keep, int32(i)) {
				out = append(out, src.offset)
			}
		}
		return out
	}

	// Epoch 1 from the start; offsets 0-4 arrive twice (the second time
	// they are duplicates).
	assign(1, -1)
	b := newBatch(nil)
	add(b, 0, 4)
	add(b, 3, 4)
	if b.records != 5 || s.stats.duplicates.Load() != 2 {
		t.Fatalf("%d records taken, %d duplicates; want 5 and 2", b.records, s.stats.duplicates.Load())
	}
	// The partition is lost and comes back (epoch 2) with ClickHouse
	// holding up to offset 1: offsets 2-6 arrive again, and are not
	// duplicates of epoch 1's.
	assign(2, 1)
	add(b, 2, 6)
	sel := b.selectRows(&s.asg, b.attempts.srcs)
	if got, want := offsets(b, sel), []int64{2, 3, 4, 5, 6}; !slices.Equal(got, want) || sel.n != 5 || sel.max[p] != 6 {
		t.Fatalf("insert would send offsets %v (n %d, max %v), want %v up to 6", got, sel.n, sel.max, want)
	}
	// Once they are in, the commit covers epoch 2's records only.
	s.markLoaded(sel.max)
	recs, n := s.stillOwned(b)
	if len(recs) != 1 || recs[0].Offset != 6 || n != 5 {
		t.Fatalf("commit %d records up to %v (%d counted), want offset 6 covering 5", len(recs), recs, n)
	}
	// The next batch still knows what epoch 2 delivered; what ClickHouse
	// holds is dropped too.
	next := newBatch(b)
	add(next, 5, 8)
	sel = next.selectRows(&s.asg, next.attempts.srcs)
	if got, want := offsets(next, sel), []int64{7, 8}; !slices.Equal(got, want) || sel.keep != nil {
		t.Fatalf("next insert would send offsets %v (keep %v), want %v, all of the batch", got, sel.keep, want)
	}
	// Revoked: nothing of the batch goes in, nothing is committed.
	delete(s.asg.owned, p)
	if sel := next.selectRows(&s.asg, next.attempts.srcs); sel.n != 0 || len(sel.max) != 0 {
		t.Fatalf("after revoke the insert would send %d rows", sel.n)
	}
	if recs, n := s.stillOwned(next); len(recs) != 0 || n != 0 {
		t.Fatalf("after revoke %d records would be committed", n)
	}
}

// A selection of rows sends exactly those rows' values, every column in
// step.
func TestColumnsOfSelectedRows(t *testing.T) {
	b := newBlock("attempts", attemptColumns, nil)
	for i := range 5 {
		a := &schemas.AttemptRecorded{AttemptID: fmt.Sprintf("a-%d", i), LatencyMs: int64(10 * i), StartedAtMs: 1_700_000_000_123}
		if i == 2 {
			a.AttemptID = "" // empty strings have no bytes in the buffer
		}
		b.add(&attemptRow{a: a, src: source{Topic: "t", Partition: 1, Offset: int64(i)}}, rowSource{offset: int64(i)})
	}
	var sc scratch
	col := func(name string, keep []int32) any {
		t.Helper()
		for i, c := range b.cols {
			if c.name == name {
				return b.vals[i].column(keep, &sc)
			}
		}
		t.Fatalf("no column %s", name)
		return nil
	}
	if got := col("attempt_id", nil); !reflect.DeepEqual(got, []string{"a-0", "a-1", "", "a-3", "a-4"}) {
		t.Errorf("attempt_id = %v", got)
	}
	if got := slices.Clone(col("attempt_id", []int32{1, 2, 4}).([]string)); !reflect.DeepEqual(got, []string{"a-1", "", "a-4"}) {
		t.Errorf("attempt_id of rows 1, 2, 4 = %v", got)
	}
	if got := col("latency_ms", []int32{0, 3}); !reflect.DeepEqual(got, []uint64{0, 30}) {
		t.Errorf("latency_ms of rows 0, 3 = %v", got)
	}
	if got := col("started_at", []int32{4}); !reflect.DeepEqual(got, []int64{1_700_000_000}) {
		t.Errorf("started_at = %v", got)
	}
	if got := col("source_offset", nil); !reflect.DeepEqual(got, []uint64{0, 1, 2, 3, 4}) {
		t.Errorf("source_offset = %v", got)
	}
}

// An attempt written with a schema this build does not know (a newer
// release's, in registry-less mode) stops the sink at that record: what came
// before it is loaded, it and what follows are not, and nothing is skipped:
// a restarted sink of the same build stops at the same record. A request
// with an unknown schema is still skipped: upstream services write that
// topic.
func TestSinkStopsAtANewerSchema(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.FlushInterval = 50 * time.Millisecond
	e := newEnv(t)
	c := openTest(t, cfg)
	topics := e.cluster.Topics()
	newer := func(topic, key string) *kgo.Record {
		// Confluent framing naming schema id 99, which no release of this
		// build wrote.
		return &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte{0, 0, 0, 0, 99, 2, 'x'}}
	}
	attempts, _, events := dataset("m-1", "old", 5, base)
	events = append(events, newer(topics.Requested, "req-newer"))
	e.publish(t, events...)
	s := e.startSink(t, cfg)
	waitFor(t, 30*time.Second, "the records before the newer one committed", func() bool {
		return s.Stats().Committed == int64(len(events))
	})
	if st := s.Stats(); st.Skipped != 1 || st.Stopped != "" {
		t.Fatalf("a request with an unknown schema: stats %+v, want it skipped and the sink running", st)
	}

	after, _, _ := dataset("m-1", "new", 1, base.Add(time.Hour))
	recs := e.producer.ProduceSync(context.Background(), newer(topics.Attempts, after[0].PaymentID))
	if err := recs.FirstErr(); err != nil {
		t.Fatal(err)
	}
	at := recs[0].Record
	e.publish(t, after[0]) // same key: after it, on the same partition
	waitFor(t, 30*time.Second, "the sink to stop", func() bool { return s.Stats().Stopped != "" })
	want := fmt.Sprintf("%s partition %d offset %d has a schema this build cannot read", topics.Attempts, at.Partition, at.Offset)
	if why := s.Stats().Stopped; !strings.Contains(why, want) || !strings.Contains(why, "upgrade this instance") {
		t.Fatalf("stopped because %q, want it to say %q and what to do", why, want)
	}
	var newerErr *NewerRecordError
	if err := stopSink(s); !errors.As(err, &newerErr) || newerErr.Offset != at.Offset {
		t.Fatalf("Stop() = %v, want the *NewerRecordError of offset %d", err, at.Offset)
	}
	if n := count(t, c, "SELECT count() FROM "+c.table("attempts")); n != uint64(len(attempts)) {
		t.Fatalf("%d attempts loaded, want the %d before the newer record", n, len(attempts))
	}

	// The same build again: it stops at the same record, and still has not
	// loaded the attempt after it.
	again := e.startSink(t, cfg)
	waitFor(t, 30*time.Second, "the restarted sink to stop", func() bool { return again.Stats().Stopped != "" })
	if why := again.Stats().Stopped; !strings.Contains(why, want) {
		t.Fatalf("restarted sink stopped because %q, want %q", why, want)
	}
	if n := count(t, c, "SELECT count() FROM "+c.table("attempts")+" WHERE payment_id = ?", after[0].PaymentID); n != 0 {
		t.Fatalf("the attempt after the newer record was loaded (%d rows): the newer record was skipped", n)
	}
}
