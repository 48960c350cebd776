package consumers

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// attempt sends the payment to the PSP at rank (1-based) of the decision and
// acts on the classified outcome (PRODUCT.md, Flow step 4):
//
//	approved                    → APPROVED
//	hard or soft decline        → DECLINED (never failed over: declined anywhere)
//	customer error              → ACTION_REQUIRED on the same PSP
//	psp_error, rate_limited     → AttemptFailed on the next rank's retry topic, FAILED when none is left
//	in_doubt, unresolved        → IN_DOUBT (never failed over blind)
//	invalid_request             → REJECTED, and the input to the DLQ
func (p *Processor) attempt(ctx context.Context, src *kgo.Record, req *schemas.PaymentRequested,
	dec schemas.Decision, rank int, path []schemas.AttemptSummary) []*kgo.Record {
	cand := dec.Candidates[rank-1]
	preq := psp.Request{
		PaymentID:      req.PaymentID,
		IdempotencyKey: psp.IdempotencyKey(req.PaymentID, cand.PSP, req.Operation),
		Operation:      req.Operation,
		Method:         cand.Method,
		AmountMinor:    req.AmountMinor,
		Currency:       req.Currency,
		MerchantID:     req.MerchantID,
		PaymentMethod:  req.PaymentMethod,
	}
	started := time.Now()
	out := p.call(ctx, cand.PSP, preq)
	finished := time.Now()
	p.stats.attempts.Add(1)

	previous := ""
	if len(path) > 0 {
		previous = path[len(path)-1].PSP
	}
	number := int32(len(path) + 1)
	// Deterministic: re-processing the same input yields the same attempt id,
	// which is what lets analytics count each attempt once.
	attemptID := fmt.Sprintf("%s#%d", req.PaymentID, number)
	summary := schemas.AttemptSummary{
		AttemptID: attemptID, PSP: cand.PSP, Rank: int32(rank),
		Outcome: out.Outcome, Class: out.Class, PSPCode: out.PSPCode,
	}
	path = append(append([]schemas.AttemptSummary(nil), path...), summary)
	recorded := &schemas.AttemptRecorded{
		AttemptID: attemptID, PaymentID: req.PaymentID, MerchantID: req.MerchantID,
		AttemptNumber: number, Rank: int32(rank), PSP: cand.PSP, Method: cand.Method, PreviousPSP: previous,
		Operation: req.Operation, AmountMinor: req.AmountMinor, Currency: req.Currency,
		Outcome: out.Outcome, Class: out.Class, PSPCode: out.PSPCode, IssuerCode: out.IssuerCode,
		Message: out.Message, PSPReference: out.Reference, IdempotencyKey: preq.IdempotencyKey,
		LatencyMs:   out.Latency.Milliseconds(),
		CardNetwork: req.PaymentMethod.Network, CardFunding: req.PaymentMethod.Funding,
		CardBIN: req.PaymentMethod.BIN, IssuerCountry: req.PaymentMethod.IssuerCountry,
		ConfigVersion: dec.ConfigVersion, RuleID: dec.RuleID,
		StartedAtMs: started.UnixMilli(), FinishedAtMs: finished.UnixMilli(),
	}
	attemptRec, err := p.records.Attempt(recorded)
	if err != nil {
		panic(fmt.Sprintf("encode attempt of %s: %v", req.PaymentID, err))
	}
	outs := []*kgo.Record{attemptRec}
	log := p.log.With("payment_id", req.PaymentID, "psp", cand.PSP, "rank", rank)

	switch {
	case out.Outcome == schemas.OutcomeApproved:
		return append(outs, p.final(req, dec, path, schemas.StatusApproved, &out, "")...)
	case out.Class == schemas.ClassHardDecline || out.Class == schemas.ClassSoftDecline:
		return append(outs, p.final(req, dec, path, schemas.StatusDeclined, &out, out.Message)...)
	case out.Class == schemas.ClassCustomerError:
		return append(outs, p.final(req, dec, path, schemas.StatusActionRequired, &out, out.Message)...)
	case out.Class == schemas.ClassInDoubt:
		log.Warn("attempt in doubt after the inquiry window", "code", out.PSPCode)
		return append(outs, p.final(req, dec, path, schemas.StatusInDoubt, &out, out.Message)...)
	case out.Class == schemas.ClassInvalidRequest:
		outs = append(outs, p.records.DeadLetter(src, "psp_invalid_request", "", fmt.Errorf("%s: %s %s", cand.PSP, out.PSPCode, out.Message)))
		p.stats.deadLetter.Add(1)
		return append(outs, p.final(req, dec, path, schemas.StatusRejected, &out, out.Message)...)
	case out.Class.FailsOver():
		next := rank + 1
		if next > len(dec.Candidates) || next > p.maxRanks {
			log.Info("all ranks exhausted", "code", out.PSPCode)
			return append(outs, p.final(req, dec, path, schemas.StatusFailed, &out, "all PSPs failed: "+out.Message)...)
		}
		log.Info("failing over", "to", dec.Candidates[next-1].PSP, "class", out.Class, "code", out.PSPCode)
		retry, err := p.records.Retry(&schemas.AttemptFailed{
			PaymentID: req.PaymentID, Request: *req, Decision: dec, NextRank: int32(next),
			Failure: summary, Path: path, Message: out.Message, FailedAtMs: finished.UnixMilli(),
		})
		if err != nil {
			panic(fmt.Sprintf("encode retry of %s: %v", req.PaymentID, err))
		}
		p.stats.failovers.Add(1)
		return append(outs, retry)
	default:
		// A connector returned a class payroute does not know: stop here rather
		// than guess, and say so. Unknown codes never fail over.
		log.Error("unknown outcome class", "class", out.Class, "outcome", out.Outcome)
		return append(outs, p.final(req, dec, path, schemas.StatusFailed, &out, "unclassified PSP outcome")...)
	}
}

