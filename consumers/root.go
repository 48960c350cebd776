// Package consumers holds the payment processor: the Kafka consumer that
// reads payments.requested, every payments.retry.rank-<n> and
// payments.retry.delay-<tier> topic, payments.actions and
// payments.followups; routes each payment, attempts it at the PSP of the
// rank it is at, and emits the attempt, the next retry or the final result.
//
// # Exactly once
//
// Each polled batch is one Kafka transaction (kgo.GroupTransactSession):
// the batch's outputs (results, attempts, retries, dead letters), the
// changes of payment state on the compacted payments.state changelog, and
// the input offsets commit together or not at all. A read_committed
// consumer of payments.results therefore sees one final result per payment
// whatever crashes or rebalances happen. What a transaction cannot cover is
// the PSP call itself: a batch aborted after its PSP calls is processed
// again, and the PSP idempotency key, stable per (payment, PSP, operation),
// makes the repeated call return the PSP's stored outcome instead of
// charging twice.
//
// # State
//
// Every topic carrying a payment is keyed by payment_id and has the same
// partition count, and the group uses the range balancer, which gives an
// instance the same partition numbers of every topic. So the instance that
// owns partition p of payments.requested also owns p of every retry topic
// and of payments.state, and holds the state of those payments in memory,
// restored from the changelog when the partition is assigned (the Kafka
// Streams / goka table pattern). Follow-ups (CAPTURE, VOID, REFUND) name
// another payment, which may live in another partition; they are re-keyed
// by that payment onto payments.followups so its owner handles them.
package consumers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/payroute/payroute/health"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// Routing is what the processor asks the router (router.Holder, which
// follows configuration reloads, or a fixed router.Router): candidates for a
// new payment, the pinned PSP of a follow-up, and what follows a failed
// attempt under the retry rules of the payment's configuration version.
type Routing interface {
	Route(req *schemas.PaymentRequested) (schemas.Decision, error)
	RouteFollowUp(req *schemas.PaymentRequested, authorizingPSP string) (schemas.Decision, error)
	RetryAction(in router.RetryInput) router.RetryAction
}

// Health is the shared PSP health (health.Tracker): it orders candidates
// so a PSP known to be down goes behind the healthy ones, hears every
// attempt's outcome, and says when a held recurring payment may go.
type Health interface {
	Order(cands []schemas.Candidate, currency, network, paymentID string) []schemas.Candidate
	Observe(o health.Observation)
	AllDown(cands []schemas.Candidate, currency, network, paymentID string) bool
	Available(cands []schemas.Candidate, currency, network, paymentID string) bool
	Recovered() <-chan struct{}
}

// SetHealth installs the PSP health tracker; call before Start. Without
// one, candidates keep the router's order.
func (p *Processor) SetHealth(h Health) { p.health = h }

// Connectors finds the connector of a PSP account by name, and prices an
// attempt there from the account's fee schedule (psp.Registry).
type Connectors interface {
	Get(name string) (psp.Connector, bool)
	Fee(name string, in psp.FeeInput) int64
}

// Decoder reads payroute's Avro events (schemas.Serde).
type Decoder interface {
	DecodePaymentRequested(b []byte) (*schemas.PaymentRequested, error)
	Decode(b []byte, v any) error
}

// Processor is the payment processor of one instance.
type Processor struct {
	cfg        Configuration
	cluster    *kafka.Cluster
	topics     kafka.Topics
	maxRanks   int
	decoder    Decoder
	records    *producers.Records
	dir        string // final payment states on disk (Store), removed at stop
	router     Routing
	connectors Connectors
	health     Health
	log        *slog.Logger
	stats      *Stats
	store      *Store
	reattempts *reattemptLedger
	disp       *dispatcher
	now        func() time.Time

	sessMu sync.Mutex // guards sess, which the run loop replaces on a restart
	sess   *kgo.GroupTransactSession
	cancel context.CancelFunc
	done   chan struct{}
	killed atomic.Bool
	ready  atomic.Bool

	errMu   sync.Mutex
	err     error       // the fatal error that stopped the processor
	trouble error       // an error of the group callbacks, for the run loop to act on
	onFatal func(error) // see OnFatal

	// member and generation are the group membership the store's
	// partitions were assigned under (see assigned and fence); txnMu
	// guards them.
	member     string
	generation int32

	txnMu      sync.Mutex // see transact
	expireMu   sync.Mutex
	lastExpire map[int32]time.Time

	pauseMu sync.Mutex
	paused  map[topicPartition]time.Time // delay partitions paused until their head is due
}

