package simulator

import (
	"net/http"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// CodeRule is one row of a classification table (psp.CodeRule).
type CodeRule = psp.CodeRule

// DeclineCodes maps the PSP's own code (the "code" field of a response) to a
// class. Codes not listed classify as UnknownCodeClass.
var DeclineCodes = []CodeRule{
	// The card would be declined anywhere: final DECLINED, never retried.
	{Code: "stolen_card", Class: schemas.ClassHardDecline, Meaning: "card reported stolen"},
	{Code: "lost_card", Class: schemas.ClassHardDecline, Meaning: "card reported lost"},
	{Code: "pickup_card", Class: schemas.ClassHardDecline, Meaning: "issuer asks to retain the card"},
	{Code: "invalid_card", Class: schemas.ClassHardDecline, Meaning: "card number or token not valid"},
	{Code: "invalid_account", Class: schemas.ClassHardDecline, Meaning: "account closed or invalid"},
	{Code: "expired_card", Class: schemas.ClassHardDecline, Meaning: "card expired"},
	{Code: "restricted_card", Class: schemas.ClassHardDecline, Meaning: "card restricted by the issuer"},
	{Code: "do_not_honor", Class: schemas.ClassHardDecline, Meaning: "do not honor (category 1, issuer will not approve)"},
	{Code: "fraudulent", Class: schemas.ClassHardDecline, Meaning: "issuer suspects fraud"},
	{Code: "transaction_not_allowed", Class: schemas.ClassHardDecline, Meaning: "card cannot be used for this transaction"},
	{Code: "card_not_supported", Class: schemas.ClassHardDecline, Meaning: "card type not supported"},
	// The issuer may approve later: DECLINED with retry-after, no failover.
	{Code: "insufficient_funds", Class: schemas.ClassSoftDecline, Meaning: "insufficient funds"},
	{Code: "issuer_unavailable", Class: schemas.ClassSoftDecline, Meaning: "issuer or switch unavailable"},
	{Code: "try_again_later", Class: schemas.ClassSoftDecline, Meaning: "issuer asks to try again later"},
	{Code: "card_velocity_exceeded", Class: schemas.ClassSoftDecline, Meaning: "card over its velocity or amount limit"},
	{Code: "withdrawal_limit_exceeded", Class: schemas.ClassSoftDecline, Meaning: "card over its withdrawal limit"},
	{Code: "card_declined", Class: schemas.ClassSoftDecline, Meaning: "generic decline without reason"},
	// The customer can fix it on the same PSP: ACTION_REQUIRED.
	{Code: "authentication_failed", Class: schemas.ClassCustomerError, Meaning: "3-D Secure authentication failed"},
	{Code: "authentication_required", Class: schemas.ClassCustomerError, Meaning: "3-D Secure authentication required"},
	{Code: "3ds_abandoned", Class: schemas.ClassCustomerError, Meaning: "3-D Secure challenge abandoned"},
	{Code: "incorrect_otp", Class: schemas.ClassCustomerError, Meaning: "wrong one-time password"},
	{Code: "incorrect_cvc", Class: schemas.ClassCustomerError, Meaning: "wrong CVC"},
	{Code: "incorrect_pin", Class: schemas.ClassCustomerError, Meaning: "wrong PIN"},
	// The PSP failed: fail over.
	{Code: "service_unavailable", Class: schemas.ClassPSPError, Meaning: "PSP down or in maintenance"},
	{Code: "internal_error", Class: schemas.ClassPSPError, Meaning: "PSP internal error"},
	{Code: "malformed_response", Class: schemas.ClassPSPError, Meaning: "PSP answer could not be parsed"},
	{Code: "authentication_error", Class: schemas.ClassPSPError, Meaning: "our PSP credentials were refused"},
	{Code: "rate_limited", Class: schemas.ClassRateLimited, Meaning: "too many requests"},
	// Our request was wrong: REJECTED.
	{Code: "invalid_request", Class: schemas.ClassInvalidRequest, Meaning: "request rejected as invalid"},
	{Code: "idempotency_conflict", Class: schemas.ClassInvalidRequest, Meaning: "idempotency key reused with different parameters"},
}

// IssuerCodes maps ISO 8583 issuer response codes passed through by the PSP
// (the network-level psp.IssuerCodes). When the issuer code is listed, it
// decides over the PSP's code.
var IssuerCodes = psp.IssuerCodes

// AdviceCodes maps Mastercard merchant advice codes (psp.AdviceCodes). When
// present and listed, the advice decides over both the issuer's and the
// PSP's code: it is the network's reattempt rule.
var AdviceCodes = psp.AdviceCodes

// UnknownCodeClass is the class of a decline whose codes are in none of the
// tables (psp.UnknownCodeClass: soft_decline, never fails over).
const UnknownCodeClass = psp.UnknownCodeClass

// StatusRule maps an HTTP status of a payment request to a class.
type StatusRule struct {
	Status  int
	Class   schemas.Class
	Meaning string
}

// HTTPStatuses classifies the non-200 answers to a payment request. A 402 is
// not listed: its body is a decline and is classified like a 200. Other
// 5xx classify as psp_error, other 4xx as invalid_request (an unexpected
// rejection of our request must not fail over), anything else as psp_error.
var HTTPStatuses = []StatusRule{
	{Status: http.StatusBadRequest, Class: schemas.ClassInvalidRequest, Meaning: "invalid request"},
	{Status: http.StatusUnauthorized, Class: schemas.ClassPSPError, Meaning: "PSP credentials refused"},
	{Status: http.StatusForbidden, Class: schemas.ClassPSPError, Meaning: "PSP account not allowed"},
	{Status: http.StatusNotFound, Class: schemas.ClassPSPError, Meaning: "PSP endpoint or account not found (configuration)"},
	{Status: http.StatusConflict, Class: schemas.ClassInvalidRequest, Meaning: "idempotency key reused with different parameters"},
	{Status: http.StatusUnprocessableEntity, Class: schemas.ClassInvalidRequest, Meaning: "request semantically invalid"},
	{Status: http.StatusTooManyRequests, Class: schemas.ClassRateLimited, Meaning: "rate limited"},
	{Status: http.StatusInternalServerError, Class: schemas.ClassPSPError, Meaning: "PSP internal error"},
	{Status: http.StatusBadGateway, Class: schemas.ClassPSPError, Meaning: "bad gateway"},
	{Status: http.StatusServiceUnavailable, Class: schemas.ClassPSPError, Meaning: "PSP down or in maintenance"},
	{Status: http.StatusGatewayTimeout, Class: schemas.ClassPSPError, Meaning: "gateway timeout (the simulator never processes a request it answers 5xx)"},
}

var (
	declineByCode = psp.IndexCodes(DeclineCodes)
	statusByCode  = map[int]schemas.Class{}
)

func init() {
	for _, r := range HTTPStatuses {
		statusByCode[r.Status] = r.Class
	}
}

// ClassifyDecline classifies a decline from its codes: the merchant advice
// code first, then the issuer code, then the PSP code, then
// UnknownCodeClass. retryAfter is the advice code's wait, if any.
func ClassifyDecline(code, issuerCode, adviceCode string) (class schemas.Class, retryAfter time.Duration) {
	if r, ok := psp.AdviceCode(adviceCode); ok {
		return r.Class, r.RetryAfter
	}
	if r, ok := psp.IssuerCode(issuerCode); ok {
		return r.Class, 0
	}
	if r, ok := declineByCode.Lookup(code); ok {
		return r.Class, 0
	}
	return UnknownCodeClass, 0
}

// ClassifyHTTPStatus classifies a non-200, non-402 answer to a payment request.
func ClassifyHTTPStatus(status int) schemas.Class {
	if c, ok := statusByCode[status]; ok {
		return c
	}
	switch {
	case status >= 500 && status <= 599:
		return schemas.ClassPSPError
	case status >= 400 && status <= 499:
		return schemas.ClassInvalidRequest
	default:
		return schemas.ClassPSPError
	}
}
