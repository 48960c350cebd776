package router

import (
	"fmt"
	"time"

	"github.com/payroute/payroute/schemas"
)

// RetryKind is where a failed attempt is retried.
type RetryKind string

const (
	// RetryNextRank retries on the decision's next candidate, through the
	// retry topic of RetryAction.Rank (PortOne "PSP Error").
	RetryNextRank RetryKind = "next_rank"
	// RetrySamePSP retries on the PSP that failed (after Delay: Payrails'
	// "retry InsufficientFunds in 24 hours"). The retry is a new request to
	// the PSP and needs a new idempotency key (psp.RetryIdempotencyKey).
	RetrySamePSP RetryKind = "same_psp"
	// RetryNamedPSP retries on RetryAction.PSP (Payrails' "retry all failed
	// Stripe authorizations with Adyen").
	RetryNamedPSP RetryKind = "psp"
	// RetryStop ends the payment with the failed attempt's outcome.
	RetryStop RetryKind = "stop"
)

func lookupRetryKind(s string) (RetryKind, bool) {
	switch k := RetryKind(s); k {
	case RetryNextRank, RetrySamePSP, RetryNamedPSP, RetryStop:
		return k, true
	}
	return "", false
}

// RuleIDs a RetryAction carries when no retry rule decided.
const (
	// RetryRuleDefault: no retry rule matched; the class decided
	// (psp_error and rate_limited go to the next rank, the rest stop).
	RetryRuleDefault = "default"
	// RetryRuleNever: the class is never retried (hard declines, customer
	// errors, in-doubt and invalid requests, approvals).
	RetryRuleNever = "never"
	// RetryRuleLimit: the payment has made Configuration.MaxAttempts attempts.
	RetryRuleLimit = "max_attempts"
)

// RetryInput describes a failed attempt, for RetryAction.
type RetryInput struct {
	// Class is the failed attempt's classification.
	Class schemas.Class
	// PSPCode and IssuerCode are its codes (retry fields psp_code and
	// issuer_code: "insufficient_funds", "51").
	PSPCode, IssuerCode string
	// AttemptNumber is the number of the attempt that failed, 1 for the
	// first; retry rules see the attempt the retry would be as "attempt"
	// (AttemptNumber+1, Payrails' "current authorize attempt").
	AttemptNumber int
	// LastPSP is the PSP that failed (Payrails' "last authorize provider").
	// Empty means the candidate at Rank.
	LastPSP string
	// Decision is the payment's routing decision, as carried with it.
	Decision schemas.Decision
	// Rank is the rank of the failed attempt in Decision.Candidates (1..n).
	Rank int
	// Request is the payment, optional: retry rules testing payment
	// fields (currency, metadata) see an empty payment without it.
	Request *schemas.PaymentRequested
}

// RetryAction is what to do after a failed attempt.
type RetryAction struct {
	Kind RetryKind
	// PSP and Method are where the retry goes; empty for RetryStop.
	PSP, Method string
	// Rank is, for RetryNextRank, the rank to attempt: the retry topic
	// payments.retry.rank-<Rank>. It is 0 for other kinds, whose retry is
	// outside the decision's ranked list.
	Rank int
	// Delay is how long to wait before the retry.
	Delay time.Duration
	// RuleID is the retry rule that decided, or RetryRuleDefault,
	// RetryRuleNever or RetryRuleLimit.
	RuleID string
	// ConfigVersion is the version whose retry rules decided.
	ConfigVersion string
	// Reason says why, for logs and explanations.
	Reason string
}

