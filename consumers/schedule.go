package consumers

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// RetryInput is what a retry policy knows about a declined attempt.
type RetryInput struct {
	Class         schemas.Class
	PSPCode       string
	IssuerCode    string
	AttemptNumber int // attempts so far, this one included
	LastPSP       string
	Rank          int
	Decision      schemas.Decision
}

// RetryPlan is a retry policy's answer: retry at PSP (empty: the same one)
// or at the next rank, after Delay.
type RetryPlan struct {
	NextRank bool
	PSP      string
	Delay    time.Duration
	RuleID   string
}

// RetryPolicy decides whether a soft-declined attempt is retried later
// (Payrails retry rules, configured in the router). Without one, soft
// declines end DECLINED with the PSP's retry advice.
type RetryPolicy interface {
	PlanRetry(in RetryInput) (RetryPlan, bool)
}

// SetRetryPolicy installs the retry policy; call before Start.
func (p *Processor) SetRetryPolicy(rp RetryPolicy) { p.retries = rp }

// Card-network reattempt limits (Visa's and Mastercard's rules for merchant
// retries of declined card payments). Category-1 declines and Mastercard
// merchant advice codes 03 and 21 are hard declines in every connector's
// classification table, so they never reach scheduling; a card is
// reattempted at most MaxReattempts times within ReattemptWindow, counted
// per card fingerprint across payments and instances (reattemptLedger), and
// never before the network's or PSP's advised time (Mastercard advice codes
// 24-30 carry it).
const (
	MaxReattempts   = 15
	ReattemptWindow = 30 * 24 * time.Hour
)

// scheduleRetry schedules a retry of a soft-declined attempt where the retry
// policy says so, within the card-network limits. It reports whether it
// did; if not, the payment ends DECLINED.
func (p *Processor) scheduleRetry(w *work, st *PaymentState, s step, out *psp.Outcome) bool {
	if p.retries == nil {
		return false
	}
	plan, ok := p.retries.PlanRetry(RetryInput{
		Class: out.Class, PSPCode: out.PSPCode, IssuerCode: out.IssuerCode,
		AttemptNumber: len(st.Path), LastPSP: s.psp, Rank: s.rank, Decision: st.Decision,
	})
	if !ok {
		return false
	}
	card := st.Request.PaymentMethod.Fingerprint
	used := st.ScheduledRetries
	if card != "" {
		used = p.reattempts.count(card, p.now()) + w.reattempts[card]
	}
	if used >= MaxReattempts {
		p.log.Info("card reattempt limit reached", "payment_id", st.PaymentID, "limit", MaxReattempts, "window", ReattemptWindow)
		return false
	}
	delay := max(plan.Delay, out.RetryAfter)
	// Due from now, when the decline is in hand, not from the batch's start.
	due := p.now().Add(delay)
	if first := st.Request.RequestedAtMs; first > 0 && due.Sub(time.UnixMilli(first)) > ReattemptWindow {
		return false
	}
	f := &schemas.AttemptFailed{
		PaymentID: st.PaymentID, Request: *st.Request, Decision: st.Decision,
		NextRank: int32(s.rank), TargetPSP: s.psp,
		DueAtMs: due.UnixMilli(), RetryCount: int32(st.ScheduledRetries + 1),
		Failure: st.Path[len(st.Path)-1], Path: st.Path, Message: out.Message, FailedAtMs: w.now.UnixMilli(),
	}
	if plan.NextRank {
		if s.rank+1 > len(st.Decision.Candidates) {
			return false
		}
		f.NextRank, f.TargetPSP = int32(s.rank+1), ""
	} else if plan.PSP != "" {
		f.TargetPSP = plan.PSP
	}
	tier, ok := p.topics.DelayFor(delay)
	if !ok {
		return false
	}
	rec, err := p.records.ScheduledRetry(tier.Topic, f)
	if err != nil {
		panic(fmt.Sprintf("encode scheduled retry of %s: %v", st.PaymentID, err))
	}
	w.emit(rec)
	if card != "" {
		w.emit(p.reattempts.record(card, st.PaymentID, p.now()))
		if w.reattempts == nil {
			w.reattempts = map[string]int{}
		}
		w.reattempts[card]++
	}
	st.Phase = PhaseScheduled
	st.ScheduledRetries++
	w.counts.scheduled++
	w.save(st)
	p.log.Info("retry scheduled", "payment_id", st.PaymentID, "due_in", delay, "tier", tier.Topic, "rule", plan.RuleID)
	return true
}

// handleDelayed reads a scheduled retry from a delay tier. Records of one
// tier are in due order (one fixed delay per topic), so the head tells the
// whole partition's story: a due record runs now; a record not yet due is
// parked in the payment's state (committed with the offset, so it survives
// crashes and rebalances) and its partition is paused until it is due, so
// nothing behind it is read early. The processor never sleeps in the poll
// loop: parked retries run when the loop sees them due.
func (p *Processor) handleDelayed(ctx context.Context, w *work, rec *kgo.Record, _ string) {
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
	p.runRetry(ctx, w, rec, st)
}

// runScheduled runs a parked retry that became due.
func (p *Processor) runScheduled(ctx context.Context, w *work, id string) {
	st, ok := w.view.get(id)
	if !ok || st.Phase != PhaseScheduled || st.Scheduled == nil || st.Scheduled.DueAtMs > w.now.UnixMilli() {
		return
	}
	p.runRetry(ctx, w, nil, st)
}

func (p *Processor) runRetry(ctx context.Context, w *work, src *kgo.Record, st *PaymentState) {
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
	p.attempt(ctx, w, src, st, step{rank: rank, psp: target, method: method})
}
