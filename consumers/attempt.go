package consumers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/health"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// step is one attempt to make: at which rank and PSP, and with which
// idempotency key generation.
type step struct {
	rank   int
	psp    string
	method string
	// authorizationReference is set for a follow-up (CAPTURE, VOID, REFUND).
	authorizationReference string
	followUp               bool
	// token replaces the payment method token (a customer's re-entry).
	token string
	// confirmKey is the challenged attempt to ask about first (InFlight).
	confirmKey string
}

// idempotencyKey is stable per (payment, PSP, operation) across redelivery.
// A customer's RETRY and a scheduled retry re-attempt a payment at a PSP
// that already answered it, and the PSP stored that answer under the old
// key: each retry, counted in the committed state, makes a new key.
func (s step) idempotencyKey(st *PaymentState) string {
	return psp.RetryIdempotencyKey(st.PaymentID, s.psp, st.Operation, st.CustomerRetries*1000+st.ScheduledRetries)
}

// attempt starts an attempt at one PSP: the payment is recorded as
// attempting, with everything needed to make the call, in the batch's
// transaction; the call itself runs once that commits (see dispatcher),
// and its outcome is acted on in a later batch (complete). So a payment
// waiting on a PSP holds no transaction, and a crash between the two
// leaves a state that says exactly which call to make again.
func (p *Processor) attempt(w *work, src *kgo.Record, st *PaymentState, s step) {
	in := &InFlight{
		Rank: s.rank, PSP: s.psp, Method: s.method, IdempotencyKey: s.idempotencyKey(st),
		AuthorizationReference: s.authorizationReference, FollowUp: s.followUp, Token: s.token,
		ConfirmKey: s.confirmKey, StartedAtMs: w.now.UnixMilli(),
	}
	if src != nil {
		in.SourceTopic, in.SourcePartition, in.SourceOffset = src.Topic, src.Partition, src.Offset
	}
	for _, h := range w.trace {
		if in.Trace == nil {
			in.Trace = map[string]string{}
		}
		in.Trace[h.Key] = string(h.Value)
	}
	st.Phase, st.InFlight, st.PendingRank = PhaseAttempting, in, 0
	w.save(st)
	w.launch = append(w.launch, st.PaymentID)
}

// callOf is the PSP call an attempting payment makes.
func (p *Processor) callOf(part int32, st *PaymentState) call {
	in, req := st.InFlight, st.Request
	pm := req.PaymentMethod
	if in.Token != "" {
		pm.Token = in.Token
	}
	return call{part: part, payment: st.PaymentID, psp: in.PSP, confirmKey: in.ConfirmKey, req: psp.Request{
		PaymentID: st.PaymentID, IdempotencyKey: in.IdempotencyKey, Operation: req.Operation, Method: in.Method,
		AmountMinor: req.AmountMinor, Currency: req.Currency, MerchantID: req.MerchantID, PaymentMethod: pm,
		CustomerID: req.Customer.CustomerID, AuthorizationReference: in.AuthorizationReference,
	}}
}

// runCall makes a call; the dispatcher runs it in its own goroutine.
func (p *Processor) runCall(ctx context.Context, c call) completion {
	started := p.now()
	if c.confirmKey != "" {
		if out, d, settled := p.confirmChallenge(ctx, c); settled {
			return completion{call: c, out: out, doubt: d, started: started, finished: p.now(), answeredKey: c.confirmKey}
		}
	}
	out, d := p.call(ctx, c.psp, c.req, c.resend)
	return completion{call: c, out: out, doubt: d, started: started, finished: p.now()}
}

