// Package chaos is payroute's chaos harness: it runs processors against an
// embedded Kafka broker (kfake) with simulated PSPs and the ClickHouse
// sink, injects faults at random points while payments flow, and then
// checks PRODUCT.md's guarantees:
//
//   - every accepted payment has exactly one final result, as a
//     read_committed consumer of payments.results sees them (replays of
//     duplicate requests and ACTION_REQUIRED are not final);
//   - no payment was approved twice at any PSP: the simulator records every
//     approval it grants, and each payment's result agrees with them (an
//     APPROVED result has exactly one approval, at the PSP and with the
//     reference it names; DECLINED, FAILED, CANCELLED and REJECTED have
//     none);
//   - no attempt is recorded twice on payments.attempts, and each final
//     result's path has as many attempts as the topic;
//   - every bad input record is dead-lettered exactly once, with a reason;
//   - ClickHouse counts equal the event log: one row per record of
//     payments.attempts, payments.results and (valid) payments.requested;
//   - no card number or CVV-like field anywhere: every record of every
//     topic, every log line of every component, every row of every table.
//
// # Faults
//
// Processors are killed (their Kafka client closed mid-batch, nothing
// committed) and replaced with the same or a new transactional id; instances
// are added and stopped (rebalances); kfake fails produce, fetch, offset
// commit, transaction and coordinator requests with the errors a real
// cluster answers (Fault), or drops the connection on one request
// (ControlKey); the relay between the sink and ClickHouse is cut and
// restored, which is a ClickHouse outage as the sink sees it (the server
// itself is shared with the other test packages and is never stopped); the
// sink is restarted; PSPs time out after processing (answers withheld) or
// go down. Before the checks every fault is healed.
//
// A processor whose run loop ends on an error stays in its consumer group
// without processing, holding its partitions (payroute run does not exit
// then): the harness plays the supervisor that restarts it, spotting it by
// its "processor stopped" log line, and reports how often that happened.
//
// Group session timeouts are shortened to a few seconds by rewriting
// JoinGroup requests in kfake (the processor does not expose the option),
// so that a killed member's partitions move on in seconds rather than the
// default 45 s. Semantics are unchanged; runs are just shorter.
//
// # Running
//
// TestChaos runs the short profile (CI); the long one is run by hand:
//
//	go test ./chaos -run 'TestChaos$' -chaos.long -timeout 4h -v
//
// -chaos.seed and -chaos.payments override the profile's.
package chaos

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/simulator"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// Options are what a run needs besides its profile.
type Options struct {
	// Logf prints progress (testing.T.Logf); nil prints nothing.
	Logf func(format string, args ...any)
	// Log receives every component's log output besides the scanner (for
	// -v runs); nil discards it.
	Log io.Writer
	// TLS is the broker side of a Secure profile: the server configuration
	// for kfake and the client configuration payroute uses.
	TLS *TLSSetup
}

// TLSSetup is the TLS of a secured run: the broker's server
// configuration, and the client side as payroute is configured.
type TLSSetup struct {
	Server *tls.Config
	Client config.TLSConfiguration
}

// Run executes a profile and returns its report. An error means the run
// could not be carried out (a port, ClickHouse unreachable at the end);
// broken guarantees are Report.Violations.
func Run(ctx context.Context, p Profile, o Options) (*Report, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("chaos: profile: %w", err)
	}
	if p.Secure && o.TLS == nil {
		return nil, errors.New("chaos: a secure profile needs Options.TLS")
	}
	h := &harness{p: p, o: o, scan: NewScanner(), rep: newReport(p), faultRNG: mrand.New(mrand.NewPCG(p.Seed, 0xfa17))}
	if h.o.Logf == nil {
		h.o.Logf = func(string, ...any) {}
	}
	defer h.close()
	if err := h.setUp(ctx); err != nil {
		return nil, err
	}
	if err := h.run(ctx); err != nil {
		return h.rep, err
	}
	if err := h.verify(ctx); err != nil {
		return h.rep, err
	}
	return h.rep, nil
}

