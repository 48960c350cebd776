package stripe

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// DeclineCodes maps Stripe's decline_code (docs.stripe.com/declines/codes)
// to a class. The card would be declined anywhere for a hard decline; the
// issuer may approve later for a soft one; the customer can fix a
// customer_error (PIN, CVC, number typo, 3-D Secure) on the same PSP.
var DeclineCodes = []psp.CodeRule{
	{Code: "authentication_required", Class: schemas.ClassCustomerError, Meaning: "the issuer requires authentication such as 3-D Secure"},
	{Code: "approve_with_id", Class: schemas.ClassSoftDecline, Meaning: "the payment cannot be authorized now; try again"},
	{Code: "call_issuer", Class: schemas.ClassSoftDecline, Meaning: "declined for an unknown reason; the customer should call the issuer"},
	{Code: "card_not_supported", Class: schemas.ClassHardDecline, Meaning: "the card does not support this type of purchase"},
	{Code: "card_velocity_exceeded", Class: schemas.ClassSoftDecline, Meaning: "balance, credit limit or transaction amount limit exceeded"},
	{Code: "currency_not_supported", Class: schemas.ClassHardDecline, Meaning: "the card does not support this currency"},
	{Code: "do_not_honor", Class: schemas.ClassHardDecline, Meaning: "do not honor (treated as category 1: never retried)"},
	{Code: "do_not_try_again", Class: schemas.ClassHardDecline, Meaning: "the issuer says not to try again"},
	{Code: "duplicate_transaction", Class: schemas.ClassHardDecline, Meaning: "an identical transaction was submitted very recently"},
	{Code: "expired_card", Class: schemas.ClassHardDecline, Meaning: "the card has expired"},
	{Code: "fraudulent", Class: schemas.ClassHardDecline, Meaning: "suspected fraud"},
	{Code: "generic_decline", Class: schemas.ClassSoftDecline, Meaning: "declined without a reason"},
	{Code: "incorrect_number", Class: schemas.ClassCustomerError, Meaning: "the card number is incorrect"},
	{Code: "incorrect_cvc", Class: schemas.ClassCustomerError, Meaning: "the CVC is incorrect"},
	{Code: "incorrect_pin", Class: schemas.ClassCustomerError, Meaning: "the PIN is incorrect"},
	{Code: "incorrect_zip", Class: schemas.ClassCustomerError, Meaning: "the postal code is incorrect"},
	{Code: "insufficient_funds", Class: schemas.ClassSoftDecline, Meaning: "insufficient funds"},
	{Code: "invalid_account", Class: schemas.ClassHardDecline, Meaning: "the card or its account is invalid"},
	{Code: "invalid_amount", Class: schemas.ClassHardDecline, Meaning: "the amount is invalid or exceeds what the card allows"},
	{Code: "invalid_cvc", Class: schemas.ClassCustomerError, Meaning: "the CVC is invalid"},
	{Code: "invalid_expiry_month", Class: schemas.ClassCustomerError, Meaning: "the expiry month is invalid"},
	{Code: "invalid_expiry_year", Class: schemas.ClassCustomerError, Meaning: "the expiry year is invalid"},
	{Code: "invalid_number", Class: schemas.ClassCustomerError, Meaning: "the card number is invalid"},
	{Code: "invalid_pin", Class: schemas.ClassCustomerError, Meaning: "the PIN is invalid"},
	{Code: "issuer_not_available", Class: schemas.ClassSoftDecline, Meaning: "the issuer could not be reached"},
	{Code: "lost_card", Class: schemas.ClassHardDecline, Meaning: "the card was reported lost"},
	{Code: "merchant_blacklist", Class: schemas.ClassHardDecline, Meaning: "matches a value on the merchant's block list"},
	{Code: "new_account_information_available", Class: schemas.ClassHardDecline, Meaning: "the card or account has new details"},
	{Code: "no_action_taken", Class: schemas.ClassSoftDecline, Meaning: "declined for an unknown reason"},
	{Code: "not_permitted", Class: schemas.ClassHardDecline, Meaning: "the payment is not permitted"},
	{Code: "offline_pin_required", Class: schemas.ClassCustomerError, Meaning: "the card requires a PIN"},
	{Code: "online_or_offline_pin_required", Class: schemas.ClassCustomerError, Meaning: "the card requires a PIN"},
	{Code: "pickup_card", Class: schemas.ClassHardDecline, Meaning: "the issuer asks to retain the card"},
	{Code: "pin_try_exceeded", Class: schemas.ClassHardDecline, Meaning: "too many PIN attempts"},
	{Code: "processing_error", Class: schemas.ClassPSPError, Meaning: "an error occurred while processing the card; attempt again"},
	{Code: "reenter_transaction", Class: schemas.ClassSoftDecline, Meaning: "the issuer could not process it; try again"},
	{Code: "restricted_card", Class: schemas.ClassHardDecline, Meaning: "the card cannot be used for this payment"},
	{Code: "revocation_of_all_authorizations", Class: schemas.ClassHardDecline, Meaning: "all authorizations revoked"},
	{Code: "revocation_of_authorization", Class: schemas.ClassHardDecline, Meaning: "authorization revoked"},
	{Code: "security_violation", Class: schemas.ClassHardDecline, Meaning: "security violation"},
	{Code: "service_not_allowed", Class: schemas.ClassHardDecline, Meaning: "the card does not allow this service"},
	{Code: "stolen_card", Class: schemas.ClassHardDecline, Meaning: "the card was reported stolen"},
	{Code: "stop_payment_order", Class: schemas.ClassHardDecline, Meaning: "the customer stopped all payments"},
	{Code: "testmode_decline", Class: schemas.ClassHardDecline, Meaning: "a test card number was used in live mode"},
	{Code: "transaction_not_allowed", Class: schemas.ClassHardDecline, Meaning: "the card does not allow this transaction"},
	{Code: "try_again_later", Class: schemas.ClassSoftDecline, Meaning: "try again later"},
	{Code: "withdrawal_count_limit_exceeded", Class: schemas.ClassSoftDecline, Meaning: "the card's withdrawal count limit is exceeded"},
}

