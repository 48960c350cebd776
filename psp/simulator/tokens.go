package simulator

import (
	"regexp"
	"strings"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// Test tokens. Any token not listed here approves. See the package doc for
// the table; none of them looks like a card number.
const (
	TokenApprove       = "tok_approve"
	TokenHardDecline   = "tok_hard_decline"   // declined stolen_card, issuer 43
	TokenSoftDecline   = "tok_soft_decline"   // declined insufficient_funds, issuer 51, retry_after_ms
	TokenCustomerError = "tok_customer_error" // declined authentication_failed (3-D Secure failed)
	TokenPSP503        = "tok_psp_503"        // 503 service_unavailable, not processed
	TokenPSP500        = "tok_psp_500"        // 500 internal_error, not processed
	TokenRateLimited   = "tok_rate_limited"   // 429 rate_limited with Retry-After, not processed
	TokenTimeout       = "tok_timeout"        // approved and recorded, then held past the client timeout
	TokenMalformed     = "tok_malformed"      // 200 with a truncated JSON body, not processed
	// Token3DS asks for a 3-D Secure challenge (requires_action with an
	// action_url); the customer completing it there approves the challenged
	// request, and later requests of the payment approve too.
	Token3DS = "tok_3ds"

	// TokenFailAtPrefix + "<psp>" answers 503 at that PSP and approves elsewhere.
	TokenFailAtPrefix = "tok_fail_at_"
	// TokenLostAtPrefix + "<psp>" is held past the client timeout at that
	// PSP and never processed (the request lost on the way in: the status
	// inquiry finds nothing), and approves elsewhere.
	TokenLostAtPrefix = "tok_lost_at_"
	// TokenDeclinePrefix + "<code>" declines with PSP code <code> ([a-z0-9_]+), no issuer code.
	TokenDeclinePrefix = "tok_decline_"
	// TokenIssuerPrefix + "<nn>" declines with PSP code "issuer_declined" (not in
	// DeclineCodes) and issuer code <nn> ([A-Z0-9]{2}).
	TokenIssuerPrefix = "tok_issuer_"
	// TokenAdvicePrefix + "<nn>" declines with code "card_declined", issuer
	// code "05" and Mastercard merchant advice code <nn> ([0-9]{2}).
	TokenAdvicePrefix = "tok_advice_"
)

// FailAt is the token that fails with 503 at psp only.
func FailAt(psp string) string { return TokenFailAtPrefix + psp }

// LostAt is the token that times out unprocessed at psp only.
func LostAt(psp string) string { return TokenLostAtPrefix + psp }

// DeclineWith is the token that declines with the given PSP code.
func DeclineWith(code string) string { return TokenDeclinePrefix + code }

// IssuerDecline is the token that declines with the given issuer code.
func IssuerDecline(issuerCode string) string { return TokenIssuerPrefix + issuerCode }

// AdviceDecline is the token that declines with the given merchant advice code.
func AdviceDecline(adviceCode string) string { return TokenAdvicePrefix + adviceCode }

type effect int

const (
	effApprove effect = iota
	effDecline
	effUnavailable
	effInternal
	effRateLimit
	effTimeout
	effLost
	effMalformed
	effChallenge
)

type tokenResult struct {
	effect  effect
	code    string
	issuer  string
	advice  string
	message string
	soft    bool // carries the profile's DeclineRetryAfter
}

var (
	declineCodePattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	issuerCodePattern  = regexp.MustCompile(`^[A-Z0-9]{2}$`)
	adviceCodePattern  = regexp.MustCompile(`^[0-9]{2}$`)
)

// tokenBehaviour is what a token does at the named PSP. Decline tokens only
// apply to AUTHORIZE and CHARGE; the infrastructure tokens apply to every operation.
func tokenBehaviour(token, pspName string, op schemas.Operation) tokenResult {
	switch token {
	case TokenPSP503:
		return tokenResult{effect: effUnavailable}
	case TokenPSP500:
		return tokenResult{effect: effInternal}
	case TokenRateLimited:
		return tokenResult{effect: effRateLimit}
	case TokenTimeout:
		return tokenResult{effect: effTimeout}
	case TokenMalformed:
		return tokenResult{effect: effMalformed}
	}
	if rest, ok := strings.CutPrefix(token, TokenFailAtPrefix); ok {
		if rest == pspName {
			return tokenResult{effect: effUnavailable}
		}
		return tokenResult{effect: effApprove}
	}
	if rest, ok := strings.CutPrefix(token, TokenLostAtPrefix); ok {
		if rest == pspName {
			return tokenResult{effect: effLost}
		}
		return tokenResult{effect: effApprove}
	}
	if op != schemas.OpAuthorize && op != schemas.OpCharge {
		return tokenResult{effect: effApprove}
	}
	switch token {
	case TokenHardDecline:
		return tokenResult{effect: effDecline, code: "stolen_card", issuer: "43", message: "card reported stolen"}
	case TokenSoftDecline:
		return tokenResult{effect: effDecline, code: "insufficient_funds", issuer: "51", message: "insufficient funds", soft: true}
	case TokenCustomerError:
		return tokenResult{effect: effDecline, code: "authentication_failed", message: "3-D Secure authentication failed"}
	case Token3DS:
		return tokenResult{effect: effChallenge}
	}
	if code, ok := strings.CutPrefix(token, TokenDeclinePrefix); ok && declineCodePattern.MatchString(code) {
		r, known := declineByCode.Lookup(code)
		return tokenResult{effect: effDecline, code: code, message: "declined: " + code, soft: known && r.Class == schemas.ClassSoftDecline}
	}
	if code, ok := strings.CutPrefix(token, TokenIssuerPrefix); ok && issuerCodePattern.MatchString(code) {
		r, known := psp.IssuerCode(code)
		return tokenResult{effect: effDecline, code: "issuer_declined", issuer: code, message: "declined by issuer: " + code, soft: known && r.Class == schemas.ClassSoftDecline}
	}
	if code, ok := strings.CutPrefix(token, TokenAdvicePrefix); ok && adviceCodePattern.MatchString(code) {
		return tokenResult{effect: effDecline, code: "card_declined", issuer: "05", advice: code, message: "declined with merchant advice " + code}
	}
	return tokenResult{effect: effApprove}
}

// randomDeclines are what DeclineRate draws from.
var randomDeclines = []tokenResult{
	{effect: effDecline, code: "insufficient_funds", issuer: "51", message: "insufficient funds", soft: true},
	{effect: effDecline, code: "do_not_honor", issuer: "05", message: "do not honor"},
	{effect: effDecline, code: "expired_card", issuer: "54", message: "expired card"},
	{effect: effDecline, code: "issuer_unavailable", issuer: "91", message: "issuer unavailable", soft: true},
}

// looksLikePAN reports whether s could be a card number (12-19 digits, with
// optional spaces or dashes). The simulator refuses such tokens.
func looksLikePAN(s string) bool {
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ' || r == '-':
		default:
			return false
		}
	}
	return digits >= 12 && digits <= 19
}
