// Package psp defines how payroute talks to payment service providers: the
// Connector interface every PSP integration implements, the request and
// outcome of one attempt, and the registry of configured PSP accounts with
// their credentials (read from the environment or files, never from the
// configuration: Account.ReadAPIKey, Secret) and fee schedules
// (FeeSchedule, Registry.Fee). Send is the HTTP exchange connectors share,
// which tells a failure before sending (psp_error) from one after
// (in_doubt) and catches net/http's silent re-sends. psp/psptest is the
// conformance suite every connector passes; the connectors are
// psp/simulator, psp/stripe and psp/adyen.
//
// A connector owns two things no other package may guess at: the wire
// protocol of its PSP, and the table that maps the PSP's codes to a
// schemas.Class. Everything downstream (failover, DECLINED vs FAILED, health)
// acts on the class alone.
package psp

import (
	"context"
	"time"

	"github.com/payroute/payroute/schemas"
)

// Request is one attempt of one operation at one PSP.
type Request struct {
	PaymentID string
	// IdempotencyKey is stable per (payment, PSP, operation) and is sent to the
	// PSP, so a redelivered attempt can never be executed twice there.
	IdempotencyKey string
	Operation      schemas.Operation
	Method         string
	AmountMinor    int64
	Currency       string
	MerchantID     string
	// CustomerID is the merchant's own reference of the customer
	// (PaymentRequested.customer.customer_id). PSPs that keep stored
	// payment methods per shopper need it with the token: Adyen's
	// shopperReference.
	CustomerID    string
	PaymentMethod schemas.PaymentMethod
	// AuthorizationReference is the PSP reference of the authorization that a
	// CAPTURE, VOID or REFUND follows.
	AuthorizationReference string
}

// Outcome is what happened at the PSP, already classified by the connector.
type Outcome struct {
	Outcome schemas.Outcome // APPROVED, DECLINED or ERROR
	Class   schemas.Class   // empty when approved
	// PSPCode is the PSP's own code (decline code, error type, HTTP status);
	// IssuerCode the issuer's response code when the PSP passes it through.
	PSPCode    string
	IssuerCode string
	Message    string
	Reference  string // the PSP's transaction reference
	// Pending is set on a customer_error the PSP holds open for the
	// customer (a 3-D Secure challenge, Stripe's requires_action, Adyen's
	// *Shopper result codes): the customer completing it completes this
	// very request at the PSP, so a RETRY must ask about it before sending
	// the payment again. A failed authentication or a wrong OTP is not
	// pending: nothing is left open.
	Pending bool
	// ActionURL is, for a pending request, where the customer completes it
	// when the PSP gave a page (a redirect); the ACTION_REQUIRED result
	// carries it. Empty otherwise (Stripe.js or Adyen's Drop-in handle it
	// in the merchant's page).
	ActionURL string
	// RetryAfter is the PSP's or network's advice for soft declines and rate limits.
	RetryAfter time.Duration
	Latency    time.Duration
}

// StatusOutcome answers a status inquiry for an earlier attempt.
type StatusOutcome struct {
	// Found is false when the PSP confirms it never processed the idempotency
	// key: only then may an in-doubt attempt fail over.
	Found   bool
	Outcome Outcome // meaningful when Found
}

// Connector is one PSP integration. Implementations must be safe for
// concurrent use and must never return a Go error for a PSP-side failure:
// every failure is an Outcome with a Class, because the class decides what
// payroute does next.
type Connector interface {
	// Attempt sends one operation. A timeout or broken connection after the
	// request was written is ClassInDoubt; a failure before anything was sent
	// (connection refused) is ClassPSPError.
	Attempt(ctx context.Context, req Request) Outcome
	// Status asks the PSP what became of the request with req.IdempotencyKey.
	// An error means the PSP could not answer (it is still in doubt).
	Status(ctx context.Context, req Request) (StatusOutcome, error)
}

// ReplayStatus interprets, as a status inquiry, the answer to a request
// re-sent under its original idempotency key: the way to learn what became
// of a request at PSPs that have no lookup by key (Stripe, Adyen). Such a
// PSP answers a key it processed with the stored answer and processes a key
// it never received, so any definitive answer (approved, declined, or our
// request rejected as invalid) is Found. An answer that is itself not
// definitive (psp_error, rate_limited, in_doubt: a 5xx, a 429, a request
// still in progress, no answer at all) is an error: the attempt stays in
// doubt and the inquiry is repeated later.
func ReplayStatus(out Outcome) (StatusOutcome, error) {
	if out.Outcome == schemas.OutcomeError && out.Class != schemas.ClassInvalidRequest {
		return StatusOutcome{}, &StillInDoubtError{Outcome: out}
	}
	return StatusOutcome{Found: true, Outcome: out}, nil
}

// StillInDoubtError is ReplayStatus's error: the replayed request's answer
// did not settle the doubt.
type StillInDoubtError struct {
	Outcome Outcome
}

func (e *StillInDoubtError) Error() string {
	return "still in doubt: " + string(e.Outcome.Class) + " " + e.Outcome.PSPCode + ": " + e.Outcome.Message
}