// New builds a processor; Start connects it.
func New(cfg Configuration, cluster *kafka.Cluster, decoder Decoder, records *producers.Records,
	routing Routing, connectors Connectors, log *slog.Logger) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.InstanceID == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		cfg.InstanceID = host + "-" + hex.EncodeToString(b[:])
	}
	dir, err := os.MkdirTemp(cfg.StateDir, "payroute-state-")
	if err != nil {
		return nil, fmt.Errorf("processor state directory: %w", err)
	}
	p := &Processor{
		cfg: cfg, cluster: cluster, topics: cluster.Topics(), maxRanks: cluster.Config().MaxRanks,
		decoder: decoder, records: records, router: routing, connectors: connectors,
		log: log.With("component", "processor", "instance", cfg.InstanceID), stats: newStats(),
		dir: dir, store: NewStore(dir), reattempts: newReattemptLedger(cluster, log), now: time.Now, paused: map[topicPartition]time.Time{}, lastExpire: map[int32]time.Time{},
	}
	p.store.actionTimeout = cfg.ActionTimeout
	p.disp = newDispatcher(cfg.MaxInFlight, cfg.MaxInFlightPerPSP, cfg.QueueTimeout, p.runCall)
	return p, nil
}

// Stats are the processor's running counters.
func (p *Processor) Stats() *Stats { return p.stats }

// Assigned reports whether the processor has been given its partitions
// (possibly none, when there are more instances than partitions) and
// restored their state: it is ready to process payments. A rebalance makes
// it false until the new assignment is restored.
func (p *Processor) Assigned() bool { return p.ready.Load() }

// InFlight is the number of payments this instance holds that have no
// final result yet: attempting, on a retry rank, scheduled, held, or
// waiting for the customer.
func (p *Processor) InFlight() int { return p.store.Unfinished() }

// Store is the payment state this instance holds.
func (p *Processor) Store() *Store { return p.store }

// Calls is the number of calls to one PSP under way on this instance, and
// waiting for a slot (its own, max_in_flight_per_psp, or one of
// max_in_flight). A PSP whose calls run at its bound while its queue grows
// is slow or hung; queues at every PSP with max_in_flight calls under way
// mean the instance is saturated.
func (p *Processor) Calls(psp string) (running, queued int) { return p.disp.calls(psp) }

// OnFatal installs what to do when the processor stops for good (see
// supervise): the fx module shuts the application down, so that the
// orchestrator sees an instance that cannot work exit rather than one that
// stays up doing nothing. Call before Start.
func (p *Processor) OnFatal(fn func(error)) { p.onFatal = fn }

// Start joins the consumer group and processes in a goroutine until Stop.
func (p *Processor) Start(ctx context.Context) error {
	if err := p.reattempts.start(ctx); err != nil {
		p.removeStateDir()
		return err
	}
	sess, err := p.connect(ctx)
	if err != nil {
		p.reattempts.stop()
		p.removeStateDir()
		return err
	}
	p.setSession(sess)
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		p.supervise(runCtx)
	}()
	return nil
}

