package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// SinkReport is what loading a pre-filled payments.attempts into
// ClickHouse took.
type SinkReport struct {
	Configuration SinkConfiguration
	// Rows are the attempt rows ClickHouse accepted, Batches the inserts.
	Rows, Batches int64
	// Span is from the sink's first record fetched to the last row
	// accepted; Rate is rows per second over it.
	Span time.Duration
	Rate float64
	// FillRate is how fast the topic was pre-filled.
	FillRate float64
	// CPU is this process's CPU time during the load (the sink and the
	// embedded broker; the ClickHouse server is another process).
	CPU time.Duration
	// ReadBack is what ClickHouse holds once the sink has stopped, read
	// after the clock: a run whose rows are not all there exactly once is
	// an error, never a figure.
	ReadBack SinkReadBack
	// CPUs and the load averages are as in Report.
	CPUs               int
	LoadStart, LoadEnd float64
}

// SinkReadBack is what ClickHouse holds after a sink run.
type SinkReadBack struct {
	// Rows and Distinct are the attempt rows, and their distinct Kafka
	// records (topic, partition, offset).
	Rows, Distinct uint64
	// Offsets is how many records ingest_offsets says are loaded: the sum
	// over partitions of the highest offset loaded plus one.
	Offsets uint64
	// Aggregated is the attempts psp_minute counts: every row seen once by
	// its materialized view.
	Aggregated uint64
}

// check says what is wrong with the read-back of n pre-filled records, or
// nil.
func (rb SinkReadBack) check(n int) error {
	want := uint64(n)
	if rb.Rows != want || rb.Distinct != want || rb.Offsets != want || rb.Aggregated != want {
		return errorf("ClickHouse holds %d attempt rows (%d distinct records), ingest_offsets covers %d records and psp_minute counts %d attempts: want %d of each",
			rb.Rows, rb.Distinct, rb.Offsets, rb.Aggregated, n)
	}
	return nil
}

// readBackSink reads what the sink loaded into database.
func readBackSink(ctx context.Context, conn *analytics.Conn, database string) (SinkReadBack, error) {
	var rb SinkReadBack
	for _, q := range []struct {
		sql string
		to  *uint64
	}{
		{"SELECT count() FROM " + database + ".attempts", &rb.Rows},
		{"SELECT uniqExact(source_topic, source_partition, source_offset) FROM " + database + ".attempts", &rb.Distinct},
		{"SELECT toUInt64(sum(o + 1)) FROM (SELECT max(max_offset) AS o FROM " + database + ".ingest_offsets GROUP BY source_topic, source_partition)", &rb.Offsets},
		{"SELECT sum(attempts) FROM " + database + ".psp_minute", &rb.Aggregated},
	} {
		if err := conn.QueryRow(ctx, q.sql).Scan(q.to); err != nil {
			return rb, errorf("reading back the sink's rows: %w", err)
		}
	}
	return rb, nil
}

// Write prints the report.
func (r *SinkReport) Write(w io.Writer) error {
	var b strings.Builder
	batch := r.Configuration.BatchSize
	if batch == 0 {
		batch = analytics.DefaultConfiguration().BatchSize
	}
	fmt.Fprintf(&b, "scenario: ClickHouse sink at %s, %d attempts pre-filled on %d partitions (at %.0f/s), batches of up to %d rows\n\n",
		r.Configuration.ClickHouse, r.Configuration.Rows, r.Configuration.Partitions, r.FillRate, batch)
	writeTable(&b, [][]string{
		{"system", "rows/s", "span", "inserts", "CPU s/1k rows"},
		{"analytics sink", fmt.Sprintf("%.0f", r.Rate), fmt.Sprintf("%.2fs", r.Span.Seconds()), fmt.Sprint(r.Batches),
			fmt.Sprintf("%.3f", perThousand(r.CPU, r.Rows))},
	}, 1)
	fmt.Fprintf(&b, "\nread back after the run: %d rows, %d distinct records, ingest_offsets covering %d, psp_minute counting %d\n",
		r.ReadBack.Rows, r.ReadBack.Distinct, r.ReadBack.Offsets, r.ReadBack.Aggregated)
	b.WriteString("CPU: this process (sink and embedded broker); the ClickHouse server's is not counted\n")
	b.WriteString(machineLine(r.CPUs, r.LoadStart, r.LoadEnd))
	_, err := io.WriteString(w, b.String())
	return err
}

func perThousand(d time.Duration, n int64) float64 {
	if n == 0 {
		return 0
	}
	return d.Seconds() / float64(n) * 1000
}

