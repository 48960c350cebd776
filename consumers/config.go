package consumers

import (
	"errors"
	"time"

	"github.com/payroute/payroute/config"
)

// Configuration tunes the payment processor.
type Configuration struct {
	// Group is the Kafka consumer group of the processors. Every instance in
	// one group shares the payment partitions; scale out by adding instances.
	Group string `yaml:"group"`
	// InstanceID names this instance; its Kafka transactional id is
	// <group>-<instance_id>. It must be unique among running instances and is
	// best stable across restarts (a pod name, a host name): a restarted
	// instance with the same id fences its previous incarnation's transaction
	// at once instead of waiting for it to time out. Empty: the host name
	// plus a random suffix.
	InstanceID string `yaml:"instance_id"`
	// StateDir is where the processor keeps the states of final payments,
	// out of memory (see Store): a directory of its own is made inside it
	// at start and removed at stop. It is a cache built from the changelog
	// at every partition assignment, so it needs no backup and no
	// persistence across restarts, only room for about state_retention of
	// traffic at a few hundred bytes a payment (an emptyDir in Kubernetes).
	// Empty: the system's temporary directory.
	StateDir string `yaml:"state_dir"`
	// TransactionTimeout bounds one batch's transaction: a crashed instance's
	// open transaction is aborted by the broker after this long, and a new
	// owner of its partitions waits for that before restoring their state.
	// It must exceed the longest batch; PSP calls and in-doubt inquiries run
	// between batches, never inside one, so batches take milliseconds.
	TransactionTimeout time.Duration `yaml:"transaction_timeout"`
	// StateRetention is how long a final payment's state is kept to answer
	// duplicates; after it, a duplicate PaymentRequested is a new payment.
	StateRetention time.Duration `yaml:"state_retention"`
	// ApprovalRetention is how long an approved AUTHORIZE or CHARGE is kept
	// so that CAPTURE, VOID and REFUND can find the PSP that approved it;
	// a follow-up after it is refused as having no authorization. It is
	// longer than StateRetention because refunds come months later.
	ApprovalRetention time.Duration `yaml:"approval_retention"`
	// ActionTimeout is how long a payment waits in ACTION_REQUIRED for the
	// customer's RETRY or CANCEL (payments.actions). After it the payment
	// ends CANCELLED, its reason saying so, so that the merchant's flow gets
	// a final answer and no payment waits for ever on an abandoned page. A
	// RETRY that comes later is refused to the DLQ as for any final
	// payment. 0 waits for ever. A change applies to the payments already
	// waiting, counted from when they started waiting.
	ActionTimeout time.Duration `yaml:"action_timeout"`
	// RecurringHold says when a recurring payment (PaymentRequested.recurring:
	// a renewal, not the signup) is held, neither attempted nor failed, until
	// a PSP recovers; held payments are released oldest first.
	//
	// "all_down" (the default) holds it while every one of its candidates is
	// down, and otherwise fails it over like any payment: renewals keep
	// flowing through the backup. "primary" is Recurly's gateway failover:
	// renewals are never sent to the backup. One is held while its primary
	// (the first candidate as routed) is not healthy, and released to the
	// primary when it is; one that fails at its primary is held if that
	// took the primary down, and otherwise ends FAILED, its failure its own
	// (the merchant's dunning retries it). One-time payments and signups
	// fail over in both modes. A recurring payment with a provider override
	// (Recurly's gateway_code) is held while that PSP is down, in both. A
	// held payment in the probe share of a probing PSP goes as one of its
	// probes, so that a PSP only held payments use still recovers.
	RecurringHold string `yaml:"recurring_hold"`
	// MaxInFlight bounds the PSP calls under way at once on this instance,
	// all PSPs together. The processor admits as many payments again ahead
	// of them, their calls waiting for a slot, so that a call that ends is
	// followed at once by the next; beyond that it takes no new records
	// until calls finish: memory stays bounded whatever the backlog. Little's law sizes it: in flight = throughput x PSP latency
	// (1,000 in flight at 100 ms carry 10,000 payments/s).
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxInFlightPerPSP bounds the calls under way at one PSP, so a slow or
	// hung PSP takes only its own slots; further calls to it wait in order.
	MaxInFlightPerPSP int `yaml:"max_in_flight_per_psp"`
	// QueueTimeout is how long a payment's first attempt may wait on this
	// instance for a slot at its PSP (max_in_flight_per_psp, or
	// max_in_flight for all PSPs). Past it the attempt ends unsent, as
	// rate_limited with psp_code queue_timeout, and the payment fails over
	// to its next PSP, which is safe because the first never saw it; new
	// attempts at that PSP do the same while its oldest waiting one is past
	// the timeout. A hung PSP holds its slots until its calls time out and
	// their inquiries give up (attempt_timeout, then in_doubt_window): this
	// keeps the payments routed to it meanwhile from waiting that long, and
	// from filling the instance's intake so that other PSPs' payments stall.
	// Follow-ups and calls made again after a restart wait regardless: they
	// may not fail over. 0 waits as long as it takes.
	QueueTimeout time.Duration `yaml:"queue_timeout"`
	// DrainTimeout is how long Stop waits for PSP calls under way to finish
	// and commit their outcomes; calls still running after it are made again
	// by the partitions' next owner.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// MaxPollRecords bounds the records taken in one poll, and so the work in
	// flight between two offset commits.
	MaxPollRecords int `yaml:"max_poll_records"`
	// FetchMaxBytes bounds what the client fetches ahead of processing, in
	// one fetch from a broker (at least one record batch is always
	// returned, however large). It is most of the processor's memory under
	// a backlog; more than a few megabytes buys nothing on a local network.
	FetchMaxBytes int32 `yaml:"fetch_max_bytes"`
	// AttemptTimeout bounds one PSP call, on top of the connector's own timeout.
	AttemptTimeout time.Duration `yaml:"attempt_timeout"`
	// InDoubtWindow is how long an attempt whose outcome is unknown (timeout
	// after sending) is inquired about at the same PSP before payroute gives up
	// and publishes IN_DOUBT. It never fails over blind inside this window.
	InDoubtWindow time.Duration `yaml:"in_doubt_window"`
	// InDoubtInitialInterval is the first wait between status inquiries; it
	// grows exponentially up to the window.
	InDoubtInitialInterval time.Duration `yaml:"in_doubt_initial_interval"`
}