// AdviceCodes maps Stripe's advice_code, its summary of what the issuer
// and network advise (docs.stripe.com/declines/card).
var AdviceCodes = []psp.CodeRule{
	{Code: "confirm_card_data", Class: schemas.ClassCustomerError, Meaning: "the customer must update their card details"},
	{Code: "do_not_try_again", Class: schemas.ClassHardDecline, Meaning: "do not retry with this card"},
	{Code: "try_again_later", Class: schemas.ClassSoftDecline, Meaning: "a later retry may succeed"},
}

// ErrorCodes maps Stripe's error code (docs.stripe.com/error-codes): card
// codes used when no decline_code is given, and the codes of other errors
// whose meaning decides over the HTTP status.
var ErrorCodes = []psp.CodeRule{
	{Code: "card_declined", Class: schemas.ClassSoftDecline, Meaning: "the card was declined (no more specific code)"},
	{Code: "expired_card", Class: schemas.ClassHardDecline, Meaning: "the card has expired"},
	{Code: "incorrect_cvc", Class: schemas.ClassCustomerError, Meaning: "the CVC is incorrect"},
	{Code: "invalid_cvc", Class: schemas.ClassCustomerError, Meaning: "the CVC is invalid"},
	{Code: "incorrect_number", Class: schemas.ClassCustomerError, Meaning: "the card number is incorrect"},
	{Code: "invalid_number", Class: schemas.ClassCustomerError, Meaning: "the card number is invalid"},
	{Code: "invalid_expiry_month", Class: schemas.ClassCustomerError, Meaning: "the expiry month is invalid"},
	{Code: "invalid_expiry_year", Class: schemas.ClassCustomerError, Meaning: "the expiry year is invalid"},
	{Code: "incorrect_zip", Class: schemas.ClassCustomerError, Meaning: "the postal code failed validation"},
	{Code: "authentication_required", Class: schemas.ClassCustomerError, Meaning: "the payment requires authentication"},
	{Code: "payment_intent_authentication_failure", Class: schemas.ClassCustomerError, Meaning: "3-D Secure authentication failed"},
	{Code: "card_decline_rate_limit_exceeded", Class: schemas.ClassSoftDecline, Meaning: "this card was declined too often recently; wait"},
	{Code: "processing_error", Class: schemas.ClassPSPError, Meaning: "an error occurred while processing the card"},
	{Code: "rate_limit", Class: schemas.ClassRateLimited, Meaning: "too many requests"},
	{Code: "lock_timeout", Class: schemas.ClassRateLimited, Meaning: "the object is locked by another request; not executed"},
	{Code: "idempotency_key_in_use", Class: schemas.ClassInDoubt, Meaning: "another request with this idempotency key is still being processed"},
	{Code: "api_key_expired", Class: schemas.ClassPSPError, Meaning: "our API key has expired"},
	{Code: "secret_key_required", Class: schemas.ClassPSPError, Meaning: "the configured key is not a secret key"},
	{Code: "testmode_charges_only", Class: schemas.ClassPSPError, Meaning: "the account cannot take live charges yet"},
	{Code: "account_invalid", Class: schemas.ClassPSPError, Meaning: "the account is not valid for this request"},
	{Code: "resource_missing", Class: schemas.ClassInvalidRequest, Meaning: "the referenced object does not exist"},
	{Code: "payment_intent_unexpected_state", Class: schemas.ClassInvalidRequest, Meaning: "the PaymentIntent is in the wrong state for this operation"},
	{Code: "charge_already_captured", Class: schemas.ClassInvalidRequest, Meaning: "already captured"},
	{Code: "charge_already_refunded", Class: schemas.ClassInvalidRequest, Meaning: "already refunded"},
	{Code: "amount_too_small", Class: schemas.ClassInvalidRequest, Meaning: "the amount is below the minimum"},
	{Code: "amount_too_large", Class: schemas.ClassInvalidRequest, Meaning: "the amount is above the maximum"},
	{Code: "parameter_invalid_integer", Class: schemas.ClassInvalidRequest, Meaning: "a parameter is not an integer"},
	{Code: "parameter_missing", Class: schemas.ClassInvalidRequest, Meaning: "a required parameter is missing"},
	{Code: "parameter_unknown", Class: schemas.ClassInvalidRequest, Meaning: "an unknown parameter was sent"},
	{Code: "payment_method_unexpected_state", Class: schemas.ClassInvalidRequest, Meaning: "the payment method cannot be used in its state"},
}

