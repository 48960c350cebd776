// Package health tells the payment processor which PSP accounts are down,
// so that payments go straight to a backup instead of failing first on a
// PSP that is known to be out (Recurly's gateway failover, PRODUCT.md "PSP
// health").
//
// # Model
//
// For every PSP account and scope (the whole account "*", and, as
// configured, each currency and card network it is used with) a Tracker
// keeps a rolling window of calls. Only PSP-caused failures count against a
// PSP: psp_error, rate_limited and in_doubt. A decline is the issuer's
// answer delivered by a working PSP, a customer error is the customer's, and
// an invalid request is ours: they are calls, never failures, so a PSP that
// declines every payment is never marked down.
//
// A scope moves through three states:
//
//	HEALTHY ──(failure rate or slow-call rate over threshold with at least
//	│          min_calls calls in the window, or consecutive_failures in a row)──▶ DOWN
//	DOWN ──(cool_off passed)──▶ PROBING
//	PROBING ──(probe_successes answered calls)──▶ HEALTHY
//	PROBING ──(probe_failures failed or slow calls)──▶ DOWN
//
// While a PSP is DOWN, Order moves it behind the healthy candidates; while
// it is PROBING, a deterministic probe_share of payments (by a hash of the
// payment id, so a redelivered payment decides the same way) keeps it at its
// rank and tests it, and it reverts to being the primary by itself once
// enough probes succeed. A maintenance window from the configuration is a
// DOWN scope with reason "maintenance", probed once the window ends.
//
// A narrower scope (currency=EUR) is judged only while its whole account is
// healthy: a full outage is one transition on "*", not one per currency and
// network, while an outage of one currency still takes only that currency
// down. The cost of judging the account first: when the failing currency
// carries most of the account's traffic, the account's own failure rate
// crosses the threshold and the whole account goes down, its other
// currencies moving to the backup too until the probes find it recovered.
//
// # Sharing state across instances
//
// Each instance sees only the attempts it makes. Instances share
// transitions, not observations: the instance whose own window first
// crosses a threshold (or whose probes decide) publishes a PspHealthChanged
// on the compacted psp.health topic, keyed "<psp>|<scope>", and every
// instance, the publisher included, applies every record of that topic in
// log order. Records of one key live in one partition, so all instances
// apply them in the same order and end in the state of the last one: two
// instances deciding at once (one marking a PSP down while another marks it
// healthy) converge on whichever record the log holds last, within the
// time a record takes to be produced and fetched (milliseconds). A new
// instance reads the topic to its end before Start returns, so it starts
// from the current state.
//
// Timed transitions (DOWN to PROBING after cool_off, the start and end of a
// maintenance window) are computed by every instance from the same record
// and configuration, at the same instant (the record's changed_at_ms plus
// cool_off), so all instances probe together without a message. They are
// still published, so that the topic and `payroute status` tell the truth:
// by the instance that decided the DOWN, or, if it is gone, by whichever
// instance first finds that nobody did after a short grace.
//
// The trade-offs of deciding on local observations rather than aggregating
// every instance's observations: one record per transition instead of a
// stream of counts, and no schema beyond PspHealthChanged; but each
// instance needs min_calls of its own before its window can decide, so with
// many instances at low volume detection is slower (consecutive_failures
// still catches a hard outage), and the most pessimistic instance decides
// for all (an instance unlucky enough to see a burst of failures takes the
// PSP down everywhere). Flapping between instances cannot happen: leaving
// DOWN is timed and leaving PROBING needs probes, so one instance's healthy
// window never overrules another's DOWN.
//
// # Held payments
//
// Recurring payments are not failed over blind (Recurly pauses them): when
// AllDown reports that none of a recurring payment's candidates is healthy,
// the processor parks it, and releases its parked payments in the order
// they were held once Available says so; Recovered wakes it when any scope
// turns healthy. Probing needs live traffic: held payments are never
// probes, so a scope whose only traffic is recurring stays PROBING until
// other payments test it.
//
// # Failure cases
//
// A Tracker without Kafka (no WithKafka) works alone, for tests and tools.
// With Kafka, Start fails if the topic cannot be read to its end, because
// an instance that routes without the shared state would send payments to
// PSPs every other instance knows are down. A publish that fails is logged
// and counted (Stats.PublishErrors); the local state stands and the other
// instances decide from their own windows. Undecodable records are counted
// and skipped, never blocking the topic.
package health

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// Tracker holds the health of every PSP scope this instance has seen or
// read about. It is safe for concurrent use; every method is cheap enough
// to call once per attempt.
type Tracker struct {
	cfg     Configuration
	id      string
	now     func() time.Time
	log     *slog.Logger
	cluster *kafka.Cluster
	serde   *schemas.Serde
	maint   maintenance
	// stagger spreads the instances that confirm an unpublished timed
	// transition, so that usually one of them publishes it.
	stagger time.Duration

	mu        sync.Mutex
	machines  map[string]*machine   // by key(psp, scope)
	byPSP     map[string][]*machine // the same machines, by PSP
	subs      map[int]chan schemas.PspHealthChanged
	nextSub   int
	recovered chan struct{}
	stats     Stats
	published atomic.Int64 // acknowledged records, counted from produce callbacks
	client    *kgo.Client  // set while started with Kafka

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Option configures a Tracker.
type Option func(*Tracker)

// WithKafka shares state through the cluster's psp.health topic, encoded
// with serde. Without it the Tracker works alone.
func WithKafka(cluster *kafka.Cluster, serde *schemas.Serde) Option {
	return func(t *Tracker) { t.cluster, t.serde = cluster, serde }
}

// WithClock replaces time.Now (tests drive a simulated clock with it).
func WithClock(now func() time.Time) Option { return func(t *Tracker) { t.now = now } }

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(t *Tracker) { t.log = l } }