// connect makes the transactional group client and checks that it reaches
// the brokers. Its transactional id is the instance's, so a new session of
// the same instance fences any transaction the previous one left open.
func (p *Processor) connect(ctx context.Context) (*kgo.GroupTransactSession, error) {
	sess, err := p.cluster.NewGroupTransactSession(
		kgo.ConsumerGroup(p.cfg.Group),
		kgo.ConsumeTopics(p.topics.Processing()...),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.TransactionalID(p.cfg.Group+"-"+p.cfg.InstanceID),
		kgo.TransactionTimeout(p.cfg.TransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(p.cfg.FetchMaxBytes),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(statePartitioner(p.topics.State)),
		kgo.OnPartitionsAssigned(p.assigned),
		kgo.OnPartitionsRevoked(p.revoked),
		kgo.OnPartitionsLost(p.revoked),
	)
	if err != nil {
		return nil, fmt.Errorf("processor kafka client: %w", err)
	}
	if err := sess.Client().Ping(ctx); err != nil {
		sess.Close()
		return nil, fmt.Errorf("processor cannot reach kafka %v: %w", p.cluster.Seeds(), err)
	}
	return sess, nil
}

func (p *Processor) session() *kgo.GroupTransactSession {
	p.sessMu.Lock()
	defer p.sessMu.Unlock()
	return p.sess
}

func (p *Processor) setSession(s *kgo.GroupTransactSession) {
	p.sessMu.Lock()
	p.sess = s
	p.sessMu.Unlock()
}

// closeSession leaves the group and closes the client, once: between a
// restart and the next session there is none.
func (p *Processor) closeSession() {
	p.sessMu.Lock()
	s := p.sess
	p.sess = nil
	p.sessMu.Unlock()
	if s != nil {
		s.Close()
	}
}

// supervise runs the loop, and when it stops on an error, decides between
// two ways out. A fatal error (fatal) stops the processor: retrying cannot
// help, and an instance whose transactional id another instance has taken
// over must not go on. Any other error (a transaction that could not end
// after the client's own retries, a state restore that timed out, a
// coordinator gone for too long) restarts the Kafka session: the old client
// leaves the group, so the partitions do not wait on an instance that is
// not processing them, and a new one joins, restores the state of what it
// is given and makes again the calls it finds in flight. Restarts back off
// exponentially, up to 30 s between tries, and each is logged and counted.
func (p *Processor) supervise(ctx context.Context) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 500 * time.Millisecond
	bo.MaxInterval = 30 * time.Second
	bo.MaxElapsedTime = 0
	for {
		started := time.Now()
		err := p.run(ctx)
		if err == nil || ctx.Err() != nil || p.killed.Load() {
			return
		}
		if fatal(err) {
			p.fail(err)
			return
		}
		if time.Since(started) > time.Minute {
			bo.Reset() // it worked a while: this is a new trouble, not the same one
		}
		p.stats.restarts.Add(1)
		p.ready.Store(false)
		p.log.Warn("processor restarting its kafka session", "err", err)
		p.closeSession()
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(bo.NextBackOff()):
			}
			sess, err := p.connect(ctx)
			if err == nil {
				p.setSession(sess)
				break
			}
			if fatal(err) {
				p.fail(err)
				return
			}
			p.log.Warn("processor cannot reconnect to kafka", "err", err)
		}
	}
}

// errStateUnreadable is a payment state this build cannot decode (written by
// a newer version): no restart can fix that.
var errStateUnreadable = errors.New("payment state unreadable")

// fatal reports whether an error stops the processor for good: its
// transactional id was taken over by another instance (two instances with
// one instance_id, or this one a zombie of a restarted replacement), the
// brokers refuse it the rights it needs, or the payment state is written
// by a newer version.
func fatal(err error) bool {
	for _, f := range []error{
		kerr.ProducerFenced, kerr.TransactionalIDAuthorizationFailed, kerr.GroupAuthorizationFailed,
		kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed, errStateUnreadable,
	} {
		if errors.Is(err, f) {
			return true
		}
	}
	return false
}

// fail stops the processor for good with err.
func (p *Processor) fail(err error) {
	p.errMu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.errMu.Unlock()
	p.ready.Store(false)
	p.log.Error("processor stopped", "err", err)
	p.closeSession()
	if p.onFatal != nil {
		p.onFatal(err)
	}
}

// report hands an error of a group callback to the run loop, which acts on
// it in its next turn.
func (p *Processor) report(err error) {
	p.errMu.Lock()
	if p.trouble == nil {
		p.trouble = err
	}
	p.errMu.Unlock()
}

func (p *Processor) takeTrouble() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	err := p.trouble
	p.trouble = nil
	return err
}

