package consumers

import (
	"github.com/payroute/payroute/router"
)

// hold orders a new payment's candidates by PSP health, so a PSP known to
// be down goes behind the healthy ones and the payment goes straight to a
// backup instead of failing first (a provider override keeps its one PSP:
// the caller asked for it). A recurring payment whose candidates are all
// down is held instead of attempted: neither attempted nor failed, it
// waits for a PSP to recover (Recurly's paused queue). It reports whether
// the payment was held.
func (p *Processor) hold(w *work, st *PaymentState) bool {
	if p.health == nil || st.Decision.RuleID == router.RuleOverride {
		return false
	}
	req := st.Request
	network := req.PaymentMethod.Network
	st.Decision.Candidates = p.health.Order(st.Decision.Candidates, req.Currency, network, st.PaymentID)
	if !req.Recurring || !p.health.AllDown(st.Decision.Candidates, req.Currency, network) {
		return false
	}
	st.Phase, st.HeldAtMs = PhaseHeld, w.now.UnixMilli()
	w.counts.held++
	w.save(st)
	p.log.Info("recurring payment held: all its PSPs are down", "payment_id", st.PaymentID)
	return true
}

// release attempts a held payment once one of its PSPs is available again,
// with the candidates ordered by health as they are now.
func (p *Processor) release(w *work, st *PaymentState) {
	req := st.Request
	network := req.PaymentMethod.Network
	if p.health == nil || !p.health.Available(st.Decision.Candidates, req.Currency, network) {
		return
	}
	st.Decision.Candidates = p.health.Order(st.Decision.Candidates, req.Currency, network, st.PaymentID)
	st.Phase, st.HeldAtMs = PhaseInFlight, 0
	p.log.Info("held payment released", "payment_id", st.PaymentID)
	cand := st.Decision.Candidates[0]
	p.attempt(w, nil, st, step{rank: 1, psp: cand.PSP, method: cand.Method})
}

// releasable adds to due the held payments that may go now, oldest first
// (the order is kept within each partition's work list).
func (p *Processor) releasable(due map[int32][]string) map[int32][]string {
	if p.health == nil {
		return due
	}
	for _, h := range p.store.Held() {
		req := h.st.Request
		if !p.health.Available(h.st.Decision.Candidates, req.Currency, req.PaymentMethod.Network) {
			continue
		}
		if due == nil {
			due = map[int32][]string{}
		}
		due[h.part] = append(due[h.part], h.st.PaymentID)
	}
	return due
}
