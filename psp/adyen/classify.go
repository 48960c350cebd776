package adyen

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// ResultCodes maps a /payments resultCode to a class (Authorised, the one
// approval, is not listed). Refused and Cancelled are refined by the
// refusal reason; Error too when its reason is listed.
var ResultCodes = []psp.CodeRule{
	{Code: "Refused", Class: schemas.ClassSoftDecline, Meaning: "refused; the refusal reason decides"},
	{Code: "Cancelled", Class: schemas.ClassCustomerError, Meaning: "cancelled before processing completed"},
	{Code: "Error", Class: schemas.ClassPSPError, Meaning: "an error occurred while processing the payment"},
	{Code: "Pending", Class: schemas.ClassInDoubt, Meaning: "the final result is not known yet"},
	{Code: "Received", Class: schemas.ClassInDoubt, Meaning: "received; the final result is not known yet"},
	{Code: "RedirectShopper", Class: schemas.ClassCustomerError, Meaning: "the shopper must be redirected (3-D Secure, a bank page)"},
	{Code: "IdentifyShopper", Class: schemas.ClassCustomerError, Meaning: "3-D Secure 2 device fingerprinting needed"},
	{Code: "ChallengeShopper", Class: schemas.ClassCustomerError, Meaning: "3-D Secure 2 challenge needed"},
	{Code: "PresentToShopper", Class: schemas.ClassCustomerError, Meaning: "the shopper must complete the payment elsewhere (voucher, QR code)"},
	{Code: "AuthenticationFinished", Class: psp.UnknownCodeClass, Meaning: "authentication only; no authorization was made"},
	{Code: "AuthenticationNotRequired", Class: psp.UnknownCodeClass, Meaning: "authentication only; no authorization was made"},
	{Code: "PartiallyAuthorised", Class: psp.UnknownCodeClass, Meaning: "only part of the amount was authorised"},
}

// RefusalReasons maps Adyen's refusalReasonCode to a class; Meaning is the
// refusalReason text Adyen sends with it, also looked up when a code is
// missing (docs.adyen.com/development-resources/refusal-reasons).
var RefusalReasons = []psp.CodeRule{
	{Code: "2", Class: schemas.ClassSoftDecline, Meaning: "Refused"},
	{Code: "3", Class: schemas.ClassSoftDecline, Meaning: "Referral"},
	{Code: "4", Class: schemas.ClassPSPError, Meaning: "Acquirer Error"},
	{Code: "5", Class: schemas.ClassHardDecline, Meaning: "Blocked Card"},
	{Code: "6", Class: schemas.ClassHardDecline, Meaning: "Expired Card"},
	{Code: "7", Class: schemas.ClassInvalidRequest, Meaning: "Invalid Amount"},
	{Code: "8", Class: schemas.ClassHardDecline, Meaning: "Invalid Card Number"},
	{Code: "9", Class: schemas.ClassSoftDecline, Meaning: "Issuer Unavailable"},
	{Code: "10", Class: schemas.ClassHardDecline, Meaning: "Not supported"},
	{Code: "11", Class: schemas.ClassCustomerError, Meaning: "3D Not Authenticated"},
	{Code: "12", Class: schemas.ClassSoftDecline, Meaning: "Not enough balance"},
	{Code: "14", Class: schemas.ClassHardDecline, Meaning: "Acquirer Fraud"},
	{Code: "15", Class: schemas.ClassCustomerError, Meaning: "Cancelled"},
	{Code: "16", Class: schemas.ClassCustomerError, Meaning: "Shopper Cancelled"},
	{Code: "17", Class: schemas.ClassCustomerError, Meaning: "Invalid Pin"},
	{Code: "18", Class: schemas.ClassHardDecline, Meaning: "Pin tries exceeded"},
	{Code: "19", Class: schemas.ClassSoftDecline, Meaning: "Pin validation not possible"},
	{Code: "20", Class: schemas.ClassHardDecline, Meaning: "FRAUD"},
	{Code: "21", Class: schemas.ClassPSPError, Meaning: "Not Submitted"},
	{Code: "22", Class: schemas.ClassHardDecline, Meaning: "FRAUD-CANCELLED"},
	{Code: "23", Class: schemas.ClassHardDecline, Meaning: "Transaction Not Permitted"},
	{Code: "24", Class: schemas.ClassCustomerError, Meaning: "CVC Declined"},
	{Code: "25", Class: schemas.ClassHardDecline, Meaning: "Restricted Card"},
	{Code: "26", Class: schemas.ClassHardDecline, Meaning: "Revocation Of Auth"},
	{Code: "27", Class: schemas.ClassSoftDecline, Meaning: "Declined Non Generic"},
	{Code: "28", Class: schemas.ClassSoftDecline, Meaning: "Withdrawal amount exceeded"},
	{Code: "29", Class: schemas.ClassSoftDecline, Meaning: "Withdrawal count exceeded"},
	{Code: "31", Class: schemas.ClassHardDecline, Meaning: "Issuer Suspected Fraud"},
	{Code: "32", Class: schemas.ClassCustomerError, Meaning: "AVS Declined"},
	{Code: "33", Class: schemas.ClassCustomerError, Meaning: "Card requires online pin"},
	{Code: "34", Class: schemas.ClassHardDecline, Meaning: "No checking account available on Card"},
	{Code: "35", Class: schemas.ClassHardDecline, Meaning: "No savings account available on Card"},
	{Code: "36", Class: schemas.ClassCustomerError, Meaning: "Mobile pin required"},
	{Code: "37", Class: schemas.ClassCustomerError, Meaning: "Contactless fallback"},
	{Code: "38", Class: schemas.ClassCustomerError, Meaning: "Authentication required"},
	{Code: "39", Class: schemas.ClassCustomerError, Meaning: "RReq not received from DS"},
	{Code: "40", Class: schemas.ClassSoftDecline, Meaning: "Current AID is in Penalty Box."},
	{Code: "41", Class: schemas.ClassCustomerError, Meaning: "CVM Required Restart Payment"},
	{Code: "42", Class: schemas.ClassCustomerError, Meaning: "3DS Authentication Error"},
	{Code: "46", Class: schemas.ClassHardDecline, Meaning: "Transaction blocked by Adyen to prevent excessive retry fees"},
}

