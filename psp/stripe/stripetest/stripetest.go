// Package stripetest is a Stripe test-mode stand-in for tests: a local HTTP
// server in front of stripe-mock.
//
// stripe-mock (github.com/stripe/stripe-mock, started by
// scripts/stripe-mock.sh) validates every request against Stripe's OpenAPI
// specification and answers with Stripe's own fixture objects, but it is
// stateless: every PaymentIntent comes back requires_payment_method, no
// card is ever declined, no idempotency key is remembered. Server forwards
// each request to stripe-mock, so a request stripe-mock rejects is rejected
// here, and overlays what Stripe's test mode does and stripe-mock cannot:
//
//   - the outcome of Stripe's documented test PaymentMethods
//     (pm_card_visa approves, pm_card_visa_chargeDeclinedInsufficientFunds
//     declines with insufficient_funds, pm_card_authenticationRequired
//     requires 3-D Secure, ...; see the Token constants) and of payroute's
//     own tokens
//     for the errors test mode cannot produce (pm_payroute_decline_<code>,
//     pm_payroute_advice_<nn>, pm_payroute_unavailable,
//     pm_payroute_rate_limited, pm_payroute_api_error,
//     pm_payroute_processing);
//   - PaymentIntent state: capture and cancel only from requires_capture,
//     refunds only of succeeded intents, unknown ids 404 resource_missing;
//   - idempotency as Stripe documents it: the first answer under a key is
//     stored once the endpoint starts executing (not for requests
//     stripe-mock rejects, 401s, 429s or 503s), replayed with
//     Idempotent-Replayed: true, a replay with other parameters is a 400
//     idempotency_error, and a replay while the first is in flight a 409
//     idempotency_key_in_use.
//
// Error bodies follow Stripe's error object: {"error": {"type", "code",
// "decline_code", "message", "payment_intent", ...}}, with a card error's
// HTTP status 402.
package stripetest

import (
	"os"
	"testing"
)

// EnvMockURL names the environment variable holding stripe-mock's URL;
// scripts/test.sh sets it.
const EnvMockURL = "TEST_STRIPE_MOCK_URL"

// MockURL returns stripe-mock's base URL from TEST_STRIPE_MOCK_URL. When it
// is unset the test is skipped, unless CI is set: then it fails, because CI
// must run every test (scripts/test.sh starts stripe-mock).
func MockURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvMockURL)
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set but CI is: run the tests with scripts/test.sh, which starts stripe-mock", EnvMockURL)
		}
		t.Skipf("%s not set: start stripe-mock with scripts/stripe-mock.sh start and export %s=$(scripts/stripe-mock.sh url)", EnvMockURL, EnvMockURL)
	}
	return u
}