// harness is one run's world.
type harness struct {
	p    Profile
	o    Options
	scan *Scanner
	rep  *Report
	log  *slog.Logger

	emb      *kafka.Embedded
	kcfg     kafka.Configuration
	cluster  *kafka.Cluster
	sim      *simulator.Server
	gate     *pspGate
	reg      *psp.Registry
	router   *router.Router
	serde    *schemas.Serde
	records  *producers.Records
	producer *kgo.Client

	procMu sync.Mutex
	procs  []*instance
	nextID int

	sinkMu  sync.Mutex
	sink    *analytics.Sink
	sinkCfg analytics.Configuration
	relay   *Relay
	sinkDie atomic.Bool // the sink logged that it stopped

	faultRNG  *mrand.Rand
	faultMu   sync.Mutex
	uncovered []Kind // kinds not injected yet (see inject); guarded by faultMu
	faults    faultState

	published atomic.Int64
	planned   []planItem
	badSent   map[string]*kgo.Record // bad input records as acknowledged (partition, offset)
	badMu     sync.Mutex

	watch *watcher
}

// instance is one processor.
type instance struct {
	id   string
	proc *consumers.Processor
	dead atomic.Bool // logged that its run loop stopped
}

// kafkaUser and kafkaPassword authenticate a secured run; throw-away
// values of a broker that lives as long as the run.
const (
	kafkaUser     = "payroute-chaos"
	kafkaPassword = "chaos-scram-password-not-a-secret"
)

func (h *harness) setUp(ctx context.Context) error {
	var sinks []io.Writer
	sinks = append(sinks, h.scan)
	if h.o.Log != nil {
		sinks = append(sinks, h.o.Log)
	}
	h.log = slog.New(slog.NewTextHandler(io.MultiWriter(sinks...), &slog.HandlerOptions{Level: slog.LevelInfo}))

	h.kcfg = kafka.DefaultConfiguration()
	h.kcfg.Partitions = h.p.Partitions
	h.kcfg.ClientID = "payroute-chaos"
	h.kcfg.RequestTimeout = 5 * time.Second
	var kopts []kfake.Opt
	if h.p.Secure {
		h.kcfg.TLS = h.o.TLS.Client
		h.kcfg.SASL = kafka.SASLConfiguration{Mechanism: kafka.SASLScramSHA512, Username: kafkaUser, Password: kafkaPassword}
		kopts = append(kopts, kfake.TLS(h.o.TLS.Server), kfake.EnableSASL(), kfake.Superuser(kafka.SASLScramSHA512, kafkaUser, kafkaPassword))
		h.scan.Secret("kafka sasl password", kafkaPassword)
		// The configuration dump is what operators paste into tickets: it
		// goes to the log, where the scanner checks the password is not.
		dump, err := config.Dump(struct {
			Kafka kafka.Configuration `yaml:"kafka"`
		}{h.kcfg})
		if err != nil {
			return err
		}
		h.log.Info("kafka configuration", "dump", string(dump))
	}
	emb, err := kafka.NewEmbedded(h.kcfg, kopts...)
	if err != nil {
		return err
	}
	h.emb = emb
	shortenSessions(emb.Cluster())
	if h.cluster, err = kafka.NewCluster(h.kcfg, emb); err != nil {
		return err
	}
	if err := h.cluster.EnsureTopics(ctx); err != nil {
		return err
	}

	profiles := map[string]simulator.Profile{}
	for i, name := range pspNames {
		profiles[name] = simulator.Profile{
			Latency: time.Millisecond, LatencyJitter: 3 * time.Millisecond,
			ErrorRate: 0.02 + 0.01*float64(i), RateLimitRate: 0.01, TimeoutRate: 0.005, DeclineRate: 0.03,
		}
	}
	h.sim, err = simulator.New(simulator.Configuration{Listen: "127.0.0.1:0", Seed: h.p.Seed, MaxHold: 5 * time.Second, PSPs: profiles},
		simulator.WithLogger(h.log.With("component", "simulator")))
	if err != nil {
		return err
	}
	if err := h.sim.Start(ctx); err != nil {
		return err
	}
	if h.gate, err = newPSPGate(h.sim.URL()); err != nil {
		return err
	}
	pcfg := psp.Configuration{Accounts: map[string]psp.Account{}}
	for _, name := range pspNames {
		pcfg.Accounts[name] = psp.Account{Kind: simulator.Kind, Endpoint: h.gate.URL(), Timeout: 400 * time.Millisecond}
	}
	if h.reg, err = psp.NewRegistry(pcfg, psp.WithLogger(h.log)); err != nil {
		return err
	}
	rcfg := router.DefaultConfiguration()
	rcfg.Version = fmt.Sprintf("chaos-%d", h.p.Seed)
	rcfg.Routes = map[string][]router.Candidate{
		chaosRoute: {{PSP: "psp-b", Method: "card"}, {PSP: "psp-c", Method: "card"}, {PSP: "psp-a", Method: "card"}},
		"default":  {{PSP: "psp-a", Method: "card"}, {PSP: "psp-b", Method: "card"}},
	}
	rcfg.DefaultRoute = "default"
	if h.router, err = router.New(rcfg, h.reg.Names()); err != nil {
		return err
	}
	if h.serde, err = schemas.New(schemas.DefaultConfiguration()); err != nil {
		return err
	}
	h.records = producers.NewRecords(h.serde, h.cluster.Topics())
	if h.producer, err = h.cluster.NewClient(kgo.RecordRetries(1_000_000)); err != nil {
		return err
	}
	if h.planned, err = plan(h.p, h.cluster.Topics().Requested, h.records); err != nil {
		return err
	}
	h.badSent = map[string]*kgo.Record{}

	if h.p.ClickHouse != "" {
		if err := h.setUpSink(ctx); err != nil {
			return err
		}
	}
	for range h.p.Instances {
		if err := h.addInstance(ctx, ""); err != nil {
			return err
		}
	}
	h.watch = newWatcher(h)
	return h.watch.start(ctx)
}