// confirmChallenge asks the PSP what became of the challenged attempt
// (c.confirmKey) before a RETRY sends anything. A customer who completed
// the challenge at the PSP's page completed that very payment there: the
// PSP authorizes it on its own, so a new request would be a second payment
// of the same order. settled is true when the answer decides:
//
//   - the challenged attempt is approved: that approval, no new request;
//   - it still waits for the customer (psp.Outcome.Pending):
//     ACTION_REQUIRED again, with the challenge's action_url if any;
//   - the PSP cannot be asked, or is still working on it, within
//     in_doubt_window: in doubt (IN_DOUBT), never a second request that
//     could be a second charge.
//
// Otherwise (declined, a failed authentication, never processed) the
// RETRY's own request goes out.
func (p *Processor) confirmChallenge(ctx context.Context, c call) (out psp.Outcome, d doubt, settled bool) {
	conn, ok := p.connectors.Get(c.psp)
	if !ok {
		return psp.Outcome{}, doubt{}, false
	}
	req := c.req
	req.IdempotencyKey = c.confirmKey
	answer, d := p.inquire(ctx, conn, req)
	switch {
	case answer == nil:
		return psp.Outcome{Outcome: schemas.OutcomeError, Class: schemas.ClassInDoubt, PSPCode: "challenge_unconfirmed",
			Message: "the PSP could not say whether the customer completed the challenged payment"}, d, true
	case !answer.Found:
		return psp.Outcome{}, d, false
	case answer.Outcome.Outcome == schemas.OutcomeApproved:
		return answer.Outcome, d, true
	case answer.Outcome.Pending:
		return answer.Outcome, d, true
	}
	return psp.Outcome{}, d, false
}

// doubt is what the status inquiries of one attempt did: how many were
// made, and how long the attempt was in doubt (from the call that left it
// so to the answer that settled it, or to giving up). Zero when the PSP
// answered the call itself.
type doubt struct {
	inquiries int
	lasted    time.Duration
}

