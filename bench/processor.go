package bench

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/simulator"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// processorSystem is payroute's processor, built the way `payroute run`
// builds it (public constructors, default configuration but for the
// knobs of the scenario), with two instruments that do not change what it
// does: a timer around every PSP call, and a hook on its Kafka clients
// that notes when each result became visible.
type processorSystem struct {
	proc     *consumers.Processor
	clock    *commitClock
	timed    *timedConnectors
	sim      *simulator.Server // its in-process PSP, or nil
	stopOnce sync.Once
}

// startProcessor starts a processor for spec and waits until it owns every
// partition, so that what is published next is processed as it arrives.
func startProcessor(ctx context.Context, s spec) (*processorSystem, error) {
	kcfg := kafka.DefaultConfiguration()
	kcfg.Brokers = s.Brokers
	kcfg.Partitions = s.Partitions
	kcfg.ClientID = "payroute-bench-processor"
	cluster, err := kafka.NewCluster(kcfg, nil)
	if err != nil {
		return nil, err
	}
	topics := cluster.Topics()
	clock := newCommitClock(topics.Results, topics.Requested, s.Stamped)
	cluster.AddClientHooks(func() []kgo.Hook { return []kgo.Hook{clock} })

	reg, sim, err := pspRegistry(s)
	if err != nil {
		return nil, err
	}
	stopSim := func() {
		if sim != nil {
			_ = sim.Stop(context.Background())
		}
	}
	rcfg := router.DefaultConfiguration()
	rcfg.Version = "bench"
	rcfg.Routes = map[string][]router.Candidate{routeName: {{PSP: PSPName, Method: "card"}}}
	rt, err := router.New(rcfg, reg.Names())
	if err != nil {
		stopSim()
		return nil, err
	}
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		stopSim()
		return nil, err
	}
	ccfg := consumers.DefaultConfiguration()
	ccfg.Group = s.Group
	ccfg.InstanceID = "bench"
	ccfg.MaxInFlight = s.InFlight
	ccfg.MaxInFlightPerPSP = s.InFlight // one PSP takes every payment
	if s.MaxPollRecords > 0 {
		ccfg.MaxPollRecords = s.MaxPollRecords
	}
	timed := &timedConnectors{reg: reg, spent: newStamps(s.Stamped), started: newStamps(s.Stamped), ended: newStamps(s.Stamped)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if s.Verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	proc, err := consumers.New(ccfg, cluster, serde, producers.NewRecords(serde, topics), rt, timed, log)
	if err != nil {
		stopSim()
		return nil, err
	}
	if err := proc.Start(ctx); err != nil {
		stopSim()
		return nil, err
	}
	sys := &processorSystem{proc: proc, clock: clock, timed: timed, sim: sim}
	if err := waitFor(ctx, func() bool { return ownsAll(proc.Store(), s.Partitions) || proc.Err() != nil }); err != nil {
		_, _ = sys.Stop(context.Background())
		return nil, errorf("processor did not join its group: %w", err)
	}
	if err := proc.Err(); err != nil {
		_, _ = sys.Stop(context.Background())
		return nil, err
	}
	return sys, nil
}

// pspRegistry is the processor's one PSP account: the simulator at
// s.SimulatorURL over HTTP, built as `payroute run` builds accounts; or,
// for a profile over TransportInProcess, a simulator of this process
// (returned, to be stopped with the processor) reached through its
// in-process transport.
func pspRegistry(s spec) (*psp.Registry, *simulator.Server, error) {
	prof, ok := profiles[s.PSP]
	if !ok {
		return nil, nil, errorf("unknown PSP profile %q", s.PSP)
	}
	if prof.Transport != TransportInProcess {
		reg, err := psp.NewRegistry(psp.Configuration{Accounts: map[string]psp.Account{
			PSPName: {Kind: simulator.Kind, Endpoint: s.SimulatorURL, Timeout: s.PSPTimeout},
		}})
		return reg, nil, err
	}
	sim, err := newSimulator(prof)
	if err != nil {
		return nil, nil, err
	}
	conn, err := sim.InProcessConnector(PSPName, s.PSPTimeout)
	if err != nil {
		_ = sim.Stop(context.Background())
		return nil, nil, err
	}
	return psp.NewStaticRegistry(map[string]psp.Connector{PSPName: conn}), sim, nil
}

func ownsAll(st *consumers.Store, partitions int32) bool {
	for p := int32(0); p < partitions; p++ {
		if !st.Owns(p) {
			return false
		}
	}
	return true
}

// Outputs is the count of final results committed.
func (p *processorSystem) Outputs() int64 { return p.proc.Stats().TotalResults() }

// Err is what stopped the processor, if it stopped on its own.
func (p *processorSystem) Err() error { return p.proc.Err() }