// shortenSessions caps the session and rebalance timeouts every group
// member asks for, so that a killed member is noticed in seconds.
func shortenSessions(c *kfake.Cluster) {
	c.ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if jr, ok := req.(*kmsg.JoinGroupRequest); ok {
			jr.SessionTimeoutMillis = min(jr.SessionTimeoutMillis, 8000)
			jr.RebalanceTimeoutMillis = min(jr.RebalanceTimeoutMillis, 15000)
		}
		return nil, nil, false // not handled: the broker goes on with the request
	})
}

func (h *harness) setUpSink(ctx context.Context) error {
	relay, err := NewRelay(h.p.ClickHouse)
	if err != nil {
		return err
	}
	h.relay = relay
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	cfg := analytics.DefaultConfiguration()
	cfg.ClickHouse.Addr = relay.Addr()
	cfg.ClickHouse.Database = "payroute_chaos_" + hex.EncodeToString(b[:])
	cfg.ClickHouse.DialTimeout = time.Second
	cfg.Group = "chaos-analytics-" + hex.EncodeToString(b[:])
	cfg.BatchSize = 2000
	cfg.FlushInterval = 200 * time.Millisecond
	h.sinkCfg = cfg
	return h.startSink(ctx)
}

func (h *harness) startSink(ctx context.Context) error {
	log := slog.New(&watchHandler{inner: h.log.Handler(), onStop: func() { h.sinkDie.Store(true) }, stopMsg: "analytics sink stopped"})
	s, err := analytics.New(h.sinkCfg, h.cluster, h.serde, log)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	h.sinkMu.Lock()
	h.sink = s
	h.sinkMu.Unlock()
	h.sinkDie.Store(false)
	return nil
}

// restartSink stops the sink (giving it a few seconds, as an orchestrator
// would) and starts another.
func (h *harness) restartSink(ctx context.Context) error {
	h.sinkMu.Lock()
	s := h.sink
	h.sinkMu.Unlock()
	if s != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = s.Stop(sctx) // rows not loaded in time are loaded by the next sink
		cancel()
	}
	return h.startSink(ctx)
}

// processorConfig is the processors' configuration: short transactions
// and in-doubt windows, so that crashed instances and stalled PSPs resolve
// within a run.
func processorConfig(id string) consumers.Configuration {
	c := consumers.DefaultConfiguration()
	c.Group = "chaos-processor"
	c.InstanceID = id
	c.TransactionTimeout = 10 * time.Second
	c.InDoubtWindow = 2 * time.Second
	c.InDoubtInitialInterval = 50 * time.Millisecond
	c.AttemptTimeout = 2 * time.Second
	c.MaxPollRecords = 50
	return c
}

