package psp

import (
	"fmt"
	"time"

	"github.com/payroute/payroute/schemas"
)

// CodeRule is one row of a classification table: a code a PSP, an issuer or
// a card network sends, and the class payroute acts on. Every connector keeps
// its PSP's codes in tables of these rows (PRODUCT.md: "mappings are data
// tables per connector, each row tested"); the network-level tables shared by
// all connectors are IssuerCodes and AdviceCodes.
type CodeRule struct {
	Code    string
	Class   schemas.Class
	Meaning string
	// RetryAfter is the network's advice for when a retry may succeed (soft
	// declines from Mastercard merchant advice codes); zero when none.
	RetryAfter time.Duration
}

// CodeIndex finds the rows of one table by code.
type CodeIndex map[string]CodeRule

// IndexCodes indexes rules by Code. Tables are package-level data, so an
// empty code, an empty class or a code listed twice is a programming error:
// IndexCodes panics, and the first test of the package that declares the
// table fails.
func IndexCodes(rules []CodeRule) CodeIndex {
	ix := make(CodeIndex, len(rules))
	for _, r := range rules {
		if r.Code == "" || r.Class == schemas.ClassNone {
			panic(fmt.Sprintf("psp: code table row %+v needs a code and a class", r))
		}
		if _, dup := ix[r.Code]; dup {
			panic(fmt.Sprintf("psp: code %q listed twice in one table", r.Code))
		}
		ix[r.Code] = r
	}
	return ix
}

// Lookup returns the row of code. The empty code is never found, so an
// absent field in a PSP answer cannot match anything.
func (ix CodeIndex) Lookup(code string) (CodeRule, bool) {
	if code == "" {
		return CodeRule{}, false
	}
	r, ok := ix[code]
	return r, ok
}

// UnknownCodeClass is the class of a decline none of a connector's tables
// knows. It is soft_decline, the conservative choice: an unknown code must
// never fail over (the issuer may have seen the payment, and another PSP
// would reach the same issuer), and must not be final forever either.
const UnknownCodeClass = schemas.ClassSoftDecline

// IssuerCodes maps ISO 8583 issuer response codes, which PSPs pass through
// (Stripe's network_decline_code, the simulator's issuer_code). The meanings
// are the card networks'; "05 do not honor" is treated as Visa category 1
// (the issuer will never approve this transaction), so it is never retried.
var IssuerCodes = []CodeRule{
	{Code: "04", Class: schemas.ClassHardDecline, Meaning: "pick up card"},
	{Code: "05", Class: schemas.ClassHardDecline, Meaning: "do not honor (treated as category 1: never retried)"},
	{Code: "07", Class: schemas.ClassHardDecline, Meaning: "pick up card, special condition"},
	{Code: "12", Class: schemas.ClassHardDecline, Meaning: "invalid transaction"},
	{Code: "14", Class: schemas.ClassHardDecline, Meaning: "invalid card number"},
	{Code: "15", Class: schemas.ClassHardDecline, Meaning: "no such issuer"},
	{Code: "41", Class: schemas.ClassHardDecline, Meaning: "lost card"},
	{Code: "43", Class: schemas.ClassHardDecline, Meaning: "stolen card"},
	{Code: "46", Class: schemas.ClassHardDecline, Meaning: "closed account"},
	{Code: "54", Class: schemas.ClassHardDecline, Meaning: "expired card"},
	{Code: "57", Class: schemas.ClassHardDecline, Meaning: "transaction not permitted to cardholder"},
	{Code: "62", Class: schemas.ClassHardDecline, Meaning: "restricted card"},
	{Code: "R0", Class: schemas.ClassHardDecline, Meaning: "stop payment order"},
	{Code: "R1", Class: schemas.ClassHardDecline, Meaning: "revocation of authorization order"},
	{Code: "R3", Class: schemas.ClassHardDecline, Meaning: "revocation of all authorizations order"},
	{Code: "19", Class: schemas.ClassSoftDecline, Meaning: "re-enter transaction"},
	{Code: "51", Class: schemas.ClassSoftDecline, Meaning: "insufficient funds"},
	{Code: "61", Class: schemas.ClassSoftDecline, Meaning: "exceeds withdrawal amount limit"},
	{Code: "65", Class: schemas.ClassSoftDecline, Meaning: "exceeds withdrawal frequency limit"},
	{Code: "91", Class: schemas.ClassSoftDecline, Meaning: "issuer or switch inoperative"},
	{Code: "96", Class: schemas.ClassSoftDecline, Meaning: "system malfunction"},
	{Code: "1A", Class: schemas.ClassCustomerError, Meaning: "additional customer authentication required"},
	{Code: "55", Class: schemas.ClassCustomerError, Meaning: "incorrect PIN"},
	{Code: "82", Class: schemas.ClassCustomerError, Meaning: "incorrect CVV"},
	{Code: "N7", Class: schemas.ClassCustomerError, Meaning: "CVV2 mismatch"},
}