// Stop stops the processor and returns its measurements.
func (p *processorSystem) Stop(ctx context.Context) (outcome, error) {
	var err error
	p.stopOnce.Do(func() {
		err = p.proc.Stop(ctx)
		if p.sim != nil {
			if simErr := p.sim.Stop(ctx); err == nil {
				err = simErr
			}
		}
	})
	st := p.proc.Stats()
	o := outcome{
		Outputs:      st.TotalResults(),
		Attempts:     st.Attempts(),
		Aborted:      st.Aborted(),
		FirstFetch:   p.clock.firstFetch.Load(),
		LastOutput:   p.clock.last.Load(),
		Transactions: p.clock.transactions.Load(),
		Fetched:      p.clock.fetched,
		Commits:      p.clock.commits,
		CallStarted:  p.timed.started,
		CallEnded:    p.timed.ended,
		PSPTime:      p.timed.spent,
		PSPCalls:     p.timed.calls.Load(),
		PSPNanos:     p.timed.nanos.Load(),
	}
	return o, err
}

// commitClock notes when each result became visible to a read_committed
// consumer: when the EndTxn answer of the transaction that produced it was
// read. It watches the processor's clients (kafka.Cluster.AddClientHooks):
// results are produced by its transactional session only, and that session
// runs one transaction at a time, so the results produced since the last
// EndTxn are exactly the ones the next EndTxn commits. An aborted
// transaction stamps its results too, and the batch that processes them
// again stamps them once more, later: the last stamp wins, which is the
// commit that counted. It also notes the first input record fetched, where
// a drain's clock starts.
type commitClock struct {
	results, input string

	mu      sync.Mutex
	pending []int

	commits      stamps
	fetched      stamps
	last         atomic.Int64
	firstFetch   atomic.Int64
	transactions atomic.Int64
}

var (
	_ kgo.HookProduceRecordBuffered = (*commitClock)(nil)
	_ kgo.HookBrokerRead            = (*commitClock)(nil)
	_ kgo.HookFetchRecordBuffered   = (*commitClock)(nil)
)

func newCommitClock(results, input string, payments int) *commitClock {
	return &commitClock{results: results, input: input, commits: newStamps(payments), fetched: newStamps(payments)}
}

func (c *commitClock) OnProduceRecordBuffered(r *kgo.Record) {
	if r.Topic != c.results {
		return
	}
	c.mu.Lock()
	c.pending = append(c.pending, paymentIndex(r.Key))
	c.mu.Unlock()
}

func (c *commitClock) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key != int16(kmsg.EndTxn) || err != nil {
		return
	}
	now := time.Now().UnixNano()
	c.transactions.Add(1)
	c.mu.Lock()
	for _, i := range c.pending {
		c.commits.set(i, now)
	}
	n := len(c.pending)
	c.pending = c.pending[:0]
	c.mu.Unlock()
	if n > 0 {
		c.last.Store(now)
	}
}

func (c *commitClock) OnFetchRecordBuffered(r *kgo.Record) {
	if r.Topic == c.input {
		now := time.Now().UnixNano()
		c.firstFetch.CompareAndSwap(0, now)
		c.fetched.setFirst(paymentIndex(r.Key), now)
	}
}

// timedConnectors is the PSP registry with every call timed: the time a
// payment spent at its PSP, round trip included, is subtracted from
// its end-to-end latency to leave what payroute added; and when its first
// call started and its last ended, which split what payroute added into
// before and after the PSP.
type timedConnectors struct {
	reg            *psp.Registry
	spent          stamps
	started, ended stamps
	calls          atomic.Int64
	nanos          atomic.Int64
}

var _ consumers.Connectors = (*timedConnectors)(nil)

func (t *timedConnectors) Get(name string) (psp.Connector, bool) {
	c, ok := t.reg.Get(name)
	if !ok {
		return nil, false
	}
	return timedConnector{c: c, t: t}, true
}

func (t *timedConnectors) Fee(name string, in psp.FeeInput) int64 { return t.reg.Fee(name, in) }

func (t *timedConnectors) note(paymentID string, start time.Time, d time.Duration) {
	i := paymentIndex([]byte(paymentID))
	t.calls.Add(1)
	t.nanos.Add(int64(d))
	t.spent.add(i, int64(d))
	t.started.setFirst(i, start.UnixNano())
	t.ended.set(i, start.Add(d).UnixNano())
}

type timedConnector struct {
	c psp.Connector
	t *timedConnectors
}

func (c timedConnector) Attempt(ctx context.Context, req psp.Request) psp.Outcome {
	start := time.Now()
	out := c.c.Attempt(ctx, req)
	c.t.note(req.PaymentID, start, time.Since(start))
	return out
}

func (c timedConnector) Status(ctx context.Context, req psp.Request) (psp.StatusOutcome, error) {
	start := time.Now()
	st, err := c.c.Status(ctx, req)
	c.t.note(req.PaymentID, start, time.Since(start))
	return st, err
}
