// Package bench measures payroute's throughput, the latency it adds and
// what it costs, against a ceiling measured in the same run: `payroute
// bench` and the Go benchmarks of this package.
//
// # What runs
//
// A scenario (Configuration) starts an embedded Kafka broker and one
// simulated PSP with a latency profile (ProfileNames: instant,
// instant-http, fixed-100ms, heavy-tail), publishes PaymentRequested records the way an upstream
// service does (producers.Generator), and runs payroute's processor,
// built with the same public constructors as `payroute run`, until every
// payment has its result. With PassThrough it first runs, on the same
// broker and the same records, a plain franz-go consume→produce
// pass-through (the ceiling: no decoding, routing, PSP call or state) and
// a transactional one, and reports payroute's rate as a share of the
// ceiling. Payroute's records are published while it runs (at Rate, or as
// fast as the broker takes them), or all before it starts (Backlog), which
// measures a drain; the pass-throughs always drain records published
// before they start, so that the publisher, which competes for the same
// CPUs, never limits the ceiling. Compare a drain with a drain (Backlog)
// for the ratio, as All does.
//
// The PSPs with a latency listen on loopback HTTP in the benchmark's
// process. The instant PSP instead runs in payroute's own process and is
// reached through the simulator's in-process transport: same connector,
// same JSON, same handler, no socket. Over loopback HTTP the round trip
// took a third of payroute's CPU, so an "instant" PSP measured the kernel
// and net/http more than payroute; instant-http keeps that figure
// measurable. The report names the transport.
//
// # What is measured, and how
//
//   - Throughput: payments (outputs) per second from the first input record
//     fetched to the last result visible, so start-up is excluded and the
//     commit of the last transaction included.
//   - Latency added by payroute, per payment: when its result became
//     visible (the EndTxn answer of the transaction that carried it, seen
//     by a hook on the processor's Kafka clients) minus when its request
//     was acknowledged to the publisher, minus the time its PSP calls took
//     (timed around each connector call, so the round trip to the
//     simulator, HTTP or in-process, counts as PSP time). All three are nanosecond wall-clock
//     readings; Kafka's millisecond timestamps are too coarse for a
//     millisecond-scale figure. Verify also computes it from the topics'
//     record timestamps and AttemptRecorded.latency_ms, as a cross-check.
//     At saturation it is mostly time queued in the topic: it means
//     something in a paced run (Rate) below the maximum.
//   - CPU seconds per 1,000 payments, from getrusage(2), and peak RSS,
//     the process's VmHWM (not ru_maxrss, which on Linux a child inherits
//     from the parent that started it: see ownPeakRSS). With Worker set
//     the system under test runs in a child process and the figures are
//     its own (an in-process simulator included, with its memory of every
//     payment it answered); in-process (the Go benchmarks) they are totals
//     of the process, embedded broker (which keeps every record in
//     memory), simulator and load generator included. payroute's worker
//     sets its soft memory limit as `payroute run` does (memory.limit:
//     auto, none without a container limit, unless MemoryLimit says
//     otherwise), and the report prints the limit in force: the peak
//     depends on it.
//
// The goals of issue 8 are checked by All, which runs the scenarios behind
// each and prints every figure next to its goal; they are never asserted in
// tests, which run on loaded machines.
package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/payroute/payroute/consumers"
)

// idPrefix prefixes every benchmark payment id ("bench-0000042").
const idPrefix = "bench"

// errorf is fmt.Errorf prefixed with the package name.
func errorf(format string, args ...any) error { return fmt.Errorf("bench: "+format, args...) }

