package bench

import (
	"context"
	"time"
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
	// Payments sizes the per-payment stamps (processor).
	Payments int
	// Input and Output are the pass-through's topics.
	Input, Output string
	// SimulatorURL, PSPTimeout, InFlight and MaxPollRecords configure the
	// processor; MaxPollRecords also bounds a pass-through's poll.
	SimulatorURL   string
	PSPTimeout     time.Duration
	InFlight       int
	MaxPollRecords int
	// Verbose logs the processor's warnings to stderr.
	Verbose bool
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
	// Commits are when each payment's result became visible, and PSPTime
	// the time each spent in PSP calls (processor, per payment).
	Commits, PSPTime stamps
	// PSPCalls and PSPNanos are the PSP calls timed and their total time.
	PSPCalls, PSPNanos int64
	// Usage is the CPU time and peak memory, and Isolated tells whether
	// they are the system's alone (a child process) or this process's.
	Usage    usage
	Isolated bool
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

// startSystem starts the system spec names in this process.
func startSystem(ctx context.Context, s spec) (system, error) {
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