// Stop finishes the batch in hand, commits it, and leaves the group.
func (p *Processor) Stop(ctx context.Context) error {
	if p.done == nil || p.killed.Load() {
		return nil
	}
	p.cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.closeSession()
	p.reattempts.stop()
	p.removeStateDir()
	return p.Err()
}

// removeStateDir forgets every partition and removes the final payment
// states: the instance no longer processes.
func (p *Processor) removeStateDir() {
	p.store.Drop(p.store.Partitions()...)
	if err := os.RemoveAll(p.dir); err != nil {
		p.log.Warn("cannot remove the state directory", "dir", p.dir, "err", err)
	}
}

// Kill closes the Kafka client at once, without finishing or committing the
// batch in hand: what a crash looks like to the rest of the group. For tests.
func (p *Processor) Kill() {
	if p.done == nil {
		return
	}
	p.killed.Store(true)
	if s := p.session(); s != nil {
		s.Client().Close()
	}
	p.cancel()
	<-p.done
	p.reattempts.stop()
	p.removeStateDir()
}

// Err is the error that stopped the processor for good, if any.
func (p *Processor) Err() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.err
}

// assigned restores the state of the assigned partitions before any of
// their records is fetched, and resumes delay partitions a previous owner
// may have left paused.
//
// It reloads every assigned partition, also those the store already holds,
// and drops the others. With the eager range balancer each rebalance
// revokes everything first, so the store is normally empty here; but the
// transact session passes on only the first revocation (or loss) after
// each transaction it ends itself, and batches without input offsets end
// theirs on the client (see transact). A revocation it swallowed would
// leave partitions of an earlier generation in the store, perhaps owned by
// another instance since: nothing held from before is trusted.
//
// It runs under txnMu, so it waits for a batch without input offsets to
// end, and records the member id and generation the new assignment belongs
// to: such batches commit only while the group is still at that generation
// (fence).
func (p *Processor) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	p.ready.Store(false) // a swallowed revocation left it set
	p.member, p.generation = cl.GroupMetadata()
	parts := partitionNumbers(assigned)
	p.store.Drop(p.store.Partitions()...)
	p.disp.dropQueued() // made again below, from the state as committed
	p.disp.drop(func(part int32) bool { return slices.Contains(parts, part) })
	loaders, err := p.restore(ctx, parts)
	if err == nil {
		for _, l := range loaders {
			if ierr := p.store.install(l); ierr != nil && err == nil {
				err = ierr
			}
		}
	}
	if err != nil {
		// Processing without the state could approve a duplicate: the
		// records of partitions not loaded are refused (unowned), and the
		// run loop restarts the session, or stops.
		p.report(fmt.Errorf("cannot restore payment state of partitions %v: %w", parts, err))
		return
	}
	// Calls a previous owner (or this instance, before the rebalance)
	// started and did not see finish: make them again, with the same
	// idempotency keys. The dispatcher does not make a call this instance
	// still has under way twice.
	for _, part := range parts {
		for _, st := range p.store.Attempting(part) {
			c := p.callOf(part, st)
			c.resend = true
			p.disp.submit(c)
		}
	}
	p.pauseMu.Lock()
	for tp := range p.paused {
		delete(p.paused, tp)
	}
	p.pauseMu.Unlock()
	var delays []string
	for _, d := range p.topics.Delays {
		delays = append(delays, d.Topic)
	}
	cl.ResumeFetchTopics(delays...)
	p.ready.Store(true)
	p.log.Info("partitions assigned", "partitions", parts, "generation", p.generation)
}

// revoked forgets the state of partitions this instance no longer owns. The
// session aborts the batch in hand, so none of its changes reach the store.
func (p *Processor) revoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	p.txnMu.Lock() // wait for an offsetless batch to end (see transact)
	defer p.txnMu.Unlock()
	parts := partitionNumbers(revoked)
	p.ready.Store(false)
	p.store.Drop(parts...)
	p.disp.drop(p.store.Owns)
	p.log.Info("partitions revoked", "partitions", parts)
}

