package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/payroute/payroute/bench"
)

// benchCommand runs `payroute bench`: one scenario, the ClickHouse sink
// scenario, or the goal table (--all). Reports go to stdout, progress (a
// line a second) to stderr. Each system under test runs in a child
// process (`payroute bench --worker`, this binary) unless --in-process, so
// its CPU time and peak RSS are its own.
func benchCommand(args []string) error {
	fs := newFlagSet("bench", "[--psp instant|instant-http|fixed-100ms|heavy-tail] [--payments N] [--partitions P] [--in-flight N] [--rate R | --backlog] [--sink] [--all]")
	d := bench.DefaultConfiguration()
	sd := bench.DefaultSinkConfiguration()
	psp := fs.String("psp", d.PSP, "PSP latency profile: instant (answers at once, in payroute's process through the simulator's in-process transport: no socket), instant-http (the same over loopback HTTP), fixed-100ms or heavy-tail (over loopback HTTP)")
	payments := fs.Int("payments", d.Payments, "payments to publish (with --all: per scenario)")
	partitions := fs.Int("partitions", int(d.Partitions), "partitions of every topic")
	inFlight := fs.Int("in-flight", d.InFlight, "processor max_in_flight (and max_in_flight_per_psp: one PSP takes every payment)")
	maxPoll := fs.Int("max-poll-records", 0, "processor max_poll_records (0: the processor's default)")
	rate := fs.Float64("rate", 0, "publish at this many payments per second while running (0: as fast as the broker takes them); latency means something only below the maximum")
	backlog := fs.Bool("backlog", false, "publish every payment before starting, and measure the drain and peak memory under backlog")
	passThrough := fs.Bool("pass-through", d.PassThrough, "also measure the franz-go consume→produce pass-through on the same broker and records (the ceiling)")
	verify := fs.Bool("verify", d.Verify, "read the results back and check one per payment (and, when paced, the latency from topic timestamps)")
	sink := fs.Bool("sink", false, "measure the ClickHouse sink's rows/s on a pre-filled payments.attempts instead")
	sinkRows := fs.Int("sink-rows", sd.Rows, "attempts to pre-fill for --sink and --all")
	clickhouse := fs.String("clickhouse", sd.ClickHouse, "ClickHouse native address for --sink and --all")
	sinkBatch := fs.Int("sink-batch", 0, "the sink's analytics.batch_size for --sink and --all (0: its default)")
	noSink := fs.Bool("no-sink", false, "with --all: skip the ClickHouse sink")
	all := fs.Bool("all", false, "run every scenario behind the goals of issue 8 and print the goal table")
	backlogPayments := fs.Int("backlog-payments", bench.DefaultAllConfiguration().BacklogPayments, "with --all: the backlog drained for the peak-RSS goal")
	inProcess := fs.Bool("in-process", false, "run the systems under test in this process: CPU and RSS become totals with the broker, simulator and publisher")
	timeout := fs.Duration("timeout", d.Timeout, "give up on a system under test after this long")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of payroute's run to this file (of its worker process alone unless --in-process; with --all, the last scenario's); read it with go tool pprof")
	memProfile := fs.String("memprofile", "", "write a heap profile of payroute's worker to this file, taken once every payment has its result (as --cpuprofile)")
	verbose := fs.Bool("verbose", false, "log the processor's warnings and errors to stderr")
	memoryLimit := d.MemoryLimit
	fs.TextVar(&memoryLimit, "memory-limit", d.MemoryLimit, "payroute's memory.limit in its worker: auto (payroute's default: a share of the container's memory limit, none without one), off, or a size such as 256MiB to emulate a deployment's; printed in the report")
	worker := fs.Bool("worker", false, "internal: run one system under test for a parent payroute bench (spec on stdin)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *worker {
		return bench.RunWorker(ctx, os.Stdin, os.Stdout)
	}

	cfg := d
	cfg.PSP, cfg.Payments, cfg.Partitions, cfg.InFlight = *psp, *payments, int32(*partitions), *inFlight
	cfg.MaxPollRecords, cfg.Rate, cfg.Backlog = *maxPoll, *rate, *backlog
	cfg.PassThrough, cfg.Verify, cfg.Timeout = *passThrough, *verify, *timeout
	cfg.CPUProfile, cfg.MemProfile, cfg.Verbose, cfg.MemoryLimit = *cpuProfile, *memProfile, *verbose, memoryLimit
	if !*inProcess {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding this binary to run workers (or use --in-process): %w", err)
		}
		cfg.Worker = []string{self, "bench", "--worker"}
	}
	scfg := sd
	scfg.ClickHouse, scfg.Rows, scfg.Partitions, scfg.BatchSize = *clickhouse, *sinkRows, int32(*partitions), *sinkBatch

	started := time.Now()
	defer func() { fmt.Fprintf(os.Stderr, "bench: done in %s\n", time.Since(started).Round(time.Second)) }()
	switch {
	case *all && *sink:
		return errors.New("--all includes the sink; use --no-sink to leave it out")
	case *all:
		acfg := bench.AllConfiguration{Base: cfg, BacklogPayments: *backlogPayments, Sink: &scfg}
		if *noSink {
			acfg.Sink = nil
		}
		rep, err := bench.All(ctx, acfg, os.Stdout, os.Stderr, os.Stderr)
		if err != nil {
			return err
		}
		return rep.Write(os.Stdout)
	case *sink:
		rep, err := bench.RunSink(ctx, scfg, os.Stderr)
		if err != nil {
			return err
		}
		return rep.Write(os.Stdout)
	default:
		rep, err := bench.Run(ctx, cfg, os.Stderr, os.Stderr)
		if err != nil {
			return err
		}
		return rep.Write(os.Stdout)
	}
}