// StatusRule maps an HTTP status to a class, and gives the PSP code an
// answer without Stripe's error code is recorded with.
type StatusRule struct {
	Status  int
	Class   schemas.Class
	Code    string
	Meaning string
}

// HTTPStatuses classifies error answers that are neither card errors nor
// carry an ErrorCodes code (Stripe's status code summary). Other 5xx are
// psp_error, other 4xx invalid_request.
var HTTPStatuses = []StatusRule{
	{Status: http.StatusBadRequest, Class: schemas.ClassInvalidRequest, Code: "invalid_request_error", Meaning: "the request was unacceptable"},
	{Status: http.StatusUnauthorized, Class: schemas.ClassPSPError, Code: "authentication_error", Meaning: "no valid API key: our credentials, fail over"},
	{Status: http.StatusForbidden, Class: schemas.ClassPSPError, Code: "permission_error", Meaning: "the key may not do this: our configuration, fail over"},
	{Status: http.StatusNotFound, Class: schemas.ClassInvalidRequest, Code: "resource_missing", Meaning: "the referenced object does not exist"},
	{Status: http.StatusConflict, Class: schemas.ClassInvalidRequest, Code: "idempotency_error", Meaning: "the idempotency key was used with other parameters"},
	{Status: http.StatusFailedDependency, Class: schemas.ClassInDoubt, Code: "external_dependency_failed", Meaning: "a dependency outside Stripe failed; the result is unknown"},
	{Status: http.StatusTooManyRequests, Class: schemas.ClassRateLimited, Code: "rate_limit", Meaning: "too many requests"},
	{Status: http.StatusInternalServerError, Class: schemas.ClassInDoubt, Code: "api_error", Meaning: "Stripe documents a 500's result as indeterminate"},
	{Status: http.StatusBadGateway, Class: schemas.ClassPSPError, Code: "bad_gateway", Meaning: "bad gateway"},
	{Status: http.StatusServiceUnavailable, Class: schemas.ClassPSPError, Code: "service_unavailable", Meaning: "Stripe is unavailable"},
	{Status: http.StatusGatewayTimeout, Class: schemas.ClassPSPError, Code: "gateway_timeout", Meaning: "gateway timeout"},
}

