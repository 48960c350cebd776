package chaos

import (
	"errors"
	"fmt"
	"time"
)

// Kind is a kind of fault the harness injects.
type Kind string

// The faults. Every one of them is healed by the harness (a processor
// restarted, a fault expired or removed, a relay restored) before the end
// of the run, which then checks the guarantees.
const (
	// KillProcessor closes a processor's Kafka client at once, mid-batch,
	// without committing (a crash), and starts a replacement with the same
	// instance id, whose transactional id fences the dead one's open
	// transaction at once.
	KillProcessor Kind = "kill_processor"
	// KillProcessorNewID is a crash whose replacement has a new instance
	// id: the dead instance's open transaction stays open until the broker
	// times it out, holding back read_committed consumers meanwhile.
	KillProcessorNewID Kind = "kill_processor_new_id"
	// AddInstance starts one more processor in the group (a rebalance).
	AddInstance Kind = "add_instance"
	// RemoveInstance stops a processor gracefully (a rebalance).
	RemoveInstance Kind = "remove_instance"
	// BrokerProduceError fails produce requests with a retriable error
	// (NOT_LEADER_OR_FOLLOWER) before the broker writes them.
	BrokerProduceError Kind = "broker_produce_error"
	// BrokerProduceLostAnswer writes produce requests and answers
	// REQUEST_TIMED_OUT: the data is in, the producer thinks it is not.
	BrokerProduceLostAnswer Kind = "broker_produce_lost_answer"
	// BrokerFetchError fails fetches (NOT_LEADER_OR_FOLLOWER,
	// UNKNOWN_SERVER_ERROR).
	BrokerFetchError Kind = "broker_fetch_error"
	// BrokerOffsetCommitError fails transactional and plain offset commits
	// (COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR, or applied and
	// answered REQUEST_TIMED_OUT).
	BrokerOffsetCommitError Kind = "broker_offset_commit_error"
	// BrokerTxnError fails the transaction protocol: AddPartitionsToTxn,
	// AddOffsetsToTxn, EndTxn and InitProducerID (CONCURRENT_TRANSACTIONS,
	// COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR).
	BrokerTxnError Kind = "broker_txn_error"
	// BrokerCoordinatorError fails FindCoordinator, Heartbeat, JoinGroup and
	// SyncGroup (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
	// REBALANCE_IN_PROGRESS): group members rejoin, partitions move.
	BrokerCoordinatorError Kind = "broker_coordinator_error"
	// BrokerConnectionDrop closes the client's connection on one request of
	// a chosen kind (with kfake's ControlKey), before the broker acts on it.
	BrokerConnectionDrop Kind = "broker_connection_drop"
	// ClickHouseDown cuts the relay between the sink and ClickHouse, then
	// restores it: an outage as the sink sees it.
	ClickHouseDown Kind = "clickhouse_down"
	// SinkRestart stops the analytics sink and starts a new one.
	SinkRestart Kind = "sink_restart"
	// PSPTimeout makes a PSP process every payment request for a while and
	// withhold the answer until the client gives up: in-doubt attempts
	// that status inquiries must resolve.
	PSPTimeout Kind = "psp_timeout"
	// PSPDown takes a PSP down (every request, inquiries included, 503)
	// for a while.
	PSPDown Kind = "psp_down"
)

// Kinds lists every fault kind, in report order.
var Kinds = []Kind{
	KillProcessor, KillProcessorNewID, AddInstance, RemoveInstance,
	BrokerProduceError, BrokerProduceLostAnswer, BrokerFetchError, BrokerOffsetCommitError,
	BrokerTxnError, BrokerCoordinatorError, BrokerConnectionDrop,
	ClickHouseDown, SinkRestart, PSPTimeout, PSPDown,
}

