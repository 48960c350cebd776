package health

import "github.com/payroute/payroute/schemas"

// AllDown reports whether none of the candidates may take payment
// paymentID in currency and network (see Available). The processor holds a
// recurring payment instead of attempting it then (Recurly pauses
// recurring transactions rather than run them on a gateway that is down):
// held, it is neither attempted nor failed. An empty list is never all
// down.
func (t *Tracker) AllDown(cands []schemas.Candidate, currency, network, paymentID string) bool {
	return !t.Available(cands, currency, network, paymentID)
}

// Available reports whether a held payment may go: one of its candidates is
// healthy for its currency and network, or probing with the payment in its
// probe share (as Order would let it through), or it has none. Held
// payments in the probe share are the probes of a PSP that only they use
// (a gateway_code, a primary only renewals go to): without them it would
// never be probed, never recover, and they would wait for ever. A probe
// that fails takes the PSP down again, so each probing period lets each of
// them through once. The processor asks it for its held payments, oldest
// first, every loop.
func (t *Tracker) Available(cands []schemas.Candidate, currency, network, paymentID string) bool {
	if len(cands) == 0 {
		return true
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range cands {
		switch t.stateLocked(c.PSP, currency, network, now) {
		case schemas.HealthHealthy:
			return true
		case schemas.HealthProbing:
			if t.probes(paymentID, c.PSP) {
				return true
			}
		}
	}
	return false
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