// AdviceCodes maps Mastercard merchant advice codes. When a decline carries
// one that is listed, it decides over every other code: it is the network's
// reattempt rule (PRODUCT.md: advice 03/21 hard, 24-30 soft with a wait).
var AdviceCodes = []CodeRule{
	{Code: "01", Class: schemas.ClassHardDecline, Meaning: "new account information available: do not retry with these credentials"},
	{Code: "02", Class: schemas.ClassSoftDecline, Meaning: "cannot approve at this time, try again later"},
	{Code: "03", Class: schemas.ClassHardDecline, Meaning: "do not try again"},
	{Code: "21", Class: schemas.ClassHardDecline, Meaning: "payment cancellation: do not try again"},
	{Code: "24", Class: schemas.ClassSoftDecline, Meaning: "retry after 1 hour", RetryAfter: time.Hour},
	{Code: "25", Class: schemas.ClassSoftDecline, Meaning: "retry after 24 hours", RetryAfter: 24 * time.Hour},
	{Code: "26", Class: schemas.ClassSoftDecline, Meaning: "retry after 2 days", RetryAfter: 2 * 24 * time.Hour},
	{Code: "27", Class: schemas.ClassSoftDecline, Meaning: "retry after 4 days", RetryAfter: 4 * 24 * time.Hour},
	{Code: "28", Class: schemas.ClassSoftDecline, Meaning: "retry after 6 days", RetryAfter: 6 * 24 * time.Hour},
	{Code: "29", Class: schemas.ClassSoftDecline, Meaning: "retry after 8 days", RetryAfter: 8 * 24 * time.Hour},
	{Code: "30", Class: schemas.ClassSoftDecline, Meaning: "retry after 10 days", RetryAfter: 10 * 24 * time.Hour},
}

var (
	issuerIndex = IndexCodes(IssuerCodes)
	adviceIndex = IndexCodes(AdviceCodes)
)

// IssuerCode looks an ISO 8583 issuer response code up in IssuerCodes.
func IssuerCode(code string) (CodeRule, bool) { return issuerIndex.Lookup(code) }

// AdviceCode looks a Mastercard merchant advice code up in AdviceCodes.
func AdviceCode(code string) (CodeRule, bool) { return adviceIndex.Lookup(code) }

// OutcomeOf is the schemas.Outcome of an attempt of the given class: the
// empty class is APPROVED, the three decline classes DECLINED, anything
// else ERROR.
func OutcomeOf(c schemas.Class) schemas.Outcome {
	switch c {
	case schemas.ClassNone:
		return schemas.OutcomeApproved
	case schemas.ClassHardDecline, schemas.ClassSoftDecline, schemas.ClassCustomerError:
		return schemas.OutcomeDeclined
	default:
		return schemas.OutcomeError
	}
}

// Failure is the Outcome of an attempt that was not approved: its Outcome
// follows from class (OutcomeOf).
func Failure(class schemas.Class, code, msg string) Outcome {
	return Outcome{Outcome: OutcomeOf(class), Class: class, PSPCode: code, Message: msg}
}
