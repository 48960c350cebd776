package stripe

import (
	"log/slog"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/psptest"
	"github.com/payroute/payroute/psp/stripe/stripetest"
	"github.com/payroute/payroute/schemas"
)

const testKey = "sk_test_payroute-conformance-key"

var quiet = slog.New(slog.DiscardHandler)

func newConnector(t testing.TB, baseURL string, timeout time.Duration) *Connector {
	t.Helper()
	c, err := New(Config{Account: "stripe-test", BaseURL: baseURL, APIKey: psp.NewSecret(testKey), Timeout: timeout, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The Stripe connector passes the conformance suite against stripe-mock
// (request validation, Stripe's objects) with stripetest's test-mode
// overlay (outcomes, state, idempotency).
func TestConformance(t *testing.T) {
	srv := stripetest.New(t, stripetest.MockURL(t))
	var declines []psptest.Decline
	for _, r := range DeclineCodes {
		declines = append(declines, psptest.Decline{Token: stripetest.Decline(r.Code), Class: r.Class, PSPCode: r.Code})
	}
	// Stripe's own test PaymentMethods.
	declines = append(declines,
		psptest.Decline{Token: stripetest.TokenDeclined, Class: schemas.ClassSoftDecline, PSPCode: "generic_decline"},
		psptest.Decline{Token: stripetest.TokenLostCard, Class: schemas.ClassHardDecline, PSPCode: "lost_card"},
		psptest.Decline{Token: stripetest.TokenExpiredCard, Class: schemas.ClassHardDecline, PSPCode: "expired_card"},
		psptest.Decline{Token: stripetest.TokenIncorrectCVC, Class: schemas.ClassCustomerError, PSPCode: "incorrect_cvc"},
		psptest.Decline{Token: stripetest.TokenProcessingError, Class: schemas.ClassPSPError, PSPCode: "processing_error"},
		psptest.Decline{Token: stripetest.TokenFraudulent, Class: schemas.ClassHardDecline, PSPCode: "fraudulent"},
		psptest.Decline{Token: stripetest.TokenAuthenticationRequired, Class: schemas.ClassCustomerError, PSPCode: "requires_action"},
		psptest.Decline{Token: stripetest.Decline("a_code_stripe_may_add_later"), Class: psp.UnknownCodeClass, PSPCode: "a_code_stripe_may_add_later"},
	)
	psptest.Run(t, psptest.Harness{
		URL: srv.URL(),
		New: func(baseURL string, timeout time.Duration) (psp.Connector, error) {
			return newConnector(t, baseURL, timeout), nil
		},
		Tokens: map[psptest.Scenario]string{
			psptest.Approve:       stripetest.TokenVisa,
			psptest.HardDecline:   stripetest.TokenStolenCard,
			psptest.SoftDecline:   stripetest.TokenInsufficientFunds,
			psptest.CustomerError: stripetest.TokenAuthenticationRequired,
			psptest.Unavailable:   stripetest.TokenUnavailable,
			psptest.RateLimited:   stripetest.TokenRateLimited,
		},
		Declines:      declines,
		Keys:          srv.Keys,
		Approvals:     srv.Approvals,
		StatusReplays: true,
	})
}
