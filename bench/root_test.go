package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/analytics/clickhousetest"
)

// small is a scenario that runs in a second or two.
func small() Configuration {
	cfg := DefaultConfiguration()
	cfg.Payments = 300
	cfg.Partitions = 2
	cfg.InFlight = 50
	cfg.ProgressInterval = 100 * time.Millisecond
	cfg.Timeout = 2 * time.Minute
	return cfg
}

func run(t *testing.T, cfg Configuration) (*Report, string) {
	t.Helper()
	var progress bytes.Buffer
	rep, err := Run(context.Background(), cfg, &progress, os.Stderr)
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	return rep, progress.String()
}

func written(t *testing.T, w interface{ Write(io.Writer) error }) string {
	t.Helper()
	var b bytes.Buffer
	if err := w.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func checkSystem(t *testing.T, s *SystemReport, payments int) {
	t.Helper()
	if s == nil {
		t.Fatal("system not measured")
	}
	if s.Outputs != int64(payments) {
		t.Errorf("%s: %d outputs, want %d", s.Name, s.Outputs, payments)
	}
	if s.Span <= 0 || s.Rate <= 0 {
		t.Errorf("%s: span %s, rate %.0f/s: want both > 0", s.Name, s.Span, s.Rate)
	}
	if s.CPU <= 0 || s.PeakRSS <= 0 {
		t.Errorf("%s: CPU %s, peak RSS %d: want both > 0", s.Name, s.CPU, s.PeakRSS)
	}
}

func TestRunPublishedWhileRunning(t *testing.T) {
	cfg := small()
	rep, progress := run(t, cfg)

	checkSystem(t, &rep.Processor, cfg.Payments)
	checkSystem(t, rep.PassThrough, cfg.Payments)
	checkSystem(t, rep.PassThroughTxn, cfg.Payments)
	if rep.Processor.PublishRate <= 0 {
		t.Errorf("payroute's input was published while it ran, but its publish rate is %.0f", rep.Processor.PublishRate)
	}
	if rep.PassThrough.PublishRate != 0 {
		t.Errorf("the pass-through drains a copy published beforehand, but has publish rate %.0f", rep.PassThrough.PublishRate)
	}
	// Each payment takes two transactions at least: one records the
	// attempt as started, a later one its outcome.
	if rep.Processor.Transactions < 2 {
		t.Errorf("payroute ran %d transactions", rep.Processor.Transactions)
	}
	if rep.PassThroughTxn.Transactions < 1 || rep.PassThrough.Transactions != 0 {
		t.Errorf("transactions: transactional pass-through %d (want > 0), plain %d (want 0)",
			rep.PassThroughTxn.Transactions, rep.PassThrough.Transactions)
	}
	if rep.Ratio() <= 0 {
		t.Errorf("ratio %v", rep.Ratio())
	}
	if v := rep.Verification; v == nil || !v.OK(cfg.Payments) {
		t.Errorf("read back: %+v", rep.Verification)
	}
	if rep.PSPCalls < int64(cfg.Payments) || rep.PSPMean <= 0 {
		t.Errorf("PSP calls %d, mean %s", rep.PSPCalls, rep.PSPMean)
	}
	l := rep.Latency
	if l.Samples != cfg.Payments || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
		t.Errorf("added latency %+v: want one positive, ordered sample per payment", l)
	}
	if rep.TopicLatency != nil {
		t.Error("an unpaced run has no topic latency cross-check")
	}
	if p := rep.Phases; p == nil || p.Fetch.Samples != cfg.Payments || p.BeforeCall.Samples != cfg.Payments || p.AfterCall.Samples != cfg.Payments {
		t.Errorf("phases %+v: want every payment in each", rep.Phases)
	} else if p.BeforeCall.P50 <= 0 || p.AfterCall.P50 <= 0 {
		t.Errorf("phases %+v: the processor takes time before and after the PSP call", p)
	}
	if rep.LittleBound() != 0 {
		t.Errorf("the instant PSP has no Little's-law bound, got %.0f", rep.LittleBound())
	}
	text := written(t, rep)
	for _, want := range []string{"pass-through-txn", "payroute / plain pass-through", "read back: 300 results for 300 payments, 0 with more than one, 300 approved — OK", "in-process totals",
		"PSP transport: in-process", "(the in-process round trip to the simulator included)"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(progress, "bench: processor: started") {
		t.Errorf("no progress lines:\n%s", progress)
	}
}

func TestRunBacklogInWorkers(t *testing.T) {
	t.Setenv(workerEnv, "1")
	t.Setenv("GOMEMLIMIT", "")
	cfg := small()
	cfg.Backlog = true
	cfg.Worker = []string{os.Args[0]}
	cfg.MemoryLimit = 512 << 20
	rep, _ := run(t, cfg)

	for _, s := range []*SystemReport{&rep.Processor, rep.PassThrough, rep.PassThroughTxn} {
		checkSystem(t, s, cfg.Payments)
		if !s.Isolated {
			t.Errorf("%s ran in a worker, but its usage is not isolated", s.Name)
		}
		if s.PublishRate != 0 {
			t.Errorf("%s drained a backlog, but has publish rate %.0f", s.Name, s.PublishRate)
		}
	}
	if rep.BacklogRate <= 0 {
		t.Errorf("backlog published at %.0f/s", rep.BacklogRate)
	}
	if v := rep.Verification; v == nil || !v.OK(cfg.Payments) {
		t.Errorf("read back: %+v", rep.Verification)
	}
	if rep.Latency.Samples != 0 || rep.Phases != nil {
		t.Errorf("a backlog run stamps no payments, but has latency %+v and phases %+v", rep.Latency, rep.Phases)
	}
	text := written(t, rep)
	if !strings.Contains(text, "each system in its own child process, its figures alone; the broker and publisher used") {
		t.Errorf("report does not say the figures are the workers':\n%s", text)
	}
	if !strings.Contains(text, "its figures include the in-process simulator") {
		t.Errorf("report does not say payroute's worker ran the simulator:\n%s", text)
	}
	// The worker ran payroute with the limit asked for, and says so.
	if !strings.Contains(text, "payroute's soft memory limit: 512MiB (memory.limit); memory.limit 512MiB, set for this run (--memory-limit)") {
		t.Errorf("report does not give payroute's memory limit:\n%s", text)
	}
	if rep.PassThrough.MemoryLimit != "" {
		t.Errorf("the pass-through ran with payroute's memory limit %q", rep.PassThrough.MemoryLimit)
	}
}

func TestRunPacedFixedLatency(t *testing.T) {
	cfg := small()
	cfg.PSP = "fixed-100ms"
	cfg.Payments = 200
	cfg.Rate = 400
	cfg.InFlight = 100
	cfg.PassThrough = false
	rep, _ := run(t, cfg)

	checkSystem(t, &rep.Processor, cfg.Payments)
	if rep.PassThrough != nil {
		t.Error("pass-through measured although not asked for")
	}
	if got := rep.LittleBound(); got != 1000 {
		t.Errorf("Little's-law bound of 100 in flight at 100 ms: %.0f/s, want 1000", got)
	}
	if rep.PSPMean < 100*time.Millisecond {
		t.Errorf("mean PSP call %s is shorter than the profile's 100 ms", rep.PSPMean)
	}
	if rep.TopicLatency == nil || rep.TopicLatency.Samples != cfg.Payments {
		t.Fatalf("paced run with verify: topic latency %+v, want %d samples", rep.TopicLatency, cfg.Payments)
	}
	// That the PSP time is subtracted is TestAddedLatency's to check, on
	// fixed stamps: here the figures depend on how loaded the machine is.
	text := written(t, rep)
	for _, want := range []string{"Little's law bound: 100 in flight / 100ms mean PSP latency = 1000/s", "PSP transport: loopback HTTP"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}

func TestAllSmall(t *testing.T) {
	cfg := AllConfiguration{Base: small(), BacklogPayments: 400}
	cfg.Base.Payments = 200
	var out, progress bytes.Buffer
	rep, err := All(context.Background(), cfg, &out, &progress, os.Stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if len(rep.Goals) != 5 || len(rep.Scenarios) != 6 || rep.Sink != nil {
		t.Fatalf("%d goals from %d scenarios (sink %v), want 5 and 6 and no sink", len(rep.Goals), len(rep.Scenarios), rep.Sink)
	}
	for _, g := range rep.Goals {
		if g.Name == "" || g.Target == "" || g.Measured == "" {
			t.Errorf("incomplete goal %+v", g)
		}
		if g.Note == "results read back do not match the payments" {
			t.Errorf("goal %q: %s", g.Name, g.Note)
		}
	}
	live, paced := rep.Scenarios[1], rep.Scenarios[2].Configuration
	if live.Configuration.Rate != rep.Scenarios[0].Processor.Rate || live.Configuration.Backlog {
		t.Errorf("maximum-rate scenario %+v, want publishing at the drain's rate, %.0f/s, while running", live.Configuration, rep.Scenarios[0].Processor.Rate)
	}
	if live.WhilePublishing < 0 || live.WhilePublishing > live.Processor.PublishRate*1.01 {
		t.Errorf("maximum-rate scenario sustained %.0f/s while publishing at %.0f/s", live.WhilePublishing, live.Processor.PublishRate)
	}
	// A small run on a busy machine can end publishing before its first
	// result: All then paces at half the processor's own rate.
	sustained := live.WhilePublishing
	if sustained <= 0 {
		sustained = live.Processor.Rate
	}
	if want := sustained / 2; paced.Rate != want {
		t.Errorf("latency scenario paced at %.0f/s, want half the rate sustained while publishing (%.0f/s) or, with none, of the processor's rate (%.0f/s)", paced.Rate, live.WhilePublishing, live.Processor.Rate)
	}
	if rep.Scenarios[3].Configuration.Partitions != 1 || rep.Scenarios[3].Configuration.PSP != "fixed-100ms" {
		t.Errorf("fourth scenario is %+v, want fixed-100ms on one partition", rep.Scenarios[3].Configuration)
	}
	if c := rep.Scenarios[0].Configuration; c.PSP != "instant" || rep.Scenarios[0].Profile.Transport != TransportInProcess {
		t.Errorf("first scenario is %+v over %s, want the instant PSP in process", c, rep.Scenarios[0].Profile.Transport)
	}
	if !strings.Contains(rep.Goals[0].Name, "(in-process)") {
		t.Errorf("the ratio goal does not name the PSP transport: %+v", rep.Goals[0])
	}
	if c := rep.Scenarios[5].Configuration; !c.Backlog || c.Payments != 400 || c.PSP != "instant-http" {
		t.Errorf("sixth scenario is %+v, want a 400-payment backlog with the instant PSP over HTTP", c)
	}
	if !strings.Contains(rep.Goals[4].Note, "in-process total") {
		t.Errorf("in-process peak RSS is not flagged: %+v", rep.Goals[4])
	}
	table := written(t, rep)
	if !strings.Contains(table, "goals (issue 8; 2-core machine)") || strings.Count(table, "\n") < 7 {
		t.Errorf("goal table:\n%s", table)
	}
	if strings.Count(out.String(), "scenario: psp") != 6 {
		t.Errorf("scenario reports:\n%s", out.String())
	}
}

func TestSink(t *testing.T) {
	addr := clickhousetest.Addr(t)
	cfg := DefaultSinkConfiguration()
	cfg.ClickHouse = addr
	cfg.Rows = 3000
	cfg.Partitions = 2
	cfg.Timeout = 2 * time.Minute
	before := benchDatabases(t, addr)
	var progress bytes.Buffer
	rep, err := RunSink(context.Background(), cfg, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if rep.Rows != int64(cfg.Rows) || rep.Batches < 1 || rep.Span <= 0 || rep.Rate <= 0 || rep.FillRate <= 0 {
		t.Errorf("sink report %+v", rep)
	}
	if text := written(t, rep); !strings.Contains(text, "analytics sink") {
		t.Errorf("report:\n%s", text)
	}
	if after := benchDatabases(t, addr); after != before {
		t.Errorf("bench databases: %d before, %d after: the run's database was not dropped", before, after)
	}
}

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*Configuration)
		key    string
	}{
		"unknown profile":    {func(c *Configuration) { c.PSP = "slow" }, "psp"},
		"no payments":        {func(c *Configuration) { c.Payments = 0 }, "payments"},
		"no partitions":      {func(c *Configuration) { c.Partitions = 0 }, "partitions"},
		"no in flight":       {func(c *Configuration) { c.InFlight = 0 }, "in_flight"},
		"paced backlog":      {func(c *Configuration) { c.Backlog, c.Rate = true, 10 }, "rate"},
		"timeout under tail": {func(c *Configuration) { c.PSP, c.PSPTimeout = "heavy-tail", 2*time.Second }, "psp_timeout"},
		"tiny memory limit":  {func(c *Configuration) { c.MemoryLimit = 1 << 20 }, "memory_limit"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfiguration()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.key)
			}
		})
	}
	if err := DefaultConfiguration().Validate(); err != nil {
		t.Errorf("default configuration: %v", err)
	}
	if err := DefaultSinkConfiguration().Validate(); err != nil {
		t.Errorf("default sink configuration: %v", err)
	}
	bad := DefaultSinkConfiguration()
	bad.ClickHouse, bad.Rows, bad.BatchSize = "nowhere", 0, -1
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "clickhouse") || !strings.Contains(err.Error(), "rows") || !strings.Contains(err.Error(), "batch_size") {
		t.Errorf("sink Validate() = %v, want errors naming clickhouse, rows and batch_size", err)
	}
}