func partitionNumbers(m map[string][]int32) []int32 {
	seen := map[int32]bool{}
	var out []int32
	for _, ps := range m {
		for _, part := range ps {
			if !seen[part] {
				seen[part] = true
				out = append(out, part)
			}
		}
	}
	return out
}

func (p *Processor) run(ctx context.Context) error {
	defer p.session().AllowRebalance()
	for {
		if ctx.Err() != nil {
			return p.drain()
		}
		if err := p.takeTrouble(); err != nil {
			return err
		}
		p.resumeDue()
		p.disp.expireQueued()
		wait := time.Second
		due, next := p.store.Scheduled(p.now().UnixMilli(), dueBatch)
		due = p.releasable(due)
		if len(due) > 0 {
			wait = 10 * time.Millisecond
		} else if next > 0 {
			if d := time.Until(time.UnixMilli(next)); d < wait {
				wait = max(d, time.Millisecond)
			}
		}
		// Intake: up to max_in_flight calls run, and as many payments again
		// are admitted ahead, their attempts committed and their calls
		// waiting in the dispatcher, so a slot that frees is refilled at
		// once rather than after the next batch commits. The calls that end
		// during one batch are what the queue must cover: throughput times
		// a batch's time, which is max_in_flight as long as a batch takes
		// no longer than a PSP call (refilling only after the commit left
		// an eighth of the slots idle with 100 ms calls: payroute bench).
		// A poll takes no more than the room left, so the payments held are
		// at most twice max_in_flight.
		var fetches kgo.Fetches
		if room := 2*p.cfg.MaxInFlight - p.disp.Calling(); room > 0 {
			fetches = p.poll(ctx, wait, min(room, p.cfg.MaxPollRecords))
		} else {
			// Saturated: take no new records until calls finish. The client
			// stops fetching once its buffer is full, so memory stays bounded.
			select {
			case <-p.disp.wake:
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, part int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				p.log.Warn("fetch error", "topic", topic, "partition", part, "err", err)
			}
		})
		done := p.takeDone()
		due, _ = p.store.Scheduled(p.now().UnixMilli(), dueBatch)
		due = p.releasable(due)
		if fetches.NumRecords() == 0 && len(due) == 0 && len(done) == 0 {
			continue
		}
		if err := p.transact(ctx, fetches, due, done); err != nil {
			return err
		}
	}
}

// takeDone returns the finished calls of the partitions this instance
// holds. The others (their partition moved on while the call ran) are
// settled at once: whoever owns them now makes the call again from the
// committed state, and a transaction here could only be refused.
func (p *Processor) takeDone() []completion {
	var kept, gone []completion
	for _, c := range p.disp.take() {
		if p.store.Owns(c.part) {
			kept = append(kept, c)
		} else {
			gone = append(gone, c)
		}
	}
	p.disp.settled(gone)
	return kept
}

// poll takes up to n records, waiting up to wait, or less when a PSP call
// finishes meanwhile: its outcome should not wait for new input.
func (p *Processor) poll(ctx context.Context, wait time.Duration, n int) kgo.Fetches {
	pollCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	go func() {
		select {
		case <-p.disp.wake:
			cancel()
		case <-pollCtx.Done():
		}
	}()
	return p.session().PollRecords(pollCtx, n)
}

