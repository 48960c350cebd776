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
	if req.Recurring && p.health.AllDown(p.waitsFor(st), req.Currency, network, st.PaymentID) {
		// Held in the order routed: under "primary" the release goes to the
		// primary.
		p.putOnHold(w, st, "recurring payment held: the PSPs it waits for are down")
		return true
	}
	p.orderByHealth(st)
	return false
}

// putOnHold parks st until releasable finds a PSP it waits for available.
func (p *Processor) putOnHold(w *work, st *PaymentState, why string) {
	st.Phase, st.HeldAtMs, st.InFlight = PhaseHeld, w.now.UnixMilli(), nil
	w.counts.held++
	w.save(st)
	p.log.Info(why, "payment_id", st.PaymentID, "waits_for", pspNames(p.waitsFor(st)))
}

// orderByHealth puts st's candidates in the order to attempt them now
// (health.Tracker.Order), except where the order is the caller's: a
// provider override, and a renewal that only its primary may take.
func (p *Processor) orderByHealth(st *PaymentState) {
	if st.Decision.RuleID == router.RuleOverride || p.keepsPrimary(st) {
		return
	}
	req := st.Request
	st.Decision.Candidates = p.health.Order(st.Decision.Candidates, req.Currency, req.PaymentMethod.Network, st.PaymentID)
}

// keepsPrimary reports whether st is a renewal that only its primary may
// take (RecurringHold "primary"): its candidates keep their routed order,
// and a failure at the primary never fails it over (holdAtPrimary).
func (p *Processor) keepsPrimary(st *PaymentState) bool {
	return p.cfg.RecurringHold == RecurringHoldPrimary && st.Request != nil && st.Request.Recurring && len(st.Decision.Candidates) > 0
}

// holdAtPrimary keeps a renewal that failed at its primary with a failure
// that would fail it over, under RecurringHold "primary": held while the
// primary is not available (a failure on the way down, a probe that
// failed), released to the primary with a new idempotency key when it is;
// when the primary is available the failure is this payment's, and it ends
// with it (the merchant's dunning retries). It reports whether it held.
func (p *Processor) holdAtPrimary(w *work, st *PaymentState) bool {
	req := st.Request
	if p.health == nil || p.health.Available(p.waitsFor(st), req.Currency, req.PaymentMethod.Network, st.PaymentID) {
		return false
	}
	st.ScheduledRetries++ // the release is a new request: a new key
	p.putOnHold(w, st, "renewal held: its primary failed and is not available; it is not failed over (recurring_hold: primary)")
	return true
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
	if p.health == nil || !p.health.Available(p.waitsFor(st), req.Currency, network, st.PaymentID) {
		return
	}
	p.orderByHealth(st)
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
		if !p.health.Available(p.waitsFor(h.st), req.Currency, req.PaymentMethod.Network, h.st.PaymentID) {
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