// IntentStatuses maps a PaymentIntent's status after an operation to a
// class. Approval depends on the operation (approvedStatus); the rest is
// the same for every operation. requires_payment_method is classified by
// the intent's last_payment_error when it has one.
var IntentStatuses = []psp.CodeRule{
	{Code: "processing", Class: schemas.ClassInDoubt, Meaning: "the payment is still processing; its outcome is not known yet"},
	{Code: "requires_action", Class: schemas.ClassCustomerError, Meaning: "the customer must act (3-D Secure)"},
	{Code: "requires_payment_method", Class: schemas.ClassSoftDecline, Meaning: "the payment failed; a new payment method is needed"},
}

// RefundStatuses maps a Refund's status.
var RefundStatuses = []psp.CodeRule{
	{Code: "requires_action", Class: schemas.ClassCustomerError, Meaning: "the customer must act before the refund"},
	{Code: "failed", Class: schemas.ClassSoftDecline, Meaning: "the refund failed"},
	{Code: "canceled", Class: schemas.ClassSoftDecline, Meaning: "the refund was canceled"},
}

var (
	declineIndex = psp.IndexCodes(DeclineCodes)
	adviceIndex  = psp.IndexCodes(AdviceCodes)
	errorIndex   = psp.IndexCodes(ErrorCodes)
	intentIndex  = psp.IndexCodes(IntentStatuses)
	refundIndex  = psp.IndexCodes(RefundStatuses)
	statusIndex  = map[int]StatusRule{}
)

func init() {
	for _, r := range HTTPStatuses {
		statusIndex[r.Status] = r
	}
}

// approvedStatus reports whether a PaymentIntent status after op means the
// operation was approved. An AUTHORIZE or CHARGE is approved once the
// issuer approved, captured or not: reporting an approved authorization as
// anything else could make it fail over and authorize twice.
func approvedStatus(op schemas.Operation, status string) bool {
	switch op {
	case schemas.OpAuthorize, schemas.OpCharge:
		return status == "requires_capture" || status == "succeeded"
	case schemas.OpCapture:
		return status == "succeeded"
	case schemas.OpVoid:
		return status == "canceled"
	}
	return false
}

// classifyDecline classifies a card error (see the package doc for the
// order of the tables).
func classifyDecline(e *apiError, network string) psp.Outcome {
	code := e.DeclineCode
	if code == "" {
		code = e.Code
	}
	out := psp.Outcome{PSPCode: code, IssuerCode: e.NetworkDeclineCode, Message: e.Message}
	if out.PSPCode == "" {
		out.PSPCode = "card_declined"
	}
	class := psp.UnknownCodeClass
	if r, ok := psp.AdviceCode(e.NetworkAdviceCode); ok && strings.EqualFold(network, "mastercard") {
		class, out.RetryAfter = r.Class, r.RetryAfter
		out.Message = strings.TrimSpace(out.Message + " (merchant advice " + e.NetworkAdviceCode + ")")
	} else if r, ok := adviceIndex.Lookup(e.AdviceCode); ok {
		class = r.Class
	} else if r, ok := declineIndex.Lookup(e.DeclineCode); ok {
		class = r.Class
	} else if r, ok := psp.IssuerCode(e.NetworkDeclineCode); ok {
		class = r.Class
	} else if r, ok := errorIndex.Lookup(e.Code); ok {
		class = r.Class
	}
	out.Class = class
	out.Outcome = psp.OutcomeOf(class)
	return out
}

