package health

import (
	"sort"
	"time"

	"github.com/payroute/payroute/schemas"
)

// PSPHealth is the state of one PSP scope, for the admin API, metrics and
// `payroute status`.
type PSPHealth struct {
	PSP   string
	Scope string // "*", "currency=EUR", "network=visa"
	// State is what payments see: DOWN during maintenance.
	State schemas.HealthState
	// Since is when the state was entered; Reason why.
	Since  time.Time
	Reason string
	// DecidedBy is the instance whose decision the state is; empty for a
	// timed transition no record has confirmed yet.
	DecidedBy string
	// Maintenance is set while a configured maintenance window covers the
	// scope.
	Maintenance bool
	// WindowCalls, WindowFailures and WindowSlow are this instance's calls
	// in the rolling window; FailureRate and SlowRate their shares.
	WindowCalls, WindowFailures, WindowSlow int64
	FailureRate, SlowRate                   float64
	// ProbeSuccesses and ProbeFailures count this instance's probes since
	// the scope started PROBING.
	ProbeSuccesses, ProbeFailures int
}

// Snapshot lists every PSP scope the Tracker knows, by PSP and scope ("*"
// first), after applying due timed transitions.
func (t *Tracker) Snapshot() []PSPHealth {
	now := t.now()
	t.mu.Lock()
	t.advanceAllLocked(now)
	out := make([]PSPHealth, 0, len(t.machines))
	for _, m := range t.machines {
		c := m.win.totals(now)
		out = append(out, PSPHealth{
			PSP: m.psp, Scope: m.scope, State: m.effective(), Since: m.since, Reason: m.reason,
			DecidedBy: m.origin, Maintenance: m.maintenance,
			WindowCalls: c.calls, WindowFailures: c.failures, WindowSlow: c.slow,
			FailureRate: c.failureRate(), SlowRate: c.slowRate(),
			ProbeSuccesses: m.probeOK, ProbeFailures: m.probeFailed,
		})
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].PSP != out[j].PSP {
			return out[i].PSP < out[j].PSP
		}
		return scopeLess(out[i].Scope, out[j].Scope)
	})
	return out
}

// scopeLess orders "*" before the narrower scopes.
func scopeLess(a, b string) bool {
	if (a == WholeAccount) != (b == WholeAccount) {
		return a == WholeAccount
	}
	return a < b
}

// Stats are the Tracker's running counters since New, for metrics.
type Stats struct {
	// Observations counts Observe calls; Failures and SlowCalls those that
	// were PSP-caused failures or slow.
	Observations, Failures, SlowCalls int64
	// ToDown, ToProbing and ToHealthy count transitions into each state,
	// decided here or adopted from the topic; Adopted counts the latter.
	ToDown, ToProbing, ToHealthy, Adopted int64
	// Published counts records acknowledged on psp.health, PublishErrors
	// those that could not be written.
	Published, PublishErrors int64
	// DecodeErrors counts psp.health records that were skipped as
	// unreadable.
	DecodeErrors int64
	// Reordered counts payments whose order Order changed; Probes the
	// payments it let through to a probing PSP.
	Reordered, Probes int64
	// DroppedEvents counts transitions a subscriber missed because its
	// buffer was full.
	DroppedEvents int64
}

// count adds a transition into state s.
func (s *Stats) count(to schemas.HealthState, adopted bool) {
	switch to {
	case schemas.HealthDown:
		s.ToDown++
	case schemas.HealthProbing:
		s.ToProbing++
	case schemas.HealthHealthy:
		s.ToHealthy++
	}
	if adopted {
		s.Adopted++
	}
}

// Stats returns a copy of the counters.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	s := t.stats
	t.mu.Unlock()
	s.Published = t.published.Load()
	return s
}

// Subscribe returns a channel that receives every transition of this
// instance's view from now on, decided here or read from the topic (with
// PreviousState as this instance saw it), and a function that ends the
// subscription. A subscriber that falls buffer transitions behind misses
// the next ones (counted in Stats.DroppedEvents) rather than slowing
// payments down; Snapshot always has the current state.
func (t *Tracker) Subscribe(buffer int) (<-chan schemas.PspHealthChanged, func()) {
	ch := make(chan schemas.PspHealthChanged, buffer)
	t.mu.Lock()
	id := t.nextSub
	t.nextSub++
	t.subs[id] = ch
	t.mu.Unlock()
	return ch, func() {
		t.mu.Lock()
		delete(t.subs, id)
		t.mu.Unlock()
	}
}
