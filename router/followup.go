package router

import "github.com/payroute/payroute/schemas"

// RouteFollowUp routes a CAPTURE, VOID or REFUND to the PSP that authorized
// the payment it follows: one candidate, that PSP, with RuleID RulePinned.
// A follow-up is never failed over and never routed by rules, overrides or
// candidates in the event: the capture or cancellation "needs to be
// completed on the same gateway as the original authorization" (Recurly),
// whichever rank that authorization reached. The PSP is pinned even when
// it is excluded from failover, since this is not failover.
//
// authorizingPSP comes from the payment state of req.ReferencePaymentID;
// the processor rejects the follow-up itself when it does not know it. The
// error is a *RouteError: ReasonFollowUp for a request that is not a
// follow-up or an empty authorizingPSP, ReasonUnknownPSP when the PSP is no
// longer configured.
func (r *Router) RouteFollowUp(req *schemas.PaymentRequested, authorizingPSP string) (schemas.Decision, error) {
	if req == nil {
		return schemas.Decision{}, routeErr(ReasonFollowUp, "no payment request")
	}
	switch req.Operation {
	case schemas.OpCapture, schemas.OpVoid, schemas.OpRefund:
	default:
		return schemas.Decision{}, routeErr(ReasonFollowUp, "%s is not a follow-up: only CAPTURE, VOID and REFUND are pinned", req.Operation)
	}
	if authorizingPSP == "" {
		return schemas.Decision{}, routeErr(ReasonFollowUp, "%s of payment %q: the authorizing PSP is unknown", req.Operation, req.ReferencePaymentID)
	}
	if !r.known[authorizingPSP] {
		return schemas.Decision{}, routeErr(ReasonUnknownPSP, "%s of payment %q: authorizing PSP %q is not configured", req.Operation, req.ReferencePaymentID, authorizingPSP)
	}
	return r.decision(RulePinned, []schemas.Candidate{{PSP: authorizingPSP, Rank: 1}}), nil
}