// classifyError classifies an error answer. e is nil when the body is not
// Stripe's error envelope.
func classifyError(status int, header http.Header, e *apiError, network string) psp.Outcome {
	if status == http.StatusPaymentRequired || (e != nil && e.Type == "card_error") {
		if e == nil {
			e = &apiError{Type: "card_error"}
		}
		return classifyDecline(e, network)
	}
	var out psp.Outcome
	rule, listed := statusIndex[status]
	switch {
	case e != nil && errorCodeDecides(e.Code):
		r, _ := errorIndex.Lookup(e.Code)
		out = psp.Failure(r.Class, e.Code, e.Message)
	case status == http.StatusNotFound && e == nil:
		out = psp.Failure(schemas.ClassPSPError, "http_404", "no Stripe API at this endpoint (check the account's endpoint)")
	case listed:
		code := rule.Code
		switch {
		case e != nil && e.Code != "":
			code = e.Code
		case e != nil && e.Type == "idempotency_error":
			code = e.Type
		}
		out = psp.Failure(rule.Class, code, rule.Meaning)
	case status >= 500:
		out = psp.Failure(schemas.ClassPSPError, "http_"+strconv.Itoa(status), "Stripe server error")
	default:
		out = psp.Failure(schemas.ClassInvalidRequest, "invalid_request_error", "unexpected HTTP status "+http.StatusText(status))
	}
	if e != nil && e.Message != "" {
		out.Message = e.Message
	}
	if out.Class == schemas.ClassRateLimited {
		out.RetryAfter = psp.ParseRetryAfter(header.Get("Retry-After"))
	}
	return out
}

// errorCodeDecides reports whether an error code, rather than the HTTP
// status, classifies a non-card error: the codes listed in ErrorCodes.
func errorCodeDecides(code string) bool {
	_, ok := errorIndex.Lookup(code)
	return ok
}

// classifyIntent classifies a PaymentIntent returned by an operation.
func classifyIntent(op schemas.Operation, pi *paymentIntent, network string) psp.Outcome {
	if approvedStatus(op, pi.Status) {
		return psp.Outcome{Outcome: schemas.OutcomeApproved, Reference: pi.ID, PSPCode: pi.Status, Message: pi.Status}
	}
	var out psp.Outcome
	switch r, listed := intentIndex.Lookup(pi.Status); {
	case pi.Status == "requires_payment_method" && pi.LastPaymentError != nil && pi.LastPaymentError.hasCode():
		out = classifyDecline(pi.LastPaymentError, network)
	case listed:
		out = psp.Failure(r.Class, pi.Status, r.Meaning)
		if pi.Status == "requires_action" {
			out.Pending = true
		}
		if pi.Status == "requires_action" && pi.NextAction != nil && pi.NextAction.Type != "" {
			out.Message += ": " + pi.NextAction.Type
			if r := pi.NextAction.RedirectToURL; r != nil {
				out.ActionURL = r.URL
			}
		}
	default:
		out = psp.Failure(psp.UnknownCodeClass, "status_"+pi.Status, "unexpected PaymentIntent status "+pi.Status+" after "+string(op))
	}
	out.Reference = pi.ID
	return out
}

// classifyRefund classifies a Refund.
func classifyRefund(rf *refund) psp.Outcome {
	switch rf.Status {
	case "succeeded", "pending":
		// pending: accepted, settling asynchronously; Stripe reports a
		// failure later, outside the attempt.
		return psp.Outcome{Outcome: schemas.OutcomeApproved, Reference: rf.ID, PSPCode: rf.Status, Message: rf.Status}
	}
	var out psp.Outcome
	if r, ok := refundIndex.Lookup(rf.Status); ok {
		out = psp.Failure(r.Class, "refund_"+rf.Status, r.Meaning)
		if rf.FailureReason != "" {
			out.PSPCode = rf.FailureReason
		}
	} else {
		out = psp.Failure(psp.UnknownCodeClass, "status_"+rf.Status, "unexpected refund status "+rf.Status)
	}
	out.Reference = rf.ID
	return out
}
