package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/stripe/stripetest"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// TestStripeAndSimulatorExample keeps deploy/examples/stripe-and-simulator.yaml
// true: it loads and validates, its rules check without a problem against
// its accounts, the registry builds its Stripe and simulator connectors
// with the key from the environment, both accounts price attempts, and the
// dump names the key's variable but never the key. With stripe-mock
// running, the Stripe account answers it.
func TestStripeAndSimulatorExample(t *testing.T) {
	const key = "sk_test_payroute-example-key"
	t.Setenv("STRIPE_API_KEY", key)
	cfg, err := LoadConfiguration("../../deploy/examples/stripe-and-simulator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stripeAcct, ok := cfg.PSPs.Accounts["stripe-test"]
	if !ok || stripeAcct.Kind != "stripe" || stripeAcct.APIKeyEnv != "STRIPE_API_KEY" {
		t.Fatalf("stripe-test: %+v", stripeAcct)
	}
	if sim := cfg.PSPs.Accounts["sim-eu"]; sim.Kind != "simulator" || cfg.Simulator.PSPs["sim-eu"].Preset != "outage" {
		t.Fatalf("sim-eu: %+v / %+v", sim, cfg.Simulator.PSPs["sim-eu"])
	}
	if ps := router.Check(cfg.Router, mapKeys(cfg.PSPs.Accounts)); len(ps) > 0 {
		t.Fatalf("rules check: %v", ps)
	}

	if mock := os.Getenv(stripetest.EnvMockURL); mock != "" {
		stripeAcct.Endpoint = mock // the example names the default port
		cfg.PSPs.Accounts["stripe-test"] = stripeAcct
	}
	reg, err := psp.NewRegistry(cfg.PSPs)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{
		"stripe-test": 175, // EUR, EEA card: 10000 × 1.5% + 25
		"sim-eu":      130, // 10000 × 1.2% + 10
	} {
		in := psp.FeeInput{Operation: schemas.OpCharge, Outcome: schemas.OutcomeApproved, AmountMinor: 10000,
			Currency: "EUR", Network: "visa", IssuerCountry: "DE"}
		if got := reg.Fee(name, in); got != want {
			t.Errorf("%s fee = %d, want %d", name, got, want)
		}
	}
	if got := reg.Fee("stripe-test", psp.FeeInput{Operation: schemas.OpCharge, Outcome: schemas.OutcomeApproved,
		AmountMinor: 10000, Currency: "EUR", Network: "visa", IssuerCountry: "US"}); got != 325 {
		t.Errorf("cross-border Stripe fee = %d, want 325", got)
	}

	out, err := config.Dump(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), key) || !strings.Contains(string(out), "api_key_env: STRIPE_API_KEY") {
		t.Fatalf("dump:\n%s", out)
	}

	if os.Getenv(stripetest.EnvMockURL) == "" && os.Getenv("CI") == "" {
		return
	}
	stripetest.MockURL(t)
	conn, _ := reg.Get("stripe-test")
	req := psp.Request{PaymentID: "pay-example-1", IdempotencyKey: psp.IdempotencyKey("pay-example-1", "stripe-test", schemas.OpCharge),
		Operation: schemas.OpCharge, AmountMinor: 1000, Currency: "EUR", PaymentMethod: schemas.PaymentMethod{Token: "pm_card_visa"}}
	res := conn.Attempt(context.Background(), req)
	// stripe-mock's fixture intent is requires_payment_method: a soft
	// decline, with stripe-mock's PaymentIntent id as the reference.
	if res.Class != schemas.ClassSoftDecline || !strings.HasPrefix(res.Reference, "pi_") {
		t.Fatalf("stripe-mock answered %+v", res)
	}
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
