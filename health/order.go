package health

import (
	"hash/fnv"
	"math"
	"time"

	"github.com/payroute/payroute/schemas"
)

// Order returns the candidates in the order to attempt them: those usable
// now first, then those that are down, each group in its original order,
// renumbered so that Rank is the 1-based position again (the processor
// finds the rank-n candidate at index n-1). A down PSP stays in the list, as
// a last resort behind the healthy ones, so a payment still fails over to
// it rather than failing outright. cands itself is not modified.
//
// A candidate is usable when its PSP is healthy in every scope that covers
// the payment (the whole account, the payment's currency and network), or
// when one of them is probing and the payment falls in the probe share. The
// probe choice hashes the payment id with the PSP, so a redelivered or
// retried payment chooses the same way.
//
// Do not reorder a payment with a provider override or a follow-up
// (capture, void, refund) pinned to the PSP that authorized it: those must
// go to that PSP whatever its health (Recurly's gateway_code).
func (t *Tracker) Order(cands []schemas.Candidate, currency, network, paymentID string) []schemas.Candidate {
	out := make([]schemas.Candidate, 0, len(cands))
	var later []schemas.Candidate
	now := t.now()
	t.mu.Lock()
	for _, c := range cands {
		switch t.stateLocked(c.PSP, currency, network, now) {
		case schemas.HealthHealthy:
			out = append(out, c)
		case schemas.HealthProbing:
			if t.probes(paymentID, c.PSP) {
				t.stats.Probes++
				out = append(out, c)
			} else {
				later = append(later, c)
			}
		default:
			later = append(later, c)
		}
	}
	if len(later) > 0 && len(out) > 0 {
		t.stats.Reordered++
	}
	out = append(out, later...)
	for i := range out {
		out[i].Rank = int32(i + 1)
	}
	t.mu.Unlock()
	return out
}

// State is the health of a PSP for a payment in currency and network: the
// worst state of the scopes that cover it (DOWN over PROBING over HEALTHY).
func (t *Tracker) State(psp, currency, network string) schemas.HealthState {
	now := t.now()
	t.mu.Lock()
	s := t.stateLocked(psp, currency, network, now)
	t.mu.Unlock()
	return s
}

// stateLocked is State with the lock held; it applies due timed
// transitions of the scopes it looks at.
func (t *Tracker) stateLocked(psp, currency, network string, now time.Time) schemas.HealthState {
	worst := schemas.HealthHealthy
	look := func(scope string) {
		m, ok := t.machines[key(psp, scope)]
		if !ok {
			return
		}
		t.advanceLocked(m, now)
		if s := m.effective(); severity(s) > severity(worst) {
			worst = s
		}
	}
	look(WholeAccount)
	if currency != "" && t.cfg.tracks(ScopeCurrency) {
		look(currencyScope(currency))
	}
	if network != "" && t.cfg.tracks(ScopeNetwork) {
		look(networkScope(network))
	}
	return worst
}

// probes reports whether a payment is in the probe share of a PSP.
func (t *Tracker) probes(paymentID, psp string) bool {
	h := fnv.New64a()
	_, _ = h.Write([]byte(paymentID))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(psp))
	return float64(mix(h.Sum64()))/math.MaxUint64 < t.cfg.ProbeShare
}

// mix is the splitmix64 finalizer: FNV-1a of ids that differ only in their
// last digits differs mostly in its low bits, and the share is taken from
// the whole value.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