// RunSink pre-fills payments.attempts with AttemptRecorded records, then
// runs the analytics sink (the same analytics.New as `payroute run`, its
// default batching) into a fresh database and measures rows per second.
// The database is created by the migrations before the clock starts, and
// dropped at the end.
func RunSink(ctx context.Context, cfg SinkConfiguration, progress io.Writer) (*SinkReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	say := func(format string, args ...any) {
		if progress != nil {
			fmt.Fprintf(progress, "bench: sink: "+format+"\n", args...)
		}
	}
	w, err := newWorld(ctx, cfg.Partitions, nil)
	if err != nil {
		return nil, err
	}
	defer w.close()

	acfg := analytics.DefaultConfiguration()
	acfg.ClickHouse.Addr = cfg.ClickHouse
	acfg.ClickHouse.Database = fmt.Sprintf("payroute_bench_%d", time.Now().UnixNano())
	acfg.Group = "bench-sink"
	if cfg.BatchSize > 0 {
		acfg.BatchSize = cfg.BatchSize
	}
	conn, err := analytics.Open(ctx, acfg.ClickHouse)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := analytics.Migrate(ctx, conn); err != nil {
		return nil, err
	}
	defer func() {
		dropCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := conn.Exec(dropCtx, "DROP DATABASE IF EXISTS "+acfg.ClickHouse.Database); err != nil {
			say("could not drop database %s: %v", acfg.ClickHouse.Database, err)
		}
	}()

	say("pre-filling %s with %d attempts", w.cluster.Topics().Attempts, cfg.Rows)
	start := time.Now()
	if err := fillAttempts(ctx, w, cfg.Rows); err != nil {
		return nil, err
	}
	rep := &SinkReport{Configuration: cfg, FillRate: perSecond(cfg.Rows, time.Since(start)), CPUs: runtime.NumCPU(), LoadStart: loadAverage()}

	// The sink's clients are built from this cluster, so its hooks see the
	// sink's first fetch.
	cluster, err := kafka.NewCluster(w.kcfg, w.embedded)
	if err != nil {
		return nil, err
	}
	var first atomic.Int64
	cluster.AddClientHooks(func() []kgo.Hook {
		return []kgo.Hook{firstFetchClock{input: w.cluster.Topics().Attempts, first: &first}}
	})
	sink, err := analytics.New(acfg, cluster, w.serde, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	before := processUsage()
	if err := sink.Start(ctx); err != nil {
		return nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = sink.Stop(stopCtx)
	}()
	want := int64(cfg.Rows)
	timeout := time.NewTimer(cfg.Timeout)
	defer timeout.Stop()
	tick := time.NewTicker(cfg.ProgressInterval)
	defer tick.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		st := sink.Stats()
		if st.AttemptsInserted >= want {
			end := time.Now()
			rep.CPU = processUsage().since(before).CPU()
			rep.Rows, rep.Batches = st.AttemptsInserted, st.Batches
			if f := first.Load(); f > 0 {
				rep.Span = end.Sub(time.Unix(0, f))
			}
			rep.Rate = perSecond(int(rep.Rows), rep.Span)
			rep.LoadEnd = loadAverage()
			say("%d rows in %.2fs: %.0f/s", rep.Rows, rep.Span.Seconds(), rep.Rate)
			// The rows are counted once ClickHouse acknowledged their
			// insert; check that they are all there, once, with the
			// bookkeeping that makes them exactly-once.
			stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
			err := sink.Stop(stopCtx)
			cancel()
			if err != nil {
				return nil, errorf("stopping the sink: %w", err)
			}
			if rep.ReadBack, err = readBackSink(ctx, conn, acfg.ClickHouse.Database); err != nil {
				return nil, err
			}
			if err := rep.ReadBack.check(cfg.Rows); err != nil {
				return nil, err
			}
			return rep, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout.C:
			return nil, errorf("the sink loaded %d of %d rows in %s (insert errors: %d)", st.AttemptsInserted, want, cfg.Timeout, st.InsertErrors)
		case <-tick.C:
			say("%d/%d rows, %d inserts, %d insert errors", st.AttemptsInserted, want, st.Batches, st.InsertErrors)
		case <-poll.C:
		}
	}
}

// fillAttempts produces n AttemptRecorded records to payments.attempts,
// shaped like the processor's (three PSPs, outcomes, fees, card fields).
func fillAttempts(ctx context.Context, w *world, n int) error {
	client, err := w.cluster.NewClient()
	if err != nil {
		return err
	}
	defer client.Close()
	psps := []string{"psp-a", "psp-b", "psp-c"}
	outcomes := []schemas.Outcome{schemas.OutcomeApproved, schemas.OutcomeApproved, schemas.OutcomeApproved, schemas.OutcomeDeclined}
	base := time.Now().Add(-time.Hour).UnixMilli()
	var (
		mu     sync.Mutex
		failed error
	)
	for i := range n {
		id := fmt.Sprintf("%s-%07d", idPrefix, i)
		a := &schemas.AttemptRecorded{
			AttemptID: id + "#1", PaymentID: id, MerchantID: "m-bench", AttemptNumber: 1, Rank: 1,
			PSP: psps[i%len(psps)], Method: "card", Operation: schemas.OpCharge,
			AmountMinor: int64(100 + i%50000), Currency: "EUR", Outcome: outcomes[i%len(outcomes)],
			PSPReference: fmt.Sprintf("ref-%d", i), IdempotencyKey: fmt.Sprintf("key-%d", i),
			LatencyMs: int64(20 + i%80), FeeMinor: 25, CardNetwork: "visa", CardFunding: "credit",
			CardBIN: "424242", IssuerCountry: "US", ConfigVersion: "bench", RuleID: "bench",
			StartedAtMs: base + int64(i), FinishedAtMs: base + int64(i) + 50,
		}
		if a.Outcome == schemas.OutcomeDeclined {
			a.Class, a.PSPCode = schemas.ClassSoftDecline, "insufficient_funds"
		}
		rec, err := w.records.Attempt(a)
		if err != nil {
			return err
		}
		client.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if failed == nil {
					failed = err
				}
				mu.Unlock()
			}
		})
	}
	if err := client.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if failed != nil {
		return errorf("pre-filling attempts: %w", failed)
	}
	return nil
}
