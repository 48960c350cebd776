package health

import (
	"time"

	"github.com/payroute/payroute/schemas"
)

// Observation is the outcome of one attempt at one PSP, as the processor
// saw it.
type Observation struct {
	PSP string
	// Currency and Network place the call in its scopes; either may be
	// empty (the call then counts for the whole account only).
	Currency string
	Network  string
	// Class is the attempt's class; empty means approved.
	Class schemas.Class
	// Latency is how long the PSP took to answer (or to time out).
	Latency time.Duration
	// At is when the attempt was made; zero means now.
	At time.Time
}

// failure reports whether the class is a PSP-caused failure: the PSP
// failed (psp_error), refused to work (rate_limited) or did not answer
// (in_doubt). Declines, customer errors and invalid requests are answers.
func failure(c schemas.Class) bool {
	return c == schemas.ClassPSPError || c == schemas.ClassRateLimited || c == schemas.ClassInDoubt
}

// Observe records one attempt's outcome; call it after every attempt,
// probes and forced attempts at a down PSP included. It may take the
// PSP's scopes down (their window crossed a threshold) or decide a probe.
func (t *Tracker) Observe(o Observation) {
	if o.PSP == "" {
		return
	}
	now := t.now()
	at := o.At
	if at.IsZero() {
		at = now
	}
	failed := failure(o.Class)
	slow := o.Latency > t.cfg.SlowCall
	t.mu.Lock()
	t.stats.Observations++
	if failed {
		t.stats.Failures++
	}
	if slow {
		t.stats.SlowCalls++
	}
	whole := t.machineLocked(o.PSP, WholeAccount)
	t.recordLocked(whole, at, now, failed, slow, true)
	// A narrower scope may trip only while its whole account is healthy:
	// otherwise one outage would be reported once per currency and network.
	mayTrip := whole.effective() == schemas.HealthHealthy
	if o.Currency != "" && t.cfg.tracks(ScopeCurrency) {
		t.recordLocked(t.machineLocked(o.PSP, currencyScope(o.Currency)), at, now, failed, slow, mayTrip)
	}
	if o.Network != "" && t.cfg.tracks(ScopeNetwork) {
		t.recordLocked(t.machineLocked(o.PSP, networkScope(o.Network)), at, now, failed, slow, mayTrip)
	}
	t.mu.Unlock()
}