// Profile sizes and shapes a chaos run.
type Profile struct {
	// Name is printed in the report.
	Name string
	// Seed makes the payments, their order and the fault schedule (which
	// fault, where, when) reproducible. The interleaving with goroutines and
	// the network is not: a seed names a run's plan, not its every event.
	Seed uint64
	// Payments is the number of distinct payments published.
	Payments int
	// PublishRate is how many payments per second upstream publishes.
	PublishRate int
	// DuplicateShare is the share of payments published a second time
	// (a duplicate PaymentRequested), later in the run.
	DuplicateShare float64
	// BadInputShare is the share of extra records on payments.requested
	// that are bad input (garbage, truncated Avro, invalid fields).
	BadInputShare float64
	// Partitions of every payment topic.
	Partitions int32
	// Instances is the number of processors at the start; the group grows
	// up to MaxInstances and never falls below one.
	Instances, MaxInstances int
	// FaultEvery is the mean time between two faults (exponentially
	// distributed, so faults also come in bursts).
	FaultEvery time.Duration
	// Weights is how often each kind of fault is drawn; a kind without
	// weight is never injected.
	Weights map[Kind]int
	// ClickHouse is the native address of a ClickHouse server (the tests'
	// TEST_CLICKHOUSE_ADDR). Empty: no sink, no ClickHouse checks and no
	// ClickHouse faults.
	ClickHouse string
	// Secure runs every Kafka client over TLS with SASL SCRAM-SHA-512
	// against a broker that requires both, with a throw-away CA.
	Secure bool
	// Settle bounds how long the run may take, after the last payment was
	// published and every fault healed, for every payment to get its final
	// result and for ClickHouse to catch up.
	Settle time.Duration
}

// DefaultWeights draws every kind of fault, crashes and broker errors most.
func DefaultWeights() map[Kind]int {
	return map[Kind]int{
		KillProcessor: 6, KillProcessorNewID: 2, AddInstance: 3, RemoveInstance: 3,
		BrokerProduceError: 4, BrokerProduceLostAnswer: 3, BrokerFetchError: 4, BrokerOffsetCommitError: 4,
		BrokerTxnError: 4, BrokerCoordinatorError: 4, BrokerConnectionDrop: 4,
		ClickHouseDown: 3, SinkRestart: 2, PSPTimeout: 4, PSPDown: 3,
	}
}

// ShortProfile is the CI profile: a few thousand payments and a few dozen
// faults of every kind, sized to finish in a minute or two on two cores
// with the race detector on.
func ShortProfile() Profile {
	return Profile{
		Name:           "short",
		Seed:           1,
		Payments:       2000,
		PublishRate:    60,
		DuplicateShare: 0.03,
		BadInputShare:  0.01,
		Partitions:     4,
		Instances:      2,
		MaxInstances:   3,
		FaultEvery:     1500 * time.Millisecond,
		Weights:        DefaultWeights(),
		Settle:         3 * time.Minute,
	}
}

// LongProfile is the profile run by hand: at least 100k payments and
// hundreds of faults.
//
//	go test ./chaos -run 'TestChaos$' -chaos.long -timeout 4h -v
func LongProfile() Profile {
	return Profile{
		Name:           "long",
		Seed:           20261121,
		Payments:       100_000,
		PublishRate:    250,
		DuplicateShare: 0.03,
		BadInputShare:  0.005,
		Partitions:     6,
		Instances:      3,
		MaxInstances:   5,
		FaultEvery:     time.Second,
		Weights:        DefaultWeights(),
		Settle:         10 * time.Minute,
	}
}

// Validate checks a profile.
func (p Profile) Validate() error {
	var errs []error
	if p.Payments <= 0 {
		errs = append(errs, errors.New("payments: must be > 0"))
	}
	if p.PublishRate <= 0 {
		errs = append(errs, errors.New("publish_rate: must be > 0"))
	}
	if p.Partitions <= 0 {
		errs = append(errs, errors.New("partitions: must be > 0"))
	}
	if p.Instances < 1 || p.MaxInstances < p.Instances {
		errs = append(errs, fmt.Errorf("instances: want 1 <= instances (%d) <= max_instances (%d)", p.Instances, p.MaxInstances))
	}
	if p.FaultEvery <= 0 {
		errs = append(errs, errors.New("fault_every: must be > 0"))
	}
	for _, s := range []float64{p.DuplicateShare, p.BadInputShare} {
		if s < 0 || s > 0.5 {
			errs = append(errs, errors.New("duplicate_share and bad_input_share: must be within [0, 0.5]"))
			break
		}
	}
	if p.Settle <= 0 {
		errs = append(errs, errors.New("settle: must be > 0"))
	}
	known := map[Kind]bool{}
	for _, k := range Kinds {
		known[k] = true
	}
	for k, w := range p.Weights {
		if !known[k] || w < 0 {
			errs = append(errs, fmt.Errorf("weights: unknown kind %q or negative weight", k))
		}
	}
	return errors.Join(errs...)
}