// confirmGrace is how long an instance that computed a timed transition
// waits for another instance's record of it before publishing it itself.
const confirmGrace = time.Second

// tickInterval is how often a started Tracker applies timed transitions
// when no payment asks: the start of a maintenance window, or the cool-off
// that ends while no traffic flows (held payments wait on it).
const tickInterval = 100 * time.Millisecond

// New validates cfg and builds a Tracker, every PSP healthy except those in
// a maintenance window. Call Start to share state through Kafka and apply
// timed transitions in the background; without Start, timed transitions are
// applied whenever a method looks at the scope.
func New(cfg Configuration, opts ...Option) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	t := &Tracker{
		cfg: cfg, now: time.Now, log: slog.Default(),
		machines: map[string]*machine{}, byPSP: map[string][]*machine{},
		subs: map[int]chan schemas.PspHealthChanged{}, recovered: make(chan struct{}),
	}
	for _, o := range opts {
		o(t)
	}
	if t.cluster != nil && t.serde == nil {
		return nil, errors.New("health: WithKafka needs a serde")
	}
	t.id = cfg.InstanceID
	if t.id == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		t.id = host + "-" + hex.EncodeToString(b[:])
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(t.id))
	t.stagger = time.Duration(h.Sum32()%1000) * time.Millisecond
	t.log = t.log.With("component", "health", "instance", t.id)
	t.maint = newMaintenance(cfg.Maintenance)
	t.mu.Lock()
	for _, k := range t.maint.keys() {
		t.machineLocked(k.psp, k.scope)
	}
	t.advanceAllLocked(t.now())
	t.mu.Unlock()
	return t, nil
}

// InstanceID is the id this instance publishes transitions under.
func (t *Tracker) InstanceID() string { return t.id }

// Start reads psp.health to its end (so the Tracker begins from the state
// every other instance holds), then follows it and applies timed
// transitions in the background until Stop. Without Kafka it only starts
// the background ticker. ctx bounds the initial read.
func (t *Tracker) Start(ctx context.Context) error {
	if t.cluster != nil {
		if err := t.startKafka(ctx); err != nil {
			return err
		}
	}
	tickCtx, cancel := context.WithCancel(context.Background())
	t.mu.Lock()
	t.cancel = cancel
	t.mu.Unlock()
	t.done.Add(1)
	go func() {
		defer t.done.Done()
		tick := time.NewTicker(tickInterval)
		defer tick.Stop()
		for {
			select {
			case <-tickCtx.Done():
				return
			case <-tick.C:
				t.mu.Lock()
				t.advanceAllLocked(t.now())
				t.mu.Unlock()
			}
		}
	}()
	return nil
}

// Stop stops following the topic and the ticker, and waits (bounded by
// ctx) for transitions being published to be acknowledged.
func (t *Tracker) Stop(ctx context.Context) error {
	t.mu.Lock()
	cancel, client := t.cancel, t.client
	t.cancel, t.client = nil, nil // nothing new is produced from here on
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	var err error
	if client != nil {
		if ferr := client.Flush(ctx); ferr != nil {
			err = fmt.Errorf("health: flush psp.health: %w", ferr)
		}
		client.Close()
	}
	t.done.Wait()
	return err
}