// addInstance starts a processor; id "" picks a new instance id. Starting
// fails under broker faults at times: it is retried until ctx ends.
func (h *harness) addInstance(ctx context.Context, id string) error {
	if id == "" {
		h.procMu.Lock()
		h.nextID++
		id = fmt.Sprintf("chaos-%d", h.nextID)
		h.procMu.Unlock()
	}
	inst := &instance{id: id}
	log := h.log
	for attempt := 0; ; attempt++ {
		proc, err := consumers.New(processorConfig(id), h.cluster, h.serde, h.records, h.router, h.reg, log)
		if err != nil {
			return err
		}
		proc.OnFatal(func(error) { inst.dead.Store(true) })
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = proc.Start(sctx)
		cancel()
		if err == nil {
			inst.proc = proc
			break
		}
		h.rep.startFailures.Add(1)
		if ctx.Err() != nil {
			return fmt.Errorf("start processor %s: %w", id, err)
		}
		time.Sleep(time.Duration(100*(attempt+1)) * time.Millisecond)
	}
	h.procMu.Lock()
	h.procs = append(h.procs, inst)
	h.procMu.Unlock()
	return nil
}

// takeInstance removes a random processor from the set, or returns nil
// when that would leave fewer than keep.
func (h *harness) takeInstance(keep int) *instance {
	h.procMu.Lock()
	defer h.procMu.Unlock()
	if len(h.procs) <= keep {
		return nil
	}
	h.faultMu.Lock()
	i := h.faultRNG.IntN(len(h.procs))
	h.faultMu.Unlock()
	inst := h.procs[i]
	h.procs = append(h.procs[:i], h.procs[i+1:]...)
	h.retire(inst)
	return inst
}

// retire counts the Kafka session restarts of a processor leaving the set.
func (h *harness) retire(inst *instance) {
	h.rep.sessionRestarts.Add(inst.proc.Stats().Restarts())
}

func (h *harness) instances() int {
	h.procMu.Lock()
	defer h.procMu.Unlock()
	return len(h.procs)
}

// supervise replaces processors whose run loop stopped on an error, and a
// sink that stopped, as an orchestrator restarts a failed container.
func (h *harness) supervise(ctx context.Context) {
	h.procMu.Lock()
	var dead []*instance
	kept := h.procs[:0]
	for _, inst := range h.procs {
		if inst.dead.Load() {
			h.retire(inst)
			dead = append(dead, inst)
		} else {
			kept = append(kept, inst)
		}
	}
	h.procs = kept
	h.procMu.Unlock()
	for _, inst := range dead {
		h.faults.bg.Add(1)
		go func() {
			defer h.faults.bg.Done()
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := inst.proc.Stop(sctx) // leaves the group; returns the error that stopped it
			cancel()
			h.rep.processorExit(err)
			if err := h.addInstance(ctx, inst.id); err != nil {
				h.o.Logf("chaos: cannot restart processor %s: %v", inst.id, err)
			}
		}()
	}
	if h.sinkDie.Load() {
		h.rep.sinkExits.Add(1)
		if err := h.restartSink(ctx); err != nil {
			h.o.Logf("chaos: cannot restart the sink: %v", err)
		}
	}
}

