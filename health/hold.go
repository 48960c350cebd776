package health

import "github.com/payroute/payroute/schemas"

// AllDown reports whether none of the candidates is healthy for a payment
// in currency and network: each is DOWN (or in maintenance) or PROBING.
// The processor holds a recurring payment instead of attempting it then
// (Recurly pauses recurring transactions rather than run them on a gateway
// that is down): held, it is neither attempted nor failed. A probing PSP
// does not release held payments, because a probe may still fail; the probe
// share of other traffic decides. An empty list is never all down.
func (t *Tracker) AllDown(cands []schemas.Candidate, currency, network string) bool {
	return !t.Available(cands, currency, network)
}

// Available reports whether a held payment may go: one of its candidates is
// healthy for its currency and network, or it has none. The processor asks
// it for its held payments, oldest first, when Recovered fires (and may ask
// on its own schedule too).
func (t *Tracker) Available(cands []schemas.Candidate, currency, network string) bool {
	if len(cands) == 0 {
		return true
	}
	now := t.now()
	t.mu.Lock()
	ok := false
	for _, c := range cands {
		if t.stateLocked(c.PSP, currency, network, now) == schemas.HealthHealthy {
			ok = true
			break
		}
	}
	t.mu.Unlock()
	return ok
}

// Recovered returns a channel that is closed the next time any PSP scope
// becomes healthy, whether this instance decided it or read it from the
// topic. Call it again after it fires for the following recovery; every
// caller waiting on the same channel is woken, so several loops can wait
// at once. Take the channel before checking Available, so that a recovery
// in between is not missed.
func (t *Tracker) Recovered() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.recovered
}
