package bench

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/payroute/payroute/memlimit"
)

// Kinds of system under test.
const (
	kindProcessor      = "processor"
	kindPassThrough    = "pass-through"
	kindPassThroughTxn = "pass-through-txn"
)

// spec is everything a system under test needs to run. It crosses to a
// child process (gob), so it holds addresses, not objects.
type spec struct {
	Kind       string
	Brokers    []string
	Partitions int32
	Group      string
	// Stamped is how many payments the processor stamps (see outcome);
	// 0 stamps none. A backlog run stamps none: at 40 bytes per payment
	// the stamps would weigh in the processor's peak memory, and at
	// saturation the latencies are time queued anyway.
	Stamped int
	// Input and Output are the pass-through's topics.
	Input, Output string
	// PSP is the processor's PSP profile (profiles): over TransportHTTP it
	// calls the simulator at SimulatorURL; over TransportInProcess it runs
	// its own simulator, in the process that runs the processor.
	PSP string
	// SimulatorURL, PSPTimeout, InFlight and MaxPollRecords configure the
	// processor; MaxPollRecords also bounds a pass-through's poll.
	SimulatorURL   string
	PSPTimeout     time.Duration
	InFlight       int
	MaxPollRecords int
	// Verbose logs the processor's warnings to stderr.
	Verbose bool
	// Memory is the processor's memory configuration, applied by its
	// worker process (RunWorker), as `payroute run` applies it.
	Memory memlimit.Configuration
	// CPUProfile, when set, is where the process running the system
	// writes a CPU profile of the run (runtime/pprof); MemProfile where it
	// writes a heap profile taken when the run ends, before the system
	// stops and lets go of what it holds.
	CPUProfile, MemProfile string
}

// outcome is what a system under test measured about its own run.
type outcome struct {
	// Outputs are the records it made visible: final results for the
	// processor, copies for a pass-through.
	Outputs int64
	// FirstFetch is when its first input record was fetched and
	// LastOutput when its last output became visible (Unix ns): the span
	// of its throughput.
	FirstFetch, LastOutput int64
	// Transactions counts EndTxn round trips; Aborted the ones that aborted.
	Transactions, Aborted int64
	// Attempts are PSP attempts in committed batches (processor).
	Attempts int64
	// Per payment (processor, Stamped of them), as Unix ns: when its
	// request was fetched, its first PSP call started, its last PSP call
	// ended and its result became visible; and PSPTime, the time it spent
	// in PSP calls.
	Fetched, CallStarted, CallEnded, Commits stamps
	PSPTime                                  stamps
	// PSPCalls and PSPNanos are the PSP calls timed and their total time.
	PSPCalls, PSPNanos int64
	// Usage is the CPU time and peak memory, and Isolated tells whether
	// they are the system's alone (a child process) or this process's.
	Usage    usage
	Isolated bool
	// PeakRSS is the worker's own peak resident memory (ownPeakRSS), read
	// by the worker once the system stopped: the parent's rusage of the
	// child would count the parent's peak too. 0 where there is none.
	PeakRSS int64
	// MemoryLimit is the soft memory limit the processor's worker ran
	// with, and where it came from (memlimit.Applied); "" when none was
	// applied (in-process, pass-throughs).
	MemoryLimit string
}

// Span is from the first input fetched to the last output visible.
func (o outcome) Span() time.Duration {
	if o.FirstFetch == 0 || o.LastOutput < o.FirstFetch {
		return 0
	}
	return time.Duration(o.LastOutput - o.FirstFetch)
}

// system is a running system under test.
type system interface {
	// Outputs is the count of outputs visible so far.
	Outputs() int64
	// Err is what stopped it, when it stopped on its own.
	Err() error
	// Stop stops it and returns its measurements.
	Stop(ctx context.Context) (outcome, error)
}

// startSystem starts the system spec names in this process, profiling the
// process when spec asks for it.
func startSystem(ctx context.Context, s spec) (system, error) {
	if s.CPUProfile == "" && s.MemProfile == "" {
		return startKind(ctx, s)
	}
	p := &profiled{memProfile: s.MemProfile}
	if s.CPUProfile != "" {
		f, err := os.Create(s.CPUProfile)
		if err != nil {
			return nil, errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, errorf("cpu profile: %w", err)
		}
		p.cpu = f
	}
	sys, err := startKind(ctx, s)
	if err != nil {
		p.stopCPU()
		return nil, err
	}
	p.system = sys
	return p, nil
}

// profiled is a system whose process is being profiled.
type profiled struct {
	system
	cpu        *os.File
	memProfile string
}

func (p *profiled) stopCPU() error {
	if p.cpu == nil {
		return nil
	}
	pprof.StopCPUProfile()
	if err := p.cpu.Close(); err != nil {
		return errorf("cpu profile: %w", err)
	}
	return nil
}

func (p *profiled) Stop(ctx context.Context) (outcome, error) {
	var memErr error
	if p.memProfile != "" {
		memErr = writeHeapProfile(p.memProfile)
	}
	o, err := p.system.Stop(ctx)
	for _, e := range []error{p.stopCPU(), memErr} {
		if err == nil {
			err = e
		}
	}
	return o, err
}

// writeHeapProfile writes the live heap after a garbage collection.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return errorf("heap profile: %w", err)
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return errorf("heap profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return errorf("heap profile: %w", err)
	}
	return nil
}

func startKind(ctx context.Context, s spec) (system, error) {
	switch s.Kind {
	case kindProcessor:
		return startProcessor(ctx, s)
	case kindPassThrough:
		return startPassThrough(ctx, s, false)
	case kindPassThroughTxn:
		return startPassThrough(ctx, s, true)
	default:
		return nil, errorf("unknown system %q", s.Kind)
	}
}

// inProcess is a system run in this process: its CPU time and peak RSS are
// this process's, broker, simulator and load generator included.
type inProcess struct {
	system
	before usage
}

func startInProcess(ctx context.Context, s spec) (system, error) {
	before := processUsage()
	sys, err := startSystem(ctx, s)
	if err != nil {
		return nil, err
	}
	return &inProcess{system: sys, before: before}, nil
}

func (p *inProcess) Stop(ctx context.Context) (outcome, error) {
	o, err := p.system.Stop(ctx)
	o.Usage = processUsage().since(p.before)
	return o, err
}

// waitFor polls cond every 10 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