// drain finishes on Stop: no new records, but the calls under way finish
// and their outcomes commit, for up to DrainTimeout. Calls still running
// after it stay in flight in the committed state, and the partitions' next
// owner makes them again.
func (p *Processor) drain() error {
	// Calls waiting for a slot were never sent: leave them to the
	// partitions' next owner rather than start them now, to be cut short
	// at the deadline and inquired about as in doubt.
	p.disp.dropQueued()
	deadline := time.Now().Add(p.cfg.DrainTimeout)
	for p.disp.Pending() > 0 && time.Now().Before(deadline) {
		select {
		case <-p.disp.wake:
		case <-time.After(50 * time.Millisecond):
		}
		if done := p.takeDone(); len(done) > 0 {
			if err := p.transact(context.Background(), kgo.Fetches{}, nil, done); err != nil {
				return err
			}
		}
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p.disp.stop(stopCtx)
	return nil
}

// transact processes one batch in one transaction: new records, retries
// that became due, and finished PSP calls. The calls the batch starts are
// launched only once it committed, and finished calls it acted on are
// settled then; if it aborts, they are put back.
//
// A batch without input records (finished calls and due retries only)
// commits no offsets, so two things the session does for other batches it
// cannot do. It cannot fence a zombie: the transactional offset commit,
// checked against the group generation, and the heartbeat the session
// forces after it are what tell an instance that the group moved its
// partitions on while it was not looking (a missed session, a coordinator
// failure), and without them a zombie would commit state and results for
// payments another instance now owns, and make their calls again: the
// chaos harness caught double approvals that way. So such a batch makes
// that heartbeat itself (fence) and aborts unless the group is still at
// the generation its partitions were assigned in. And the session would
// hold itself for 500 ms after committing (its guard for brokers too old
// to fence offset fetches, which it cannot rule out without an offset
// commit to ask), so the batch ends the transaction on the client
// directly, under txnMu, which the assignment and revocation callbacks also
// take: a partition is never handed over, or reloaded, while a batch
// writing its state is open.
func (p *Processor) transact(ctx context.Context, fetches kgo.Fetches, due map[int32][]string, done []completion) (err error) {
	work := context.WithoutCancel(ctx)
	sess := p.session()
	offsetless := fetches.NumRecords() == 0
	if offsetless {
		p.txnMu.Lock()
		defer p.txnMu.Unlock()
	}
	// The finished calls in hand are settled once their outcomes commit, or
	// put back when the batch aborts. A batch that fails with an error
	// (the session restarts) must put them back too: dropped, they would
	// leave their payments marked as being called in the dispatcher, which
	// then ignores the calls the reloaded state asks for, and the payments
	// would wait for ever.
	handled := false
	defer func() {
		if err != nil && !handled {
			p.disp.requeue(done)
		}
	}()
	end := func(try kgo.TransactionEndTry) (bool, error) {
		if !offsetless {
			return sess.End(work, try)
		}
		if err := sess.Client().EndTransaction(work, try); err != nil {
			return false, err
		}
		return bool(try), nil
	}
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if part, ok := p.unowned(fetches); ok {
		// Records of a partition whose state is not loaded (its restore
		// failed, or they were fetched across a rebalance): processing them
		// would take known payments for new ones. Abort, which rewinds to
		// the committed offsets.
		p.log.Warn("aborting batch: records of a partition whose state is not loaded", "partition", part)
		if _, err := end(kgo.TryAbort); err != nil {
			return fmt.Errorf("end transaction: %w", err)
		}
		p.stats.aborted.Add(1)
		p.disp.requeue(done)
		handled = true
		return nil
	}
	batch, err := p.processBatch(fetches, due, done)
	if err != nil {
		if _, aerr := end(kgo.TryAbort); aerr != nil {
			p.log.Error("abort transaction", "err", aerr)
		}
		return err
	}
	var (
		mu         sync.Mutex
		produceErr error
	)
	for _, rec := range batch.outputs {
		sess.Produce(work, rec, func(r *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if produceErr == nil {
					produceErr = fmt.Errorf("produce to %s: %w", r.Topic, err)
				}
				mu.Unlock()
			}
		})
	}
	if err := sess.Client().Flush(work); err != nil {
		return fmt.Errorf("flush outputs: %w", err)
	}
	try := kgo.TryCommit
	if produceErr != nil {
		p.log.Warn("aborting batch: an output was not written", "err", produceErr)
		try = kgo.TryAbort
	}
	if try == kgo.TryCommit && offsetless {
		if err := p.fence(work, sess.Client()); err != nil {
			p.log.Warn("aborting batch: the group moved on from the generation of this instance's partitions", "err", err)
			try = kgo.TryAbort
		}
	}
	committed, err := end(try)
	if err != nil {
		return fmt.Errorf("end transaction: %w", err)
	}
	if !committed {
		// A rebalance or a failed write: nothing of the batch is visible and
		// its offsets are not committed, so its records are consumed again
		// (here or by the partitions' next owner) and processed from the
		// committed state; its finished calls wait for the next batch.
		p.stats.aborted.Add(1)
		p.disp.requeue(done)
		handled = true
		p.log.Info("batch aborted; it will be processed again", "records", fetches.NumRecords(), "calls", len(done))
		return nil
	}
	var applyErr error
	for part, view := range batch.views {
		if err := p.store.Apply(part, view.changes, view.encoded); err != nil && applyErr == nil {
			applyErr = err
		}
	}
	if applyErr != nil {
		// Committed, but this instance's copy of it is incomplete: restore
		// from the changelog rather than go on with a state that forgot
		// payments.
		p.disp.settled(done)
		handled = true
		return fmt.Errorf("apply committed state: %w", applyErr)
	}
	p.disp.settled(done)
	for part, ids := range batch.launch {
		for _, id := range ids {
			if st, ok := p.store.attempting(part, id); ok {
				p.disp.submit(p.callOf(part, st))
			}
		}
	}
	// A finished call that complete ignored (its idempotency key is not the
	// payment's any more: another owner moved it on while this instance
	// had the call under way, across a rebalance) kept the payment's
	// current call from being submitted on reload, the dispatcher making
	// one call per payment at a time. Submit it now that the stale one is
	// settled; as a re-send, since the other owner may have sent it.
	for _, c := range done {
		if st, ok := p.store.attempting(c.part, c.payment); ok && st.InFlight.IdempotencyKey != c.req.IdempotencyKey {
			r := p.callOf(c.part, st)
			r.resend = true
			p.disp.submit(r)
		}
	}
	p.pauseMu.Lock()
	for tp, until := range batch.pause {
		p.paused[tp] = until
	}
	p.pauseMu.Unlock()
	if len(batch.pause) > 0 {
		pause := map[string][]int32{}
		for tp := range batch.pause {
			pause[tp.Topic] = append(pause[tp.Topic], tp.Partition)
		}
		p.session().Client().PauseFetchPartitions(pause)
	}
	p.stats.commit(batch)
	return nil
}