func TestPaymentIndex(t *testing.T) {
	for id, want := range map[string]int{
		"bench-0000042": 42, "bench-1234567": 1234567, "bench-12345678": 12345678, "a-b-7": 7,
		"bench": -1, "bench-": -1, "bench-x1": -1, "": -1,
	} {
		if got := paymentIndex([]byte(id)); got != want {
			t.Errorf("paymentIndex(%q) = %d, want %d", id, got, want)
		}
	}
	s := newStamps(3)
	s.set(-1, 5)
	s.set(3, 5)
	s.add(1, 2)
	s.add(1, 3)
	s.set(2, 9)
	if fmt.Sprint(s) != "[0 5 9]" {
		t.Errorf("stamps %v, want [0 5 9]", s)
	}
}

func TestAddedLatency(t *testing.T) {
	acks := stamps{100, 200, 0, 400}
	commits := stamps{1100, 1300, 900, 0}
	psp := stamps{600, 600, 100, 100}
	// Payment 2 has no ack and 3 no commit: only 0 (400 ns) and 1 (500 ns).
	l := addedLatency(acks, commits, psp)
	if l.Samples != 2 || l.P50 != 400 || l.P99 != 500 || l.Max != 500 {
		t.Errorf("addedLatency = %+v", l)
	}
	ds := make([]time.Duration, 1000)
	for i := range ds {
		ds[len(ds)-1-i] = time.Duration(i + 1)
	}
	p := percentiles(ds)
	if p.P50 != 500 || p.P90 != 900 || p.P99 != 990 || p.Max != 1000 || p.Samples != 1000 {
		t.Errorf("percentiles of 1..1000 = %+v", p)
	}
	if (percentiles(nil) != Latency{}) {
		t.Error("percentiles of nothing is not zero")
	}
	// ack 100 → fetched 150 → call 400..1000 → committed 1100, and a
	// payment whose call never ended is left out of AfterCall only.
	ph := phases(stamps{100, 100}, stamps{150, 120}, stamps{400, 300}, stamps{1000, 0}, stamps{1100, 0})
	if ph.Fetch.Samples != 2 || ph.Fetch.Max != 50 || ph.BeforeCall.Samples != 2 || ph.BeforeCall.Max != 250 ||
		ph.AfterCall.Samples != 1 || ph.AfterCall.P50 != 100 {
		t.Errorf("phases = %+v", ph)
	}
}

