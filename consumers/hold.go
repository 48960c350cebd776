package consumers

import (
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// hold orders a new payment's candidates by PSP health, so a PSP known to
// be down goes behind the healthy ones and the payment goes straight to a
// backup instead of failing first (a provider override keeps its one PSP:
// the caller asked for it). A recurring payment is held instead of
// attempted while the PSPs it waits for are down (waitsFor,
// Configuration.RecurringHold): neither attempted nor failed, it waits for
// them to recover (Recurly's paused queue). It reports whether the payment
// was held.
func (p *Processor) hold(w *work, st *PaymentState) bool {
	if p.health == nil {
		return false
	}
	req := st.Request
	network := req.PaymentMethod.Network
	if req.Recurring && p.health.AllDown(p.waitsFor(st), req.Currency, network) {
		// Held in the order routed: under "primary" the release goes to the
		// primary.
		st.Phase, st.HeldAtMs = PhaseHeld, w.now.UnixMilli()
		w.counts.held++
		w.save(st)
		p.log.Info("recurring payment held: the PSPs it waits for are down", "payment_id", st.PaymentID, "waits_for", pspNames(p.waitsFor(st)))
		return true
	}
	if st.Decision.RuleID != router.RuleOverride {
		st.Decision.Candidates = p.health.Order(st.Decision.Candidates, req.Currency, network, st.PaymentID)
	}
	return false
}

// waitsFor is the candidates whose being down holds a recurring payment:
// its one PSP with a provider override, its primary (the first candidate
// as routed) under RecurringHold "primary", all of them otherwise.
func (p *Processor) waitsFor(st *PaymentState) []schemas.Candidate {
	cands := st.Decision.Candidates
	if len(cands) > 0 && (st.Decision.RuleID == router.RuleOverride || p.cfg.RecurringHold == RecurringHoldPrimary) {
		return cands[:1]
	}
	return cands
}

// release attempts a held payment once a PSP it waits for is healthy again:
// the primary under RecurringHold "primary" (the candidates keep their
// routed order, so it goes there first), otherwise with the candidates
// ordered by health as they are now.
func (p *Processor) release(w *work, st *PaymentState) {
	req := st.Request
	network := req.PaymentMethod.Network
	if p.health == nil || !p.health.Available(p.waitsFor(st), req.Currency, network) {
		return
	}
	if st.Decision.RuleID != router.RuleOverride && p.cfg.RecurringHold != RecurringHoldPrimary {
		st.Decision.Candidates = p.health.Order(st.Decision.Candidates, req.Currency, network, st.PaymentID)
	}
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
		if !p.health.Available(p.waitsFor(h.st), req.Currency, req.PaymentMethod.Network) {
			continue
		}
		if due == nil {
			due = map[int32][]string{}
		}
		due[h.part] = append(due[h.part], h.st.PaymentID)
	}
	return due
}

// pspNames lists the candidates' PSPs, for logs.
func pspNames(cands []schemas.Candidate) []string {
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = c.PSP
	}
	return names
}