// complete acts on the classified outcome of a finished call
// (PRODUCT.md, Flow step 4):
//
//	approved                 → APPROVED
//	hard decline             → DECLINED, never retried anywhere
//	soft decline             → DECLINED with retry advice, or the retry a retry rule asks for
//	customer error           → ACTION_REQUIRED on the same PSP
//	psp_error, rate_limited  → the next rank (or what a retry rule says), FAILED when none is left
//	in_doubt, unresolved     → IN_DOUBT, never failed over blind
//	invalid_request          → REJECTED, and the input to the DLQ
//
// Follow-ups never fail over: they must reach the PSP that authorized.
func (p *Processor) complete(w *work, c completion) {
	st, ok := w.view.get(c.payment)
	if !ok || st.Phase != PhaseAttempting || st.InFlight == nil || st.InFlight.IdempotencyKey != c.req.IdempotencyKey {
		return // already completed (a call made twice across a rebalance)
	}
	in := *st.InFlight
	st.InFlight = nil
	w.trace = w.trace[:0]
	for _, k := range slices.Sorted(maps.Keys(in.Trace)) {
		w.trace = append(w.trace, kgo.RecordHeader{Key: k, Value: []byte(in.Trace[k])})
	}
	s := step{rank: in.Rank, psp: in.PSP, method: in.Method, followUp: in.FollowUp, authorizationReference: in.AuthorizationReference}
	req := st.Request
	pm := c.req.PaymentMethod
	out, started, finished := c.out, c.started, c.finished
	w.counts.attempts++
	if p.health != nil && out.PSPCode != PSPCodeQueueTimeout { // this instance's limit, not the PSP's answer
		p.health.Observe(health.Observation{PSP: in.PSP, Currency: req.Currency, Network: pm.Network,
			Class: out.Class, Latency: out.Latency, At: finished})
	}
	src := &kgo.Record{Topic: in.SourceTopic, Partition: in.SourcePartition, Offset: in.SourceOffset, Key: []byte(st.PaymentID)}
	if in.FollowUp {
		p.settleFollowUp(w, st, out.Outcome == schemas.OutcomeApproved)
	}
	previous := ""
	if len(st.Path) > 0 {
		previous = st.Path[len(st.Path)-1].PSP
	}
	number := int32(len(st.Path) + 1)
	// Deterministic: re-processing the same input yields the same attempt id,
	// which is what lets analytics count each attempt once.
	attemptID := fmt.Sprintf("%s#%d", st.PaymentID, number)
	summary := schemas.AttemptSummary{
		AttemptID: attemptID, PSP: s.psp, Rank: int32(s.rank),
		Outcome: out.Outcome, Class: out.Class, PSPCode: out.PSPCode,
	}
	st.Path = append(st.Path, summary)
	st.PendingRank = 0
	recorded := &schemas.AttemptRecorded{
		AttemptID: attemptID, PaymentID: st.PaymentID, MerchantID: req.MerchantID,
		AttemptNumber: number, Rank: int32(s.rank), PSP: s.psp, Method: s.method, PreviousPSP: previous,
		Operation: req.Operation, AmountMinor: req.AmountMinor, Currency: req.Currency,
		Outcome: out.Outcome, Class: out.Class, PSPCode: out.PSPCode, IssuerCode: out.IssuerCode,
		Message: out.Message, PSPReference: out.Reference, IdempotencyKey: c.answeredIdempotencyKey(),
		LatencyMs:   out.Latency.Milliseconds(),
		CardNetwork: pm.Network, CardFunding: pm.Funding, CardBIN: pm.BIN, IssuerCountry: pm.IssuerCountry,
		ConfigVersion: st.Decision.ConfigVersion, RuleID: st.Decision.RuleID,
		StartedAtMs: started.UnixMilli(), FinishedAtMs: finished.UnixMilli(),
		Inquiries: int32(c.doubt.inquiries), InDoubtMs: c.doubt.lasted.Milliseconds(),
	}
	recorded.FeeMinor = p.connectors.Fee(s.psp, psp.FeeInputOf(recorded))
	attemptRec, err := p.records.Attempt(recorded)
	if err != nil {
		panic(fmt.Sprintf("encode attempt of %s: %v", st.PaymentID, err))
	}
	w.emit(attemptRec)
	log := p.log.With("payment_id", st.PaymentID, "psp", s.psp, "rank", s.rank)

	switch {
	case out.Outcome == schemas.OutcomeApproved:
		if !s.followUp && (req.Operation == schemas.OpAuthorize || req.Operation == schemas.OpCharge) {
			st.AuthorizingPSP, st.AuthorizationReference = s.psp, out.Reference
		}
		p.finish(w, st, schemas.StatusApproved, &out, "")
	case out.Class == schemas.ClassCustomerError && s.followUp:
		// A capture, void or refund is the merchant's, not the customer's:
		// nobody is on an intermediate page to fix it, and a RETRY could
		// not restore what made it a follow-up (its reservation on the
		// authorization, the PSP it must go to). It ends here.
		p.finish(w, st, schemas.StatusDeclined, &out, out.Message)
	case out.Class == schemas.ClassCustomerError:
		st.Phase = PhaseActionRequired
		st.ChallengeKey = ""
		if out.Pending {
			st.ChallengeKey = c.answeredIdempotencyKey()
		}
		res := p.newResult(w, st, schemas.StatusActionRequired, out.Message)
		fill(res, &out)
		st.Result = res
		w.counts.result(res.Status)
		w.emit(p.resultRecord(res))
		w.save(st)
	case out.Class == schemas.ClassInDoubt:
		log.Warn("attempt in doubt after the inquiry window", "code", out.PSPCode)
		p.finish(w, st, schemas.StatusInDoubt, &out, out.Message)
	case out.Class == schemas.ClassInvalidRequest:
		if rec, err := p.records.Requested(req); err == nil {
			src.Value = rec.Value // the payment as received, re-encoded
		}
		p.deadLetter(w, src, "psp_invalid_request", "", fmt.Errorf("%s: %s %s", s.psp, out.PSPCode, out.Message))
		p.finish(w, st, schemas.StatusRejected, &out, out.Message)
	default:
		// Declines and PSP-side failures: the retry rules of the payment's
		// configuration version decide (by default: fail over on psp_error
		// and rate_limited, stop otherwise). Follow-ups are never retried
		// elsewhere: they belong to the PSP that authorized.
		act := router.RetryAction{Kind: router.RetryStop}
		if !s.followUp {
			act = p.router.RetryAction(router.RetryInput{
				Class: out.Class, PSPCode: out.PSPCode, IssuerCode: out.IssuerCode,
				AttemptNumber: len(st.Path), LastPSP: s.psp, Decision: st.Decision, Rank: s.rank, Request: req,
			})
		}
		if act.Kind != router.RetryStop && !s.followUp && p.keepsPrimary(st) && act.PSP != st.Decision.Candidates[0].PSP {
			// A renewal under recurring_hold: primary never goes to
			// another PSP: held while its primary is not available,
			// otherwise FAILED (the merchant's dunning retries it).
			if p.holdAtPrimary(w, st) {
				return
			}
			p.finish(w, st, schemas.StatusFailed, &out, "renewal not failed over (processor.recurring_hold: primary): "+out.Message)
			return
		}
		if act.Kind != router.RetryStop && p.retry(w, st, s, &out, summary, act) {
			return
		}
		switch {
		case out.Class == schemas.ClassHardDecline || out.Class == schemas.ClassSoftDecline:
			p.finish(w, st, schemas.StatusDeclined, &out, out.Message)
		case out.Class.FailsOver():
			log.Info("no PSP left to fail over to", "code", out.PSPCode, "why", act.Reason)
			p.finish(w, st, schemas.StatusFailed, &out, "all PSPs failed: "+out.Message)
		default:
			// A class payroute does not know: stop rather than guess.
			// Unknown codes never fail over.
			log.Error("unknown outcome class", "class", out.Class, "outcome", out.Outcome)
			p.finish(w, st, schemas.StatusFailed, &out, "unclassified PSP outcome")
		}
	}
}

