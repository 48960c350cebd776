package consumers

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/schemas"
)

// handleFollowUp processes a CAPTURE, VOID or REFUND on the partition of the
// payment it follows, whose state says which PSP authorized it. Follow-ups
// go to that PSP, never anywhere else (an authorization can only be captured
// where it was made, Recurly's limitation made a rule), and are refused
// clearly when there is nothing to follow. The follow-up's own state lives
// here too, beside its authorization, so duplicates of it are recognized.
func (p *Processor) handleFollowUp(w *work, rec *kgo.Record) {
	req, ok := p.decodeRequest(w, rec)
	if !ok {
		return
	}
	if p.answerDuplicate(w, req.PaymentID) {
		return
	}
	auth, ok := w.view.get(req.ReferencePaymentID)
	refuse := func(why string) {
		p.reject(w, rec, req, req.PaymentID, "no_authorization", "reference_payment_id", fmt.Errorf("%s", why))
	}
	switch {
	case !ok:
		refuse(fmt.Sprintf("payment %s is unknown: there is nothing to %s", req.ReferencePaymentID, req.Operation))
		return
	case auth.Phase != PhaseFinal || auth.Result == nil || auth.Result.Status != schemas.StatusApproved || auth.AuthorizingPSP == "":
		refuse(fmt.Sprintf("payment %s is not approved (%s): there is nothing to %s", req.ReferencePaymentID, auth.Phase, req.Operation))
		return
	case auth.Voided || auth.VoidPending:
		refuse(fmt.Sprintf("payment %s is voided", req.ReferencePaymentID))
		return
	case req.Currency != auth.Currency:
		refuse(fmt.Sprintf("currency %s differs from the authorization's %s", req.Currency, auth.Currency))
		return
	}
	switch req.Operation {
	case schemas.OpCapture:
		if auth.Operation != schemas.OpAuthorize {
			refuse(fmt.Sprintf("payment %s is a %s, not an authorization", req.ReferencePaymentID, auth.Operation))
			return
		}
		if taken := auth.CapturedMinor + auth.ReservedCaptureMinor; taken+req.AmountMinor > auth.AmountMinor {
			refuse(fmt.Sprintf("capture of %d exceeds what remains authorized (%d of %d captured or being captured)", req.AmountMinor, taken, auth.AmountMinor))
			return
		}
	case schemas.OpVoid:
		if auth.Operation != schemas.OpAuthorize || auth.CapturedMinor+auth.ReservedCaptureMinor > 0 {
			refuse(fmt.Sprintf("payment %s cannot be voided: only an uncaptured authorization can", req.ReferencePaymentID))
			return
		}
	case schemas.OpRefund:
		settled := auth.AmountMinor
		if auth.Operation == schemas.OpAuthorize {
			settled = auth.CapturedMinor
		}
		if taken := auth.RefundedMinor + auth.ReservedRefundMinor; taken+req.AmountMinor > settled {
			refuse(fmt.Sprintf("refund of %d exceeds what is refundable (%d of %d refunded or being refunded)", req.AmountMinor, taken, settled))
			return
		}
	}
	dec, err := p.router.RouteFollowUp(req, auth.AuthorizingPSP)
	if err != nil {
		refuse(err.Error())
		return
	}
	st := &PaymentState{PaymentID: req.PaymentID, Phase: PhaseInFlight, Request: req, Decision: dec,
		Operation: req.Operation, AmountMinor: req.AmountMinor, Currency: req.Currency}
	// What the follow-up takes is reserved on the authorization until its
	// outcome is known (settleFollowUp), so concurrent follow-ups cannot
	// together take more than there is.
	reserve(auth, req, +1)
	w.save(auth)
	p.attempt(w, rec, st, step{rank: 1, psp: dec.Candidates[0].PSP, method: dec.Candidates[0].Method, followUp: true,
		authorizationReference: auth.AuthorizationReference})
}

// reserve adds (sign +1) or releases (sign -1) a follow-up's reservation.
func reserve(auth *PaymentState, req *schemas.PaymentRequested, sign int64) {
	switch req.Operation {
	case schemas.OpCapture:
		auth.ReservedCaptureMinor += sign * req.AmountMinor
	case schemas.OpVoid:
		auth.VoidPending = sign > 0
	case schemas.OpRefund:
		auth.ReservedRefundMinor += sign * req.AmountMinor
	}
}

// settleFollowUp releases a finished follow-up's reservation on its
// authorization and, when the PSP approved it, applies it.
func (p *Processor) settleFollowUp(w *work, st *PaymentState, approved bool) {
	req := st.Request
	auth, ok := w.view.get(req.ReferencePaymentID)
	if !ok {
		return // expired meanwhile: nothing left to keep count of
	}
	reserve(auth, req, -1)
	if approved {
		switch req.Operation {
		case schemas.OpCapture:
			auth.CapturedMinor += req.AmountMinor
		case schemas.OpVoid:
			auth.Voided = true
		case schemas.OpRefund:
			auth.RefundedMinor += req.AmountMinor
		}
	}
	w.save(auth)
}