// fence proves, for a batch without input offsets, what the session's
// offset commit and forced heartbeat prove for the others: the group is
// still at the generation this instance's partitions were assigned in, not
// rebalancing, and still counts this member, whose session the heartbeat
// renews. From then on no other instance can be given these partitions
// until this one rejoins, which waits for the batch to end (assigned and
// revoked take txnMu), or until the rebalance timeout ejects it: ample to
// end the transaction, one request away. A heartbeat only renews the
// member's session; it does not move the group's offsets, which the
// transactions own.
func (p *Processor) fence(ctx context.Context, cl *kgo.Client) error {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group = p.cfg.Group
	req.MemberID, req.Generation = p.member, p.generation
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("heartbeat of member %s at generation %d: %w", p.member, p.generation, err)
	}
	return nil
}

// unowned returns a partition of the fetched records whose state is not
// loaded, if any.
func (p *Processor) unowned(fetches kgo.Fetches) (int32, bool) {
	var (
		part  int32
		found bool
	)
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if !found && len(fp.Records) > 0 && !p.store.Owns(fp.Partition) {
			part, found = fp.Partition, true
		}
	})
	return part, found
}

// resumeDue resumes delay partitions whose parked head record is due.
func (p *Processor) resumeDue() {
	now := p.now()
	resume := map[string][]int32{}
	p.pauseMu.Lock()
	for tp, until := range p.paused {
		if !now.Before(until) {
			resume[tp.Topic] = append(resume[tp.Topic], tp.Partition)
			delete(p.paused, tp)
		}
	}
	p.pauseMu.Unlock()
	if len(resume) > 0 {
		p.session().Client().ResumeFetchPartitions(resume)
	}
}

// batchResult is what one batch produced.
type batchResult struct {
	outputs []*kgo.Record
	views   map[int32]*partView
	pause   map[topicPartition]time.Time
	launch  map[int32][]string
	counts  counts
}