// call runs one attempt, and for an in-doubt outcome inquires the same PSP
// with the same idempotency key on an exponential backoff until the PSP says
// what happened or the window closes. Only a confirmed "never processed" may
// fail over; it is reported as psp_error so the caller moves to the next rank.
// What the inquiries took is returned beside the outcome, for the attempt's
// record (AttemptRecorded.inquiries and in_doubt_ms): an episode settled
// within the attempt leaves no in_doubt class behind, and analytics would
// otherwise never see it.
//
// A re-sent call (resend) may follow a first send that the PSP processed
// before the instance that made it died. A PSP that now answers 503 or 429
// has not said whether it holds an outcome for the key, so failing over on
// that answer could approve the payment at a second PSP: the chaos harness
// caught exactly that, a PSP down after approving a first send. So an
// error answer to a re-send is in doubt (psp.InDoubtWhenResent), confirmed
// by a status inquiry, and not failed over unless the PSP confirms it never
// processed the request.
func (p *Processor) call(ctx context.Context, name string, req psp.Request, resend bool) (psp.Outcome, doubt) {
	conn, ok := p.connectors.Get(name)
	if !ok {
		// The decision names a PSP the current configuration no longer has.
		// Nothing was sent, so moving on is safe.
		return psp.Outcome{Outcome: schemas.OutcomeError, Class: schemas.ClassPSPError,
			PSPCode: "unknown_psp", Message: fmt.Sprintf("no PSP account %q is configured", name)}, doubt{}
	}
	actx, cancel := context.WithTimeout(ctx, p.cfg.AttemptTimeout)
	out := conn.Attempt(actx, req)
	cancel()
	if resend {
		out = psp.InDoubtWhenResent(out, "re-sent from the committed state after a restart or rebalance")
	}
	if out.Class != schemas.ClassInDoubt || p.cfg.InDoubtWindow == 0 {
		return out, doubt{}
	}
	answer, d := p.inquire(ctx, conn, req)
	switch {
	case answer == nil:
		return out, d
	case !answer.Found:
		return psp.Outcome{Outcome: schemas.OutcomeError, Class: schemas.ClassPSPError, Latency: out.Latency,
			PSPCode: "not_processed", Message: "timed out; the PSP confirms it never processed the request"}, d
	}
	resolved := answer.Outcome
	resolved.Latency = out.Latency
	return resolved, d
}

