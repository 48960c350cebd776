package admin

import (
	"time"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/health"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// Sources is what the admin port reports on. Only Cluster is required; a
// nil source leaves its series, API fields and readiness check out (an
// instance running only the sink has no processor, one with
// analytics.enabled false no ClickHouse).
type Sources struct {
	// Cluster is the Kafka cluster: readiness pings it, lag is read from it.
	Cluster *kafka.Cluster
	// Counters are the payment processor's counters (*consumers.Stats).
	Counters Counters
	// Assignment tells readiness whether the processor holds its
	// partitions.
	Assignment Assignment
	// InFlight counts payments without a final result.
	InFlight InFlight
	// Calls counts the PSP calls under way and waiting, per PSP account
	// (of Accounts).
	Calls Calls
	// ProcessorGroup is the processor's consumer group, whose lag is
	// reported (requests, retry ranks, delay tiers, actions, follow-ups).
	ProcessorGroup string
	// Sink is the ClickHouse sink (*analytics.Sink).
	Sink SinkStats
	// SinkGroup is the sink's consumer group, whose lag is reported.
	SinkGroup string
	// ClickHouse is the analytics server: readiness pings it and the
	// console's charts read it. Nil when analytics is disabled.
	ClickHouse *analytics.ClickHouseConfiguration
	// Router is the routing configuration in force and its versions.
	Router *router.Holder
	// Accounts are the PSP accounts (*psp.Registry).
	Accounts Accounts
	// Health is the PSP health state (up, down, probing...) per PSP and
	// scope.
	Health HealthSource
	// HealthCounters are the tracker's transitions and probes.
	HealthCounters HealthCounters
	// Decoder decodes the AttemptRecorded records this instance produces,
	// for the per-PSP attempt series (*schemas.Serde).
	Decoder Decoder
}

// Counters are the payment processor's running counters; *consumers.Stats
// implements them. They are read at scrape time.
type Counters interface {
	Committed() int64
	Attempts() int64
	Failovers() int64
	DeadLettered() int64
	Duplicates() int64
	Scheduled() int64
	Aborted() int64
	Restarts() int64
	Results() map[schemas.Status]int64
}

// Assignment says whether the processor of this instance has joined its
// consumer group, been given its partitions (possibly none, when there are
// more instances than partitions) and restored their payment state, so
// that it processes payments. It is the "partitions assigned" part of
// /readyz.
type Assignment interface {
	Assigned() bool
}

// AssignmentFunc adapts a function to Assignment.
type AssignmentFunc func() bool

// Assigned calls f.
func (f AssignmentFunc) Assigned() bool { return f() }

// InFlight counts the payments this instance holds that have no final
// result yet (attempting, waiting on a retry rank, scheduled, in doubt or
// waiting for the customer).
type InFlight interface {
	InFlight() int
}

// Calls counts one PSP's calls on this instance: under way, and waiting
// for a slot; *consumers.Processor implements it.
type Calls interface {
	Calls(psp string) (running, queued int)
}

// SinkStats are the analytics sink's counters; *analytics.Sink implements
// them.
type SinkStats interface {
	Stats() analytics.Stats
}

// Accounts are the PSP accounts; *psp.Registry implements them.
type Accounts interface {
	Names() []string
	Account(name string) (psp.Account, bool)
}

// PSPHealth is the health of one PSP in one scope, as the health tracker
// decided it.
type PSPHealth struct {
	// PSP is the account name.
	PSP string `json:"psp"`
	// Scope is what the state applies to: "*" (or "") for the whole PSP
	// account, or a narrower scope such as "currency=EUR" or
	// "network=visa" (health.Tracker's scopes).
	Scope string `json:"scope"`
	// State is the tracker's state: HEALTHY, DOWN or PROBING
	// (schemas.HealthState).
	State string `json:"state"`
	// Since is when the state was entered.
	Since time.Time `json:"since"`
	// Reason says why, e.g. the failure rate that took the PSP down.
	Reason string `json:"reason,omitempty"`
	// Maintenance is set while a maintenance window covers the scope.
	Maintenance bool `json:"maintenance,omitempty"`
	// WindowCalls and FailureRate are the tracker's rolling window on this
	// instance: calls, and the share that failed on the PSP's side.
	WindowCalls int64   `json:"window_calls"`
	FailureRate float64 `json:"failure_rate"`
}

// HealthSource is the PSP health tracker. The admin port shows its states
// in /api/psps and the console, and exports them as payroute_psp_health.
type HealthSource interface {
	PSPHealth() []PSPHealth
}

// HealthCounters are the health tracker's running counters;
// *health.Tracker implements them.
type HealthCounters interface {
	Stats() health.Stats
}

// HealthFunc adapts a function to HealthSource (to convert a tracker's
// own snapshot type).
type HealthFunc func() []PSPHealth

// PSPHealth calls f.
func (f HealthFunc) PSPHealth() []PSPHealth { return f() }