// ErrorCodes maps the errorCode of Adyen's ServiceError when it alone
// decides the class.
var ErrorCodes = []psp.CodeRule{
	{Code: "704", Class: schemas.ClassInDoubt, Meaning: "request already processed or in progress"},
	{Code: "010", Class: schemas.ClassPSPError, Meaning: "not allowed: the API key lacks a role"},
	{Code: "901", Class: schemas.ClassPSPError, Meaning: "invalid merchant account"},
	{Code: "905", Class: schemas.ClassPSPError, Meaning: "payment details are not supported by the account's configuration"},
	{Code: "167", Class: schemas.ClassInvalidRequest, Meaning: "original pspReference required for this operation"},
	{Code: "702", Class: schemas.ClassInvalidRequest, Meaning: "the request could not be read"},
}

// ErrorTypes maps the errorType of Adyen's ServiceError.
var ErrorTypes = []psp.CodeRule{
	{Code: "validation", Class: schemas.ClassInvalidRequest, Meaning: "the request failed validation"},
	{Code: "security", Class: schemas.ClassPSPError, Meaning: "our credentials or permissions: fail over"},
	{Code: "configuration", Class: schemas.ClassPSPError, Meaning: "the account's configuration: fail over"},
	{Code: "internal", Class: schemas.ClassPSPError, Meaning: "an error inside Adyen"},
}

var (
	resultIndex  = psp.IndexCodes(ResultCodes)
	refusalIndex = psp.IndexCodes(RefusalReasons)
	refusalText  = map[string]psp.CodeRule{}
	errorIndex   = psp.IndexCodes(ErrorCodes)
	typeIndex    = psp.IndexCodes(ErrorTypes)
	rawCode      = regexp.MustCompile(`^([0-9A-Z]{2})\s*:`)
	adviceDigits = regexp.MustCompile(`^([0-9]{2})\b`)
)

func init() {
	for _, r := range RefusalReasons {
		refusalText[strings.ToLower(r.Meaning)] = r
	}
}

// refusal finds the row of a refusal by its code, else its text.
func refusal(code, reason string) (psp.CodeRule, bool) {
	if r, ok := refusalIndex.Lookup(code); ok {
		return r, true
	}
	r, ok := refusalText[strings.ToLower(strings.TrimSpace(reason))]
	return r, ok
}

// issuerRawCode is the ISO 8583 code at the start of refusalReasonRaw
// ("51 : Insufficient funds"), or "".
func issuerRawCode(raw string) string {
	if m := rawCode.FindStringSubmatch(raw); m != nil {
		return m[1]
	}
	return ""
}