// The values of Configuration.RecurringHold.
const (
	RecurringHoldAllDown = "all_down"
	RecurringHoldPrimary = "primary"
)

// DefaultConfiguration suits the embedded setup and most deployments.
func DefaultConfiguration() Configuration {
	return Configuration{
		Group:                  "payroute-processor",
		TransactionTimeout:     time.Minute,
		StateRetention:         7 * 24 * time.Hour,
		ApprovalRetention:      180 * 24 * time.Hour,
		ActionTimeout:          24 * time.Hour,
		RecurringHold:          RecurringHoldAllDown,
		MaxPollRecords:         500,
		FetchMaxBytes:          4 << 20,
		MaxInFlight:            1000,
		DrainTimeout:           10 * time.Second,
		MaxInFlightPerPSP:      500,
		QueueTimeout:           5 * time.Second,
		AttemptTimeout:         30 * time.Second,
		InDoubtWindow:          20 * time.Second,
		InDoubtInitialInterval: 200 * time.Millisecond,
	}
}

// Validate checks the configuration.
func (c Configuration) Validate() error {
	var errs []error
	if c.Group == "" {
		errs = append(errs, config.Errorf("group", "must not be empty"))
	}
	if c.MaxInFlight <= 0 {
		errs = append(errs, config.Errorf("max_in_flight", "must be > 0"))
	}
	if c.RecurringHold != RecurringHoldAllDown && c.RecurringHold != RecurringHoldPrimary {
		errs = append(errs, config.Errorf("recurring_hold", "must be %q or %q, got %q", RecurringHoldAllDown, RecurringHoldPrimary, c.RecurringHold))
	}
	if c.MaxInFlightPerPSP <= 0 || c.MaxInFlightPerPSP > c.MaxInFlight {
		errs = append(errs, config.Errorf("max_in_flight_per_psp", "must be within [1, max_in_flight]"))
	}
	if c.FetchMaxBytes < 1<<20 {
		errs = append(errs, config.Errorf("fetch_max_bytes", "must be >= 1048576"))
	}
	if c.MaxPollRecords <= 0 {
		errs = append(errs, config.Errorf("max_poll_records", "must be > 0"))
	}
	if c.AttemptTimeout <= 0 {
		errs = append(errs, config.Errorf("attempt_timeout", "must be > 0"))
	}
	if c.TransactionTimeout < time.Second {
		errs = append(errs, config.Errorf("transaction_timeout", "must be >= 1s"))
	}
	if c.StateRetention < time.Hour {
		errs = append(errs, config.Errorf("state_retention", "must be >= 1h: it is the window in which duplicates are recognized"))
	}
	if c.ApprovalRetention < c.StateRetention {
		errs = append(errs, config.Errorf("approval_retention", "must be >= state_retention"))
	}
	if c.QueueTimeout < 0 {
		errs = append(errs, config.Errorf("queue_timeout", "must be >= 0 (0: wait as long as it takes)"))
	}
	if c.ActionTimeout < 0 {
		errs = append(errs, config.Errorf("action_timeout", "must be >= 0 (0: wait for ever)"))
	}
	if c.InDoubtWindow < 0 {
		errs = append(errs, config.Errorf("in_doubt_window", "must be >= 0"))
	}
	if c.InDoubtInitialInterval <= 0 {
		errs = append(errs, config.Errorf("in_doubt_initial_interval", "must be > 0"))
	}
	return errors.Join(errs...)
}