// run publishes the plan while faults are injected, then heals everything
// and waits for every payment to end.
func (h *harness) run(ctx context.Context) error {
	start := time.Now()
	pubDone := make(chan error, 1)
	go func() { pubDone <- h.publish(ctx) }()

	nextFault := time.Now().Add(h.faultDelay())
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastProgress := time.Now()
	var pubErr error
publishing:
	for {
		select {
		case pubErr = <-pubDone:
			break publishing
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		h.supervise(ctx)
		if time.Now().After(nextFault) {
			h.inject(ctx)
			nextFault = time.Now().Add(h.faultDelay())
		}
		if time.Since(lastProgress) > 10*time.Second {
			lastProgress = time.Now()
			h.o.Logf("chaos: %s: published %d/%d, final results %d, faults %d, instances %d",
				time.Since(start).Round(time.Second), h.published.Load(), len(h.planned), h.watch.finals(), h.rep.totalFaults(), h.instances())
		}
	}
	if pubErr != nil {
		return pubErr
	}
	h.rep.PublishTime = time.Since(start)
	h.o.Logf("chaos: published everything in %s; healing every fault", h.rep.PublishTime.Round(time.Second))
	h.healAll(ctx)

	deadline := time.Now().Add(h.p.Settle)
	for !h.watch.complete() {
		if time.Now().After(deadline) {
			h.o.Logf("chaos: %d payments still without a final result after %s", h.watch.missing(), h.p.Settle)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		h.supervise(ctx)
		if time.Since(lastProgress) > 10*time.Second {
			lastProgress = time.Now()
			h.o.Logf("chaos: settling: %d payments without a final result", h.watch.missing())
		}
	}
	h.rep.RunTime = time.Since(start)
	// Stop the processors gracefully, restarts in flight included: nothing
	// is written any more while the topics are checked.
	h.faults.bg.Wait()
	h.procMu.Lock()
	procs := h.procs
	h.procs = nil
	h.procMu.Unlock()
	for _, inst := range procs {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := inst.proc.Stop(sctx); err != nil {
			h.rep.processorExit(err)
		}
		cancel()
		h.retire(inst)
	}
	h.watch.stop()
	return nil
}

// faultDelay draws the time to the next fault.
func (h *harness) faultDelay() time.Duration {
	h.faultMu.Lock()
	defer h.faultMu.Unlock()
	return time.Duration(h.faultRNG.ExpFloat64() * float64(h.p.FaultEvery))
}

// publish plays upstream: every planned record, at the profile's rate,
// each until it is acknowledged.
func (h *harness) publish(ctx context.Context) error {
	interval := time.Second / time.Duration(h.p.PublishRate)
	next := time.Now()
	for _, it := range h.planned {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		var rec *kgo.Record
		if it.bad != nil {
			rec = &kgo.Record{Topic: it.bad.Topic, Key: it.bad.Key, Value: it.bad.Value}
		} else {
			r, err := h.records.Requested(it.payment)
			if err != nil {
				return err
			}
			rec = r
		}
		for {
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := h.producer.ProduceSync(pctx, rec).FirstErr()
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			h.rep.publishRetries.Add(1)
			rec = &kgo.Record{Topic: rec.Topic, Key: rec.Key, Value: rec.Value, Headers: rec.Headers}
		}
		if it.bad != nil {
			h.badMu.Lock()
			h.badSent[string(rec.Key)] = rec
			h.badMu.Unlock()
		}
		h.published.Add(1)
	}
	return nil
}

// close releases everything the run started.
func (h *harness) close() {
	if h.watch != nil {
		h.watch.stop()
	}
	h.procMu.Lock()
	procs := h.procs
	h.procs = nil
	h.procMu.Unlock()
	for _, inst := range procs {
		inst.proc.Kill()
	}
	h.sinkMu.Lock()
	s := h.sink
	h.sinkMu.Unlock()
	if s != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.Stop(ctx)
		cancel()
	}
	if h.producer != nil {
		h.producer.Close()
	}
	if h.gate != nil {
		h.gate.close()
	}
	if h.sim != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = h.sim.Stop(ctx)
		cancel()
	}
	if h.relay != nil {
		h.relay.Close()
	}
	if h.emb != nil {
		h.emb.Close()
	}
	if h.p.ClickHouse != "" && h.sinkCfg.ClickHouse.Database != "" && os.Getenv("CHAOS_KEEP_DATABASE") == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		direct := h.sinkCfg.ClickHouse
		direct.Addr = h.p.ClickHouse
		if c, err := analytics.Open(ctx, direct); err == nil {
			_ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+direct.Database)
			_ = c.Close()
		}
	}
}

// watchHandler passes records on to inner and calls onStop when a
// component logs that its run loop stopped (an error-level record with
// message stopMsg).
type watchHandler struct {
	inner   slog.Handler
	onStop  func()
	stopMsg string
}

func (w *watchHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return w.inner.Enabled(ctx, l)
}

func (w *watchHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && r.Message == w.stopMsg {
		w.onStop()
	}
	return w.inner.Handle(ctx, r)
}

func (w *watchHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &watchHandler{inner: w.inner.WithAttrs(attrs), onStop: w.onStop, stopMsg: w.stopMsg}
}

func (w *watchHandler) WithGroup(name string) slog.Handler {
	return &watchHandler{inner: w.inner.WithGroup(name), onStop: w.onStop, stopMsg: w.stopMsg}
}