// RetryAction decides what follows the failed attempt in: the first retry
// rule whose conditions hold, or else the default by class. It is pure and
// safe for concurrent use.
//
// Some outcomes are fixed and no rule changes them (PRODUCT.md,
// Classification): an approval, a hard decline, a customer error (the
// customer decides, on the same PSP, via payments.actions), an in-doubt
// attempt (resolved by status inquiries at the same PSP, never failed over
// blind) and an invalid request all stop. So does a payment that has made
// Configuration.MaxAttempts attempts. Retry rules are consulted for
// soft_decline, psp_error and rate_limited only.
//
// A next_rank action with no rank left becomes a stop: the payment has
// nowhere left to go. A follow-up (a decision pinned by RouteFollowUp) is
// never failed over: it has one rank, and a rule naming another PSP stops
// it instead.
//
// To evaluate a payment against the rules of the configuration version it
// started with, call it on Holder.Version(in.Decision.ConfigVersion), or use
// Holder.RetryAction.
func (r *Router) RetryAction(in RetryInput) RetryAction {
	act := r.retryAction(&in)
	act.ConfigVersion = r.version
	return act
}

func (r *Router) retryAction(in *RetryInput) RetryAction {
	switch in.Class {
	case schemas.ClassSoftDecline, schemas.ClassPSPError, schemas.ClassRateLimited:
	default:
		return RetryAction{Kind: RetryStop, RuleID: RetryRuleNever, Reason: fmt.Sprintf("class %q is never retried", in.Class)}
	}
	if in.AttemptNumber >= r.maxAttempts {
		return RetryAction{Kind: RetryStop, RuleID: RetryRuleLimit,
			Reason: fmt.Sprintf("attempt %d reached max_attempts (%d)", in.AttemptNumber, r.maxAttempts)}
	}
	inp := makeInput(in.Request, in)
	for _, rr := range r.retryRules {
		ok := true
		for _, c := range rr.conds {
			if !c.eval(&inp) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		act := RetryAction{Kind: rr.kind, Delay: rr.delay, RuleID: rr.id}
		switch rr.kind {
		case RetryNextRank:
			return r.nextRank(in, act)
		case RetrySamePSP:
			act.PSP, act.Method = r.lastPSP(in)
			act.Reason = "retry rule " + rr.id + ": same PSP"
		case RetryNamedPSP:
			if in.Decision.RuleID == RulePinned {
				if last, _ := r.lastPSP(in); last != rr.psp {
					return RetryAction{Kind: RetryStop, RuleID: rr.id,
						Reason: "retry rule " + rr.id + " names PSP " + rr.psp + ", but a follow-up is pinned to " + last + " and never failed over"}
				}
			}
			act.PSP, act.Method = rr.psp, rr.method
			act.Reason = "retry rule " + rr.id + ": PSP " + rr.psp
		case RetryStop:
			act.Reason = "retry rule " + rr.id + ": stop"
		}
		return act
	}
	if in.Class.FailsOver() {
		return r.nextRank(in, RetryAction{Kind: RetryNextRank, RuleID: RetryRuleDefault})
	}
	return RetryAction{Kind: RetryStop, RuleID: RetryRuleDefault, Reason: fmt.Sprintf("class %q is not retried without a retry rule", in.Class)}
}

// nextRank fills a next_rank action from the decision, or stops when no
// rank is left. Decisions from this router never rank an account excluded
// from failover after first place, but one made by an older version may:
// such ranks are skipped.
func (r *Router) nextRank(in *RetryInput, act RetryAction) RetryAction {
	cands := in.Decision.Candidates
	if in.Rank >= 1 {
		for next := in.Rank + 1; next <= len(cands); next++ {
			c := cands[next-1]
			if r.excluded[c.PSP] {
				continue
			}
			act.PSP, act.Method, act.Rank = c.PSP, c.Method, next
			act.Reason = fmt.Sprintf("next rank %d", next)
			return act
		}
	}
	return RetryAction{Kind: RetryStop, RuleID: act.RuleID, Reason: fmt.Sprintf("no rank after %d of %d left to fail over to", in.Rank, len(cands))}
}

// lastPSP is the PSP and method that failed.
func (r *Router) lastPSP(in *RetryInput) (string, string) {
	if in.Rank >= 1 && in.Rank <= len(in.Decision.Candidates) {
		c := in.Decision.Candidates[in.Rank-1]
		if in.LastPSP == "" || in.LastPSP == c.PSP {
			return c.PSP, c.Method
		}
	}
	return in.LastPSP, ""
}