// Run runs one scenario and returns its report. progress receives a line
// about once per ProgressInterval while it runs, and stderr the workers'
// stderr (when Worker is set).
func Run(ctx context.Context, cfg Configuration, progress, stderr io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	prof := profiles[cfg.PSP]
	w, err := newWorld(ctx, cfg.Partitions, &prof)
	if err != nil {
		return nil, err
	}
	defer w.close()
	r := &runner{cfg: cfg, w: w, progress: progress, stderr: stderr}
	rep := &Report{Configuration: cfg, Profile: prof, CPUs: runtime.NumCPU(), LoadStart: loadAverage()}
	defer func() { rep.LoadEnd = loadAverage() }()
	topics := w.cluster.Topics()

	var load published
	if cfg.Backlog {
		r.say("publishing a backlog of %d payments to %s", cfg.Payments, topics.Requested)
		if load, err = r.publishBacklog(ctx, topics.Requested); err != nil {
			return nil, err
		}
		rep.BacklogRate = load.Rate()
		r.say("backlog published at %.0f/s", rep.BacklogRate)
	}
	if cfg.PassThrough {
		// The ceiling always drains records published beforehand, so that
		// the publisher, which competes for the same CPUs, never limits it:
		// payroute's own records in a backlog run (read in the
		// pass-throughs' own consumer groups), otherwise a copy of the
		// same stream on a topic of their own.
		in := topics.Requested
		if !cfg.Backlog {
			in = passThroughIn
			r.say("publishing %d payments to %s for the pass-throughs", cfg.Payments, in)
			if _, err := r.publishBacklog(ctx, in); err != nil {
				return nil, err
			}
		}
		for _, kind := range []string{kindPassThrough, kindPassThroughTxn} {
			out := passThroughOut
			if kind == kindPassThroughTxn {
				out = passThroughTxnOut
			}
			m, err := r.run(ctx, kind, in, out, false)
			if err != nil {
				return nil, err
			}
			sr := m.systemReport()
			if kind == kindPassThrough {
				rep.PassThrough = &sr
			} else {
				rep.PassThroughTxn = &sr
			}
		}
	}
	m, err := r.run(ctx, kindProcessor, topics.Requested, "", !cfg.Backlog)
	if err != nil {
		return nil, err
	}
	rep.Processor = m.systemReport()
	if !cfg.Backlog {
		load = m.published
	}
	if m.PSPCalls > 0 {
		rep.PSPCalls = m.PSPCalls
		rep.PSPMean = time.Duration(m.PSPNanos / m.PSPCalls)
	}
	if !cfg.Backlog {
		rep.WhilePublishing = whilePublishing(m.Commits, load.Start.UnixNano(), load.End.UnixNano())
	}
	if len(m.Commits) > 0 {
		rep.Latency = addedLatency(load.Acks, m.Commits, m.PSPTime)
		ph := phases(load.Acks, m.Fetched, m.CallStarted, m.CallEnded, m.Commits)
		rep.Phases = &ph
	}
	if cfg.Verify {
		r.say("reading %s back", topics.Results)
		v, err := verifyResults(ctx, w.cluster, w.serde, cfg.Payments)
		if err != nil {
			return nil, err
		}
		rep.Verification = &v
		if cfg.Rate > 0 {
			tl, err := topicLatency(ctx, w.cluster, w.serde, cfg.Payments)
			if err != nil {
				return nil, err
			}
			rep.TopicLatency = &tl
		}
	}
	return rep, nil
}

// runner runs the systems under test of one scenario.
type runner struct {
	cfg      Configuration
	w        *world
	progress io.Writer
	stderr   io.Writer
}

func (r *runner) say(format string, args ...any) {
	if r.progress != nil {
		fmt.Fprintf(r.progress, "bench: "+format+"\n", args...)
	}
}

// measured is one system under test's run.
type measured struct {
	kind string
	outcome
	// published is its load, when it was published while it ran.
	published published
	// hostCPU is this process's CPU time during the run (broker,
	// simulator, publisher) when the system ran in a child process.
	hostCPU time.Duration
}