// call runs one attempt, and for an in-doubt outcome inquires the same PSP
// with the same idempotency key on an exponential backoff until the PSP says
// what happened or the window closes. Only a confirmed "never processed" may
// fail over; it is reported as psp_error so the caller moves to the next rank.
func (p *Processor) call(ctx context.Context, name string, req psp.Request) psp.Outcome {
	conn, ok := p.connectors.Get(name)
	if !ok {
		// The decision names a PSP the current configuration no longer has.
		// Nothing was sent, so moving on is safe.
		return psp.Outcome{Outcome: schemas.OutcomeError, Class: schemas.ClassPSPError,
			PSPCode: "unknown_psp", Message: fmt.Sprintf("no PSP account %q is configured", name)}
	}
	actx, cancel := context.WithTimeout(ctx, p.cfg.AttemptTimeout)
	out := conn.Attempt(actx, req)
	cancel()
	if out.Class != schemas.ClassInDoubt || p.cfg.InDoubtWindow == 0 {
		return out
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = p.cfg.InDoubtInitialInterval
	bo.MaxElapsedTime = p.cfg.InDoubtWindow
	var resolved *psp.Outcome
	_ = backoff.Retry(func() error {
		sctx, cancel := context.WithTimeout(ctx, p.cfg.AttemptTimeout)
		defer cancel()
		st, err := conn.Status(sctx, req)
		if err != nil {
			return err // still in doubt: ask again later
		}
		if !st.Found {
			r := psp.Outcome{Outcome: schemas.OutcomeError, Class: schemas.ClassPSPError,
				PSPCode: "not_processed", Message: "timed out; the PSP confirms it never processed the request"}
			resolved = &r
			return nil
		}
		r := st.Outcome
		if r.Class == schemas.ClassInDoubt {
			return fmt.Errorf("still pending at %s", name)
		}
		resolved = &r
		return nil
	}, backoff.WithContext(bo, ctx))
	if resolved == nil {
		return out
	}
	resolved.Latency = out.Latency
	return *resolved
}

// final builds the one final result of a payment.
func (p *Processor) final(req *schemas.PaymentRequested, dec schemas.Decision, path []schemas.AttemptSummary,
	status schemas.Status, last *psp.Outcome, reason string) []*kgo.Record {
	res := &schemas.PaymentResult{
		PaymentID: req.PaymentID, MerchantID: req.MerchantID, Operation: req.Operation,
		Status: status, AmountMinor: req.AmountMinor, Currency: req.Currency,
		AttemptCount: int32(len(path)), Path: path, Reason: reason,
		ConfigVersion: dec.ConfigVersion, RuleID: dec.RuleID,
		RequestedAtMs: req.RequestedAtMs, CompletedAtMs: time.Now().UnixMilli(),
	}
	if len(path) > 0 {
		res.FirstPSP = path[0].PSP
		res.PSP = path[len(path)-1].PSP
	}
	if last != nil {
		res.PSPReference = last.Reference
		res.Class = last.Class
		res.PSPCode = last.PSPCode
		if status == schemas.StatusDeclined && last.Class == schemas.ClassSoftDecline {
			res.RetryAfterMs = last.RetryAfter.Milliseconds()
		}
	}
	return p.resultRecord(res)
}