// inquire asks conn what became of req (its idempotency key), on an
// exponential backoff from in_doubt_initial_interval, until it says (not
// found, or an outcome it is no longer working on) or in_doubt_window (or
// ctx) ends; a failed inquiry, or a pending answer, is asked again. It
// returns the answer, nil when none came, and what the inquiries took.
func (p *Processor) inquire(ctx context.Context, conn psp.Connector, req psp.Request) (*psp.StatusOutcome, doubt) {
	since := p.now()
	var d doubt
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = p.cfg.InDoubtInitialInterval
	bo.MaxElapsedTime = p.cfg.InDoubtWindow
	var answer *psp.StatusOutcome
	_ = backoff.Retry(func() error {
		sctx, cancel := context.WithTimeout(ctx, p.cfg.AttemptTimeout)
		defer cancel()
		d.inquiries++
		st, err := conn.Status(sctx, req)
		if err != nil {
			return err // still in doubt: ask again later
		}
		if st.Found && st.Outcome.Class == schemas.ClassInDoubt {
			return fmt.Errorf("still pending at the PSP")
		}
		answer = &st
		return nil
	}, backoff.WithContext(bo, ctx))
	d.lasted = p.now().Sub(since)
	return answer, d
}

// newResult builds a result of the payment as it stands.
func (p *Processor) newResult(w *work, st *PaymentState, status schemas.Status, reason string) *schemas.PaymentResult {
	res := &schemas.PaymentResult{
		PaymentID: st.PaymentID, Operation: st.Operation, Status: status,
		AmountMinor: st.AmountMinor, Currency: st.Currency,
		AttemptCount: int32(len(st.Path)), Path: st.Path, Reason: schemas.RedactPAN(reason),
		ConfigVersion: st.Decision.ConfigVersion, RuleID: st.Decision.RuleID,
		CompletedAtMs: w.now.UnixMilli(),
	}
	if st.Request != nil {
		res.MerchantID = st.Request.MerchantID
		res.RequestedAtMs = st.Request.RequestedAtMs
	}
	if len(st.Path) > 0 {
		res.FirstPSP = st.Path[0].PSP
		res.PSP = st.Path[len(st.Path)-1].PSP
	}
	return res
}

func fill(res *schemas.PaymentResult, last *psp.Outcome) {
	if last == nil {
		return
	}
	res.PSPReference = last.Reference
	res.Class = last.Class
	res.PSPCode = last.PSPCode
	if res.Status == schemas.StatusActionRequired {
		res.ActionURL = last.ActionURL
	}
	if res.Status == schemas.StatusDeclined && last.Class == schemas.ClassSoftDecline {
		res.RetryAfterMs = last.RetryAfter.Milliseconds()
	}
}

// finish publishes the payment's one final result and keeps it in state to
// answer duplicates.
func (p *Processor) finish(w *work, st *PaymentState, status schemas.Status, last *psp.Outcome, reason string) {
	res := p.newResult(w, st, status, reason)
	fill(res, last)
	p.publishFinal(w, st, res)
}

func (p *Processor) publishFinal(w *work, st *PaymentState, res *schemas.PaymentResult) {
	st.Phase = PhaseFinal
	st.Result = res
	st.Scheduled = nil
	st.PendingRank = 0
	// The request is needed only to attempt the payment again; a final
	// payment keeps what duplicates and follow-ups need.
	st.Request = nil
	w.counts.result(res.Status)
	w.emit(p.resultRecord(res))
	w.save(st)
}
