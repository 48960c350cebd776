package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// workerEnv makes the test binary a bench worker (RunWorker on stdin and
// stdout), so tests can run systems under test in a child process the way
// `payroute bench --worker` does.
const workerEnv = "BENCH_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(peakEnv) != "" {
		fmt.Println(ownPeakRSS())
		os.Exit(0)
	}
	if os.Getenv(workerEnv) != "" {
		if err := RunWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The benchmarks drain b.N payments published beforehand (instant PSP, in
// process, six partitions, 1,000 in flight), timed from the moment the system under
// test owns its partitions to its last output visible, and report
// payments/s and CPU µs per payment (in-process totals: broker, simulator
// included). Fix N for comparable runs, e.g.
//
//	go test -run '^$' -bench . -benchtime 50000x ./bench
//
// `payroute bench` measures the same systems with more detail (latency,
// each system's own CPU and memory, the goals).

// BenchmarkProcessorInstantPSP is payroute's processor.
func BenchmarkProcessorInstantPSP(b *testing.B) { benchmarkDrain(b, kindProcessor) }

// BenchmarkPassThrough is the plain franz-go consume→produce ceiling.
func BenchmarkPassThrough(b *testing.B) { benchmarkDrain(b, kindPassThrough) }

// BenchmarkPassThroughTransactional is the ceiling with one transaction
// per poll, as payroute commits.
func BenchmarkPassThroughTransactional(b *testing.B) { benchmarkDrain(b, kindPassThroughTxn) }

func benchmarkDrain(b *testing.B, kind string) {
	b.StopTimer()
	ctx := context.Background()
	prof := profiles["instant"]
	w, err := newWorld(ctx, 6, &prof)
	if err != nil {
		b.Fatal(err)
	}
	defer w.close()
	in := w.cluster.Topics().Requested
	if _, err := w.publish(ctx, in, b.N, 0, idPrefix, nil); err != nil {
		b.Fatal(err)
	}
	s := spec{
		Kind: kind, Brokers: w.embedded.Addrs(), Partitions: 6, Group: "bench-" + kind,
		Input: in, Output: passThroughOut, PSP: "instant", PSPTimeout: 10 * time.Second,
		InFlight: 1000, MaxPollRecords: 500,
	}
	sys, err := startInProcess(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	err = waitFor(ctx, func() bool { return sys.Outputs() >= int64(b.N) || sys.Err() != nil })
	b.StopTimer()
	o, stopErr := sys.Stop(ctx)
	for _, e := range []error{err, sys.Err(), stopErr} {
		if e != nil {
			b.Fatal(e)
		}
	}
	b.ReportMetric(perSecond(b.N, o.Span()), "payments/s")
	b.ReportMetric(float64(o.Usage.CPU().Microseconds())/float64(b.N), "cpu-µs/payment")
}