// run starts one system under test, publishes its load to input while it
// runs when publish is set (otherwise the load is waiting there), and
// stops it once it made every payment's output visible.
func (r *runner) run(ctx context.Context, kind, input, output string, publish bool) (measured, error) {
	cfg := r.cfg
	s := spec{
		Kind: kind, Brokers: r.w.embedded.Addrs(), Partitions: cfg.Partitions, Group: "bench-" + kind,
		Input: input, Output: output, PSP: cfg.PSP,
		PSPTimeout: cfg.PSPTimeout, InFlight: cfg.InFlight, MaxPollRecords: cfg.MaxPollRecords,
	}
	if kind == kindProcessor {
		s.CPUProfile, s.MemProfile, s.Verbose, s.Memory = cfg.CPUProfile, cfg.MemProfile, cfg.Verbose, cfg.memory()
		if !cfg.Backlog {
			s.Stamped = cfg.Payments
		}
	}
	if s.MaxPollRecords == 0 {
		// The processor's default, so that the pass-throughs poll alike.
		s.MaxPollRecords = consumers.DefaultConfiguration().MaxPollRecords
	}
	if r.w.sim != nil {
		s.SimulatorURL = r.w.sim.URL()
	}
	hostBefore := processUsage()
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	var (
		sys system
		err error
	)
	if len(cfg.Worker) > 0 {
		sys, err = startChild(startCtx, cfg.Worker, s, r.stderr)
	} else {
		sys, err = startInProcess(startCtx, s)
	}
	cancel()
	if err != nil {
		return measured{}, err
	}
	if publish {
		r.say("%s: started; %s", kind, r.loadDescription())
	} else {
		r.say("%s: started; draining %d payments published beforehand", kind, cfg.Payments)
	}

	var (
		sent   atomic.Int64
		pub    published
		pubErr error
		pubEnd = make(chan struct{})
	)
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	if !publish {
		close(pubEnd)
	} else {
		go func() {
			defer close(pubEnd)
			pub, pubErr = r.w.publish(pubCtx, input, cfg.Payments, cfg.Rate, idPrefix, &sent)
		}()
	}
	waitErr := r.await(ctx, kind, sys, publish, &sent)
	stopPub()
	<-pubEnd
	stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o, stopErr := sys.Stop(stopCtx)
	m := measured{kind: kind, outcome: o, published: pub}
	if o.Isolated {
		m.hostCPU = processUsage().since(hostBefore).CPU()
	}
	switch {
	case waitErr != nil:
		return m, waitErr
	case pubErr != nil:
		return m, pubErr
	case stopErr != nil:
		return m, fmt.Errorf("bench: stopping %s: %w", kind, stopErr)
	}
	r.say("%s: %d outputs in %.2fs: %.0f/s", kind, o.Outputs, o.Span().Seconds(), perSecond(int(o.Outputs), o.Span()))
	return m, nil
}

// publishBacklog publishes every payment to topic, with progress lines.
func (r *runner) publishBacklog(ctx context.Context, topic string) (published, error) {
	var (
		acked atomic.Int64
		load  published
		err   error
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		load, err = r.w.publish(ctx, topic, r.cfg.Payments, 0, idPrefix, &acked)
	}()
	tick := time.NewTicker(r.cfg.ProgressInterval)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return load, err
		case <-tick.C:
			r.say("backlog: %d/%d published", acked.Load(), r.cfg.Payments)
		}
	}
}

// await writes progress until sys made every payment's output visible,
// fails, or the scenario's timeout passes.
func (r *runner) await(ctx context.Context, kind string, sys system, publishing bool, sent *atomic.Int64) error {
	want := int64(r.cfg.Payments)
	timeout := time.NewTimer(r.cfg.Timeout)
	defer timeout.Stop()
	tick := time.NewTicker(r.cfg.ProgressInterval)
	defer tick.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	last, lastAt := int64(0), time.Now()
	for {
		if n := sys.Outputs(); n >= want {
			return nil
		}
		if err := sys.Err(); err != nil {
			return fmt.Errorf("bench: %s stopped: %w", kind, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout.C:
			return fmt.Errorf("bench: %s made %d of %d outputs visible in %s", kind, sys.Outputs(), want, r.cfg.Timeout)
		case <-tick.C:
			n, now := sys.Outputs(), time.Now()
			line := fmt.Sprintf("%s: %d/%d outputs (%.0f/s)", kind, n, want, float64(n-last)/now.Sub(lastAt).Seconds())
			if publishing {
				line += fmt.Sprintf(", %d published", sent.Load())
			}
			r.say("%s", line)
			last, lastAt = n, now
		case <-poll.C:
		}
	}
}

func (r *runner) loadDescription() string {
	switch {
	case r.cfg.Rate > 0:
		return fmt.Sprintf("publishing %d payments at %.0f/s", r.cfg.Payments, r.cfg.Rate)
	default:
		return fmt.Sprintf("publishing %d payments as fast as the broker takes them", r.cfg.Payments)
	}
}

// systemReport summarizes a run.
func (m measured) systemReport() SystemReport {
	sr := SystemReport{
		Name: m.kind, Outputs: m.Outputs, Span: m.Span(), Rate: perSecond(int(m.Outputs), m.Span()),
		CPU: m.Usage.CPU(), PeakRSS: m.Usage.MaxRSS, Isolated: m.Isolated, HostCPU: m.hostCPU,
		Transactions: m.Transactions, Aborted: m.Aborted, MemoryLimit: m.MemoryLimit,
	}
	if m.published.Payments > 0 {
		sr.PublishRate = m.published.Rate()
	}
	return sr
}