// classifyPayment classifies a /payments answer.
func classifyPayment(p *paymentResponse, network string) psp.Outcome {
	out := psp.Outcome{Reference: p.PSPReference, PSPCode: p.ResultCode, Message: p.ResultCode}
	if p.ResultCode == "Authorised" {
		out.Outcome = schemas.OutcomeApproved
		return out
	}
	code := p.RefusalReasonCode
	out.IssuerCode = issuerRawCode(p.AdditionalData["refusalReasonRaw"])
	if p.RefusalReason != "" {
		out.Message = p.ResultCode + ": " + p.RefusalReason
		out.PSPCode = p.RefusalReason
	}
	row, listed := resultIndex.Lookup(p.ResultCode)
	class := psp.UnknownCodeClass
	if listed {
		class = row.Class
	}
	switch p.ResultCode {
	case "Refused", "Cancelled":
		class = classifyRefusal(p, code, network, &out, class)
	case "Error":
		if r, ok := refusal(code, p.RefusalReason); ok && (r.Class == schemas.ClassPSPError || r.Class == schemas.ClassInvalidRequest) {
			class = r.Class
		}
	}
	if !listed && p.ResultCode != "" {
		out.PSPCode = p.ResultCode
	}
	if class == schemas.ClassCustomerError && strings.HasSuffix(p.ResultCode, "Shopper") {
		// RedirectShopper, IdentifyShopper, ChallengeShopper,
		// PresentToShopper: the payment waits for the shopper.
		out.Pending = true
		if p.Action != nil {
			out.ActionURL = p.Action.URL
		}
	}
	out.Class = class
	out.Outcome = psp.OutcomeOf(class)
	return out
}

// classifyRefusal refines a Refused or Cancelled result: Mastercard
// advice, then the refusal reason, then the raw issuer code, else def.
func classifyRefusal(p *paymentResponse, code, network string, out *psp.Outcome, def schemas.Class) schemas.Class {
	if m := adviceDigits.FindStringSubmatch(strings.TrimSpace(p.AdditionalData["merchantAdviceCode"])); m != nil && strings.EqualFold(network, "mastercard") {
		if r, ok := psp.AdviceCode(m[1]); ok {
			out.RetryAfter = r.RetryAfter
			out.Message += " (merchant advice " + m[1] + ")"
			return r.Class
		}
	}
	if r, ok := refusal(code, p.RefusalReason); ok {
		return r.Class
	}
	if r, ok := psp.IssuerCode(out.IssuerCode); ok {
		return r.Class
	}
	if p.ResultCode == "Refused" {
		return psp.UnknownCodeClass
	}
	return def
}

// classifyError classifies a ServiceError answer; e is nil when the body is
// not one.
func classifyError(status int, header http.Header, e *serviceError) psp.Outcome {
	var out psp.Outcome
	code := "http_" + strconv.Itoa(status)
	msg := http.StatusText(status)
	if e != nil {
		if e.ErrorCode != "" {
			code = e.ErrorCode
		}
		if e.Message != "" {
			msg = e.Message
		}
	}
	switch {
	case e != nil && errorCodeDecides(e.ErrorCode):
		r, _ := errorIndex.Lookup(e.ErrorCode)
		out = psp.Failure(r.Class, code, msg)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		out = psp.Failure(schemas.ClassPSPError, code, msg)
	case status == http.StatusTooManyRequests:
		out = psp.Failure(schemas.ClassRateLimited, code, msg)
		out.RetryAfter = psp.ParseRetryAfter(header.Get("Retry-After"))
	case e != nil && typeDecides(e.ErrorType):
		r, _ := typeIndex.Lookup(e.ErrorType)
		out = psp.Failure(r.Class, code, msg)
	case status >= 500 || status == http.StatusNotFound:
		out = psp.Failure(schemas.ClassPSPError, code, msg)
	default:
		out = psp.Failure(schemas.ClassInvalidRequest, code, msg)
	}
	if e != nil && e.PSPReference != "" {
		out.Reference = e.PSPReference
	}
	return out
}

func errorCodeDecides(code string) bool {
	_, ok := errorIndex.Lookup(code)
	return ok
}

func typeDecides(t string) bool {
	_, ok := typeIndex.Lookup(t)
	return ok
}

// classifyModification classifies the 201 of a capture, cancel or refund.
func classifyModification(m *modificationResponse) psp.Outcome {
	if strings.EqualFold(m.Status, "received") {
		return psp.Outcome{Outcome: schemas.OutcomeApproved, Reference: m.PSPReference, PSPCode: "received", Message: "received"}
	}
	return psp.Failure(psp.UnknownCodeClass, "status_"+m.Status, "unexpected modification status "+m.Status)
}