// processBatch handles each partition's work concurrently, and the work of
// one partition number (records of all topics, due retries, finished calls)
// in order: they are the same payments. Nothing in it waits on a PSP. A
// panic while handling a record (an output that cannot be encoded: a bug)
// fails the whole batch rather than commit past a payment with no result.
func (p *Processor) processBatch(fetches kgo.Fetches, due map[int32][]string, done []completion) (*batchResult, error) {
	type partWork struct {
		recs []*kgo.Record
		due  []string
		done []completion
		w    *work
		err  error
	}
	parts := map[int32]*partWork{}
	get := func(part int32) *partWork {
		pw, ok := parts[part]
		if !ok {
			pw = &partWork{}
			parts[part] = pw
		}
		return pw
	}
	fetches.EachRecord(func(r *kgo.Record) { pw := get(r.Partition); pw.recs = append(pw.recs, r) })
	for part, ids := range due {
		get(part).due = ids
	}
	for _, c := range done {
		if p.store.Owns(c.part) {
			pw := get(c.part)
			pw.done = append(pw.done, c)
		}
	}
	var wg sync.WaitGroup
	for part, pw := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					pw.err = fmt.Errorf("handling partition %d: %v", part, r)
				}
			}()
			w := &work{p: p, view: &partView{store: p.store, part: part}, now: p.now()}
			for _, c := range pw.done {
				p.complete(w, c)
			}
			for _, rec := range pw.recs {
				p.handle(w, rec)
			}
			for _, id := range pw.due {
				p.runScheduled(w, id)
			}
			p.expire(w)
			w.flushState()
			pw.w = w
		}()
	}
	wg.Wait()
	batch := &batchResult{views: map[int32]*partView{}, pause: map[topicPartition]time.Time{}, launch: map[int32][]string{}}
	for part, pw := range parts {
		if pw.err != nil {
			return nil, pw.err
		}
		batch.outputs = append(batch.outputs, pw.w.outs...)
		batch.views[part] = pw.w.view
		batch.launch[part] = pw.w.launch
		for tp, until := range pw.w.pause {
			batch.pause[tp] = until
		}
		batch.counts.add(pw.w.counts)
	}
	return batch, nil
}

// expireBatch bounds how many expired payments one batch forgets per
// partition, so a backlog of expiries never makes one transaction large.
const expireBatch = 1000

// dueBatch bounds, likewise, the parked retries and abandoned customer
// actions one batch takes up per partition (Store.Scheduled).
const dueBatch = 1000

// expireEvery is how often a partition is scanned for expired payments.
const expireEvery = time.Minute

// expire forgets, with changelog tombstones, final payments older than the
// retention. From then on a request with the same payment_id is a new
// payment: the retention is the window in which duplicates are recognized.
func (p *Processor) expire(w *work) {
	now := w.now
	p.expireMu.Lock()
	last := p.lastExpire[w.view.part]
	due := now.Sub(last) >= expireEvery
	if due {
		p.lastExpire[w.view.part] = now
	}
	p.expireMu.Unlock()
	if !due {
		return
	}
	for _, id := range p.store.Expired(w.view.part, now.Add(-p.cfg.StateRetention).UnixMilli(),
		now.Add(-p.cfg.ApprovalRetention).UnixMilli(), expireBatch) {
		if _, changed := w.view.changes[id]; !changed {
			w.view.forget(id)
		}
	}
}

// statePartitioner writes changelog records to the partition the processor
// chose (the partition of the input that changed the state, which for a
// follow-up is that of the payment it follows), and every other record to
// the partition of its key, as Kafka's default partitioner does, so that
// payroute's outputs are co-partitioned with what upstream produces.
func statePartitioner(stateTopic string) kgo.Partitioner {
	byKey := kgo.StickyKeyPartitioner(nil)
	return kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		if topic == stateTopic {
			return func(r *kgo.Record, _ int) int { return int(r.Partition) }
		}
		tp := byKey.ForTopic(topic)
		return func(r *kgo.Record, n int) int {
			if r.Key == nil {
				return 0 // only dead letters of unkeyed input have no key
			}
			return tp.Partition(r, n)
		}
	})
}