// benchDatabases counts the databases RunSink creates on the server.
func benchDatabases(t *testing.T, addr string) uint64 {
	t.Helper()
	cfg := analytics.DefaultConfiguration().ClickHouse
	cfg.Addr = addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name LIKE 'payroute_bench_%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWhilePublishing counts the results visible by the end of publishing,
// over the time from the first record published: those after it, drained
// with the publisher gone, and missing ones do not count.
func TestWhilePublishing(t *testing.T) {
	sec := int64(time.Second)
	commits := stamps{1 * sec, 2 * sec, 3 * sec, 0, 5 * sec}
	if got := whilePublishing(commits, 1*sec, 3*sec); got != 1.5 {
		t.Fatalf("3 results by 3 s from 1 s: %v/s, want 1.5", got)
	}
	if got := whilePublishing(commits, 3*sec, 3*sec); got != 0 {
		t.Fatalf("an empty window: %v, want 0", got)
	}
}

// TestPublishedRateFromFirstAck times the load from its first record
// acknowledged, as whilePublishing does, so that a publisher slow to
// connect neither lowers the publish rate nor lets the sustained rate
// exceed it.
func TestPublishedRateFromFirstAck(t *testing.T) {
	acks := newStamps(4)
	for i, at := range []int64{0, 3, 2, 4} {
		acks.set(i, at*int64(time.Second))
	}
	if got := acks.first(); got != 2*int64(time.Second) {
		t.Fatalf("first acknowledgement %d, want 2 s (unset figures skipped)", got)
	}
	p := published{Payments: 4, Start: time.Unix(0, acks.first()), End: time.Unix(4, 0), Acks: acks}
	if got := p.Rate(); got != 2 {
		t.Fatalf("4 payments from 2 s to 4 s: %v/s, want 2", got)
	}
}
