package router_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

var payrailsPSPs = []string{"adyen", "stripe", "braintree", "checkout"}

func loadRouter(t testing.TB, path string, known []string, opts ...router.Option) *router.Router {
	t.Helper()
	cfg, err := router.LoadFile(path, nil)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	r, err := router.New(cfg, known, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func card(id, network, issuer, currency string) *schemas.PaymentRequested {
	return &schemas.PaymentRequested{
		PaymentID: id, MerchantID: "m_1", Operation: schemas.OpAuthorize, AmountMinor: 1000, Currency: currency,
		PaymentMethod: schemas.PaymentMethod{Token: "tok_" + id, Type: "card", Network: network, IssuerCountry: issuer},
	}
}

// TestPayrailsExampleRules routes through seed 003's three example rules
// (deploy/examples/payrails-rules.yaml, where the DACH rule is moved before
// the EUR,GBP rule as the seed advises) plus its split and default route.
func TestPayrailsExampleRules(t *testing.T) {
	r := loadRouter(t, "../deploy/examples/payrails-rules.yaml", payrailsPSPs)
	tests := []struct {
		name  string
		req   *schemas.PaymentRequested
		rule  string
		first string
	}{
		{"IF Card Network is equal to Visa THEN Adyen", card("p1", "visa", "DE", "EUR"), "visa-adyen", "adyen"},
		{"Visa in any case", card("p2", "VISA", "US", "USD"), "visa-adyen", "adyen"},
		{"IF Issuer Country one of AT,DE,CH AND Currency EUR THEN Braintree", card("p3", "mastercard", "CH", "EUR"), "dach-eur-braintree", "braintree"},
		{"IF Currency one of EUR,GBP THEN Stripe (EUR outside DACH)", card("p4", "mastercard", "FR", "EUR"), "eur-gbp-stripe", "stripe"},
		{"IF Currency one of EUR,GBP THEN Stripe (GBP from DE)", card("p5", "mastercard", "DE", "GBP"), "eur-gbp-stripe", "stripe"},
		{"no rule: default route", card("p6", "mastercard", "JP", "JPY"), router.RuleDefault, "adyen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := r.Route(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if d.RuleID != tt.rule || d.Candidates[0].PSP != tt.first || d.ConfigVersion != "payrails-2024-06-01" {
				t.Fatalf("decision %+v, want rule %s to %s", d, tt.rule, tt.first)
			}
		})
	}
	// USD mastercard: the 50/50 split, to Stripe or Checkout.com.
	d, err := r.Route(card("p7", "mastercard", "US", "USD"))
	if err != nil {
		t.Fatal(err)
	}
	switch d.RuleID {
	case "usd-split/stripe", "usd-split/checkout":
	default:
		t.Fatalf("split decision %+v", d)
	}
	if want := strings.TrimPrefix(d.RuleID, "usd-split/"); d.Candidates[0].PSP != want {
		t.Fatalf("branch %s routed to %s", d.RuleID, d.Candidates[0].PSP)
	}
}

// TestPayrailsSeedOrderIsUnreachable is seed 003's warning: with the rules
// in the seed's order, rule 3 "will never happen, because rule 2 already
// takes care of all the EUR payments". Check reports it with the line; New
// refuses it with the same message.
func TestPayrailsSeedOrderIsUnreachable(t *testing.T) {
	cfg, err := router.LoadFile("testdata/payrails-seed-order.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := router.Check(cfg, payrailsPSPs)
	want := []string{
		"testdata/payrails-seed-order.yaml:19: router.rules[2] (dach-eur-braintree): unreachable: every payment it matches is matched first by rules[1] (eur-gbp-stripe, line 15)",
	}
	if got := problemStrings(ps); !reflect.DeepEqual(got, want) {
		t.Fatalf("problems:\n got %q\nwant %q", got, want)
	}
	p := ps[0]
	if p.Rule != "dach-eur-braintree" || p.Line != 19 || p.Key != "router.rules[2]" || p.Severity != router.SeverityError {
		t.Fatalf("problem fields: %+v", p)
	}
	_, err = router.New(cfg, payrailsPSPs)
	if err == nil || err.Error() != want[0] {
		t.Fatalf("New: %v", err)
	}
}

func problemStrings(ps router.Problems) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Error()
	}
	return out
}
