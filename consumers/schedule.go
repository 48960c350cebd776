package consumers

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// Card-network reattempt limits (Visa's and Mastercard's rules for merchant
// retries of declined card payments). Category-1 declines and Mastercard
// merchant advice codes 03 and 21 are hard declines in every connector's
// classification table, and hard declines are never retried; a card is
// reattempted after a decline at most MaxReattempts times within
// ReattemptWindow, counted per card fingerprint across payments and
// instances (reattemptLedger), and never before the network's or PSP's
// advised time (Mastercard advice codes 24-30 carry it).
const (
	MaxReattempts   = 15
	ReattemptWindow = 30 * 24 * time.Hour
)

// retry carries out a retry action of the router for a failed attempt, and
// reports whether it did; if not, the payment ends with the attempt's
// outcome. A retry at once on the next rank goes through that rank's retry
// topic (failover); any retry with a delay, or on a PSP outside the ranked
// list, goes through the delay tier that fits the delay.
func (p *Processor) retry(w *work, st *PaymentState, s step, out *psp.Outcome, failed schemas.AttemptSummary, act router.RetryAction) bool {
	delay := max(act.Delay, out.RetryAfter)
	if out.Class != schemas.ClassSoftDecline {
		delay = act.Delay // a PSP's rate-limit advice concerns that PSP, not the next
	}
	now := p.now()
	f := &schemas.AttemptFailed{
		PaymentID: st.PaymentID, Request: *st.Request, Decision: st.Decision,
		Failure: failed, Path: st.Path, Message: out.Message, FailedAtMs: now.UnixMilli(),
	}
	switch act.Kind {
	case router.RetryNextRank:
		if act.Rank < 1 || act.Rank > len(st.Decision.Candidates) || act.Rank > p.maxRanks {
			return false
		}
		f.NextRank = int32(act.Rank)
	case router.RetrySamePSP, router.RetryNamedPSP:
		if act.PSP == "" {
			return false
		}
		f.NextRank, f.TargetPSP = int32(s.rank), act.PSP
	default:
		return false
	}
	log := p.log.With("payment_id", st.PaymentID, "rule", act.RuleID, "version", act.ConfigVersion)

	// A declined card is reattempted only within the card networks' limits.
	card := ""
	if out.Class == schemas.ClassSoftDecline {
		card = st.Request.PaymentMethod.Fingerprint
		used := st.ScheduledRetries
		if card != "" {
			used = p.reattempts.count(card, now) + w.reattempts[card]
		}
		if used >= MaxReattempts {
			log.Info("card reattempt limit reached", "limit", MaxReattempts, "window", ReattemptWindow)
			return false
		}
		if first := st.Request.RequestedAtMs; first > 0 && now.Add(delay).Sub(time.UnixMilli(first)) > ReattemptWindow {
			log.Info("retry would fall outside the card networks' reattempt window")
			return false
		}
	}

	if act.Kind == router.RetryNextRank && delay == 0 {
		rec, err := p.records.Retry(f)
		if err != nil {
			panic(fmt.Sprintf("encode retry of %s: %v", st.PaymentID, err))
		}
		log.Info("failing over", "to", act.PSP, "rank", act.Rank, "class", out.Class, "code", out.PSPCode)
		w.counts.failovers++
		w.emit(rec)
		st.Phase, st.PendingRank = PhaseInFlight, act.Rank
		w.save(st)
		return true
	}

	tier, ok := p.topics.DelayFor(delay)
	if !ok {
		log.Warn("a retry rule asks for a delayed retry but no delay tiers are configured (kafka.retry_delay_tiers)")
		return false
	}
	st.ScheduledRetries++
	f.DueAtMs = now.Add(delay).UnixMilli()
	f.RetryCount = int32(st.ScheduledRetries)
	rec, err := p.records.ScheduledRetry(tier.Topic, f)
	if err != nil {
		panic(fmt.Sprintf("encode scheduled retry of %s: %v", st.PaymentID, err))
	}
	w.emit(rec)
	if card != "" {
		w.emit(p.reattempts.record(card, st.PaymentID, now))
		if w.reattempts == nil {
			w.reattempts = map[string]int{}
		}
		w.reattempts[card]++
	}
	st.Phase = PhaseScheduled
	if act.Kind == router.RetryNextRank {
		w.counts.failovers++
	}
	w.counts.scheduled++
	w.save(st)
	log.Info("retry scheduled", "kind", act.Kind, "psp", act.PSP, "due_in", delay, "tier", tier.Topic)
	return true
}

// handleDelayed reads a scheduled retry from a delay tier. Records of one
// tier are in due order (one fixed delay per topic), so the head tells the
// whole partition's story: a due record runs now; a record not yet due is
// parked in the payment's state (committed with the offset, so it survives
// crashes and rebalances) and its partition is paused until it is due, so
// nothing behind it is read early. The processor never sleeps in the poll
// loop: parked retries run when the loop sees them due.
func (p *Processor) handleDelayed(w *work, rec *kgo.Record, _ string) {
	f, st, ok := p.decodeRetry(w, rec)
	if !ok {
		return
	}
	if st.Phase != PhaseScheduled || int(f.RetryCount) != st.ScheduledRetries {
		w.counts.duplicates++
		return
	}
	st.Scheduled = f
	if f.DueAtMs > w.now.UnixMilli() {
		w.save(st)
		w.pauseUntil(rec, time.UnixMilli(f.DueAtMs))
		return
	}
	p.runRetry(w, rec, st)
}

// runScheduled runs a parked retry that became due, or releases a held
// payment whose PSPs recovered.
func (p *Processor) runScheduled(w *work, id string) {
	w.trace = nil
	st, ok := w.view.get(id)
	if !ok {
		return
	}
	if st.Phase == PhaseHeld {
		p.release(w, st)
		return
	}
	if st.Phase == PhaseActionRequired {
		p.expireAction(w, st)
		return
	}
	if st.Phase != PhaseScheduled || st.Scheduled == nil || st.Scheduled.DueAtMs > w.now.UnixMilli() {
		return
	}
	p.runRetry(w, nil, st)
}

func (p *Processor) runRetry(w *work, src *kgo.Record, st *PaymentState) {
	f := st.Scheduled
	st.Scheduled = nil
	st.Phase = PhaseInFlight
	rank := int(f.NextRank)
	if rank < 1 || rank > len(st.Decision.Candidates) {
		p.finish(w, st, schemas.StatusFailed, nil, fmt.Sprintf("scheduled retry for rank %d of %d", rank, len(st.Decision.Candidates)))
		return
	}
	cand := st.Decision.Candidates[rank-1]
	target, method := cand.PSP, cand.Method
	if f.TargetPSP != "" {
		target = f.TargetPSP
	}
	if src == nil {
		// A parked retry has no input record of its own; dead letters of
		// its attempt point at the payment.
		src = &kgo.Record{Topic: p.topics.State, Key: []byte(st.PaymentID), Partition: w.view.part}
	}
	p.attempt(w, src, st, step{rank: rank, psp: target, method: method})
}
