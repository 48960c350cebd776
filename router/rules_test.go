package router_test

import (
	"testing"

	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// event is a payment with every routable field set. It carries a token,
// a BIN and last4 — never a card number.
func event() *schemas.PaymentRequested {
	return &schemas.PaymentRequested{
		PaymentID: "pay_42", MerchantID: "m_shop_eu", Operation: schemas.OpAuthorize,
		AmountMinor: 2500, Currency: "EUR", Recurring: true,
		PaymentMethod: schemas.PaymentMethod{
			Token: "tok_visa_1", Type: "card", Network: "visa", Funding: "credit",
			BIN: "424242", Last4: "0001", IssuerCountry: "DE", ExpiryMonth: 12, ExpiryYear: 2030,
		},
		Customer: schemas.Customer{CustomerID: "c_1", Country: "AT"},
		Metadata: map[string]string{"channel": "web", "risk_score": "42.5", "segment": "b2c"},
	}
}

// oneRule is a router with a single rule, id "r", sending matches to
// psp-a; everything else takes the default route to psp-b.
func oneRule(t testing.TB, when ...router.Condition) *router.Router {
	t.Helper()
	cfg := router.DefaultConfiguration()
	cfg.Routes = map[string][]router.Candidate{"hit": {{PSP: "psp-a"}}, "miss": {{PSP: "psp-b"}}}
	cfg.DefaultRoute = "miss"
	cfg.Rules = []router.Rule{{ID: "r", When: when, Target: router.Target{RankedList: router.RankedList{Route: "hit"}}}}
	r, err := router.New(cfg, knownPSPs)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func cond(field, op, value string, values ...string) router.Condition {
	return router.Condition{Field: field, Op: op, Value: value, Values: values}
}

// TestOperatorsAndFields covers every operator and every payment field:
// each row is one condition against event() (changed by mutate), and
// whether the rule matches.
func TestOperatorsAndFields(t *testing.T) {
	tests := []struct {
		name   string
		cond   router.Condition
		mutate func(*schemas.PaymentRequested)
		want   bool
	}{
		// payment_id: text operators.
		{name: "payment_id equals", cond: cond("payment_id", "equals", "pay_42"), want: true},
		{name: "payment_id starts_with", cond: cond("payment_id", "starts_with", "pay_"), want: true},
		{name: "payment_id ends_with miss", cond: cond("payment_id", "ends_with", "43"), want: false},
		{name: "payment_id contains", cond: cond("payment_id", "contains", "y_4"), want: true},
		{name: "payment_id is case-sensitive", cond: cond("payment_id", "equals", "PAY_42"), want: false},

		// merchant_id
		{name: "merchant_id one_of", cond: cond("merchant_id", "one_of", "", "m_x", "m_shop_eu"), want: true},
		{name: "merchant_id not_one_of hit", cond: cond("merchant_id", "not_one_of", "", "m_x", "m_y"), want: true},
		{name: "merchant_id not_one_of miss", cond: cond("merchant_id", "not_one_of", "", "m_shop_eu"), want: false},
		{name: "merchant_id starts_with", cond: cond("merchant_id", "starts_with", "m_shop"), want: true},

		// operation: an enumeration, upper case.
		{name: "operation equals", cond: cond("operation", "equals", "AUTHORIZE"), want: true},
		{name: "operation equals folds case", cond: cond("operation", "equals", "authorize"), want: true},
		{name: "operation one_of miss", cond: cond("operation", "one_of", "", "CHARGE"), want: false},
		{name: "operation not_equals", cond: cond("operation", "not_equals", "CHARGE"), want: true},
		{name: "operation not_one_of miss", cond: cond("operation", "not_one_of", "", "AUTHORIZE"), want: false},
		{name: "operation CHARGE", cond: cond("operation", "equals", "CHARGE"), mutate: func(p *schemas.PaymentRequested) { p.Operation = schemas.OpCharge }, want: true},

		// amount_minor: integers in minor units.
		{name: "amount equals", cond: cond("amount_minor", "equals", "2500"), want: true},
		{name: "amount not_equals", cond: cond("amount_minor", "not_equals", "2500"), want: false},
		{name: "amount one_of", cond: cond("amount_minor", "one_of", "", "100", "2500"), want: true},
		{name: "amount not_one_of", cond: cond("amount_minor", "not_one_of", "", "2500"), want: false},
		{name: "amount lt at bound", cond: cond("amount_minor", "lt", "2500"), want: false},
		{name: "amount lt above", cond: cond("amount_minor", "lt", "2501"), want: true},
		{name: "amount lte at bound", cond: cond("amount_minor", "lte", "2500"), want: true},
		{name: "amount gt below", cond: cond("amount_minor", "gt", "2499"), want: true},
		{name: "amount gt at bound", cond: cond("amount_minor", "gt", "2500"), want: false},
		{name: "amount gte at bound", cond: cond("amount_minor", "gte", "2500"), want: true},
		{name: "amount gte above", cond: cond("amount_minor", "gte", "2501"), want: false},
		{name: "amount between inclusive high", cond: cond("amount_minor", "between", "", "1000", "2500"), want: true},
		{name: "amount between inclusive low", cond: cond("amount_minor", "between", "", "2500", "9000"), want: true},
		{name: "amount between outside", cond: cond("amount_minor", "between", "", "2501", "3000"), want: false},
		{name: "amount symbol <", cond: cond("amount_minor", "<", "3000"), want: true},
		{name: "amount symbol <=", cond: cond("amount_minor", "<=", "2499"), want: false},
		{name: "amount symbol >", cond: cond("amount_minor", ">", "100"), want: true},
		{name: "amount symbol >=", cond: cond("amount_minor", ">=", "2500"), want: true},
		{name: "amount symbol =", cond: cond("amount_minor", "=", "2500"), want: true},
		{name: "amount symbol !=", cond: cond("amount_minor", "!=", "2500"), want: false},

		// currency: ISO codes, compared upper case.
		{name: "currency equals folds case", cond: cond("currency", "equals", "eur"), want: true},
		{name: "currency one_of miss", cond: cond("currency", "one_of", "", "GBP", "USD"), want: false},
		{name: "currency not_equals", cond: cond("currency", "not_equals", "EUR"), want: false},
		{name: "currency starts_with", cond: cond("currency", "starts_with", "E"), want: true},

		// recurring: a boolean.
		{name: "recurring equals true", cond: cond("recurring", "equals", "true"), want: true},
		{name: "recurring not_equals true", cond: cond("recurring", "not_equals", "true"), want: false},
		{name: "recurring equals false", cond: cond("recurring", "equals", "false"), mutate: func(p *schemas.PaymentRequested) { p.Recurring = false }, want: true},

		// Card facts: case-insensitive.
		{name: "type equals folds", cond: cond("payment_method.type", "equals", "Card"), want: true},
		{name: "network equals Visa", cond: cond("payment_method.network", "equals", "Visa"), want: true},
		{name: "network upper-case event", cond: cond("payment_method.network", "equals", "visa"), mutate: func(p *schemas.PaymentRequested) { p.PaymentMethod.Network = "VISA" }, want: true},
		{name: "network one_of miss", cond: cond("payment_method.network", "one_of", "", "mastercard", "amex"), want: false},
		{name: "network not_one_of", cond: cond("payment_method.network", "not_one_of", "", "mastercard", "amex"), want: true},
		{name: "network contains", cond: cond("payment_method.network", "contains", "IS"), want: true},
		{name: "network not_contains", cond: cond("payment_method.network", "not_contains", "vi"), want: false},
		{name: "network absent", cond: cond("payment_method.network", "one_of", "", ""), mutate: func(p *schemas.PaymentRequested) { p.PaymentMethod.Network = "" }, want: true},
		{name: "funding equals miss", cond: cond("payment_method.funding", "equals", "debit"), want: false},
		{name: "funding not_equals", cond: cond("payment_method.funding", "not_equals", "debit"), want: true},

		// BIN prefixes.
		{name: "bin starts_with", cond: cond("payment_method.bin", "starts_with", "4242"), want: true},
		{name: "bin starts_with any of", cond: cond("payment_method.bin", "starts_with", "", "51", "4242"), want: true},
		{name: "bin starts_with miss", cond: cond("payment_method.bin", "starts_with", "5"), want: false},
		{name: "bin equals", cond: cond("payment_method.bin", "equals", "424242"), want: true},
		{name: "bin ends_with", cond: cond("payment_method.bin", "ends_with", "42"), want: true},
		{name: "bin not_contains none of", cond: cond("payment_method.bin", "not_contains", "", "99", "00"), want: true},
		{name: "bin not_contains one of", cond: cond("payment_method.bin", "not_contains", "", "99", "24"), want: false},

		// Countries.
		{name: "issuer_country one_of", cond: cond("payment_method.issuer_country", "one_of", "", "AT", "DE", "CH"), want: true},
		{name: "issuer_country equals folds", cond: cond("payment_method.issuer_country", "equals", "de"), want: true},
		{name: "issuer_country not_one_of", cond: cond("payment_method.issuer_country", "not_one_of", "", "DE"), want: false},
		{name: "customer.country equals", cond: cond("customer.country", "equals", "AT"), want: true},
		{name: "customer.country one_of miss", cond: cond("customer.country", "one_of", "", "DE"), want: false},
		{name: "customer_id equals", cond: cond("customer.customer_id", "equals", "c_1"), want: true},
		{name: "customer_id not_equals", cond: cond("customer.customer_id", "not_equals", "c_1"), want: false},

		// Metadata: exact text, numbers for comparisons, absent keys.
		{name: "metadata equals", cond: cond("metadata.channel", "equals", "web"), want: true},
		{name: "metadata is case-sensitive", cond: cond("metadata.channel", "equals", "WEB"), want: false},
		{name: "metadata not_equals", cond: cond("metadata.channel", "not_equals", "web"), want: false},
		{name: "metadata ends_with", cond: cond("metadata.segment", "ends_with", "2c"), want: true},
		{name: "metadata one_of many", cond: cond("metadata.segment", "one_of", "", "a", "b", "c", "d", "e", "f", "g", "h", "i", "b2c"), want: true},
		{name: "metadata not_one_of many", cond: cond("metadata.segment", "not_one_of", "", "a", "b", "c", "d", "e", "f", "g", "h", "i", "b2c"), want: false},
		{name: "absent metadata equals", cond: cond("metadata.missing", "equals", "x"), want: false},
		{name: "absent metadata not_equals", cond: cond("metadata.missing", "not_equals", "x"), want: true},
		{name: "absent metadata not_one_of", cond: cond("metadata.missing", "not_one_of", "", "x"), want: true},
		{name: "absent metadata contains", cond: cond("metadata.missing", "contains", "x"), want: false},
		{name: "absent metadata not_contains", cond: cond("metadata.missing", "not_contains", "x"), want: true},
		{name: "absent metadata one_of empty", cond: cond("metadata.missing", "one_of", "", ""), want: false},
		{name: "nil metadata", cond: cond("metadata.channel", "equals", "web"), mutate: func(p *schemas.PaymentRequested) { p.Metadata = nil }, want: false},
		{name: "metadata gt", cond: cond("metadata.risk_score", "gt", "40"), want: true},
		{name: "metadata lt at bound", cond: cond("metadata.risk_score", "lt", "42.5"), want: false},
		{name: "metadata lte at bound", cond: cond("metadata.risk_score", "lte", "42.5"), want: true},
		{name: "metadata gte above", cond: cond("metadata.risk_score", "gte", "43"), want: false},
		{name: "metadata between", cond: cond("metadata.risk_score", "between", "", "40", "50"), want: true},
		{name: "metadata not a number", cond: cond("metadata.channel", "gt", "1"), want: false},
		{name: "absent metadata number", cond: cond("metadata.missing", "lt", "1"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := oneRule(t, tt.cond)
			req := event()
			if tt.mutate != nil {
				tt.mutate(req)
			}
			d, err := r.Route(req)
			if err != nil {
				t.Fatalf("Route: %v", err)
			}
			if got := d.RuleID == "r"; got != tt.want {
				t.Fatalf("matched = %v, want %v (decision %+v)", got, tt.want, d)
			}
			// Explain agrees, and names the failing condition.
			ex := r.Explain(req)
			if len(ex.Rules) != 1 || ex.Rules[0].Matched != tt.want || (ex.Rules[0].Failed == nil) != tt.want {
				t.Fatalf("explanation disagrees: %+v", ex.Rules)
			}
		})
	}
}

// TestConditionsAreANDed: a rule matches only when every condition holds,
// and the first rule that matches wins.
func TestConditionsAreANDed(t *testing.T) {
	r := oneRule(t,
		cond("currency", "equals", "EUR"),
		cond("payment_method.issuer_country", "one_of", "", "AT", "DE", "CH"),
		cond("amount_minor", "lt", "10000"),
	)
	req := event()
	if d, _ := r.Route(req); d.RuleID != "r" {
		t.Fatalf("all hold: %+v", d)
	}
	req.AmountMinor = 10000
	d, _ := r.Route(req)
	if d.RuleID != router.RuleDefault {
		t.Fatalf("one fails: %+v", d)
	}
	ex := r.Explain(req)
	f := ex.Rules[0].Failed
	if f == nil || f.Index != 2 || f.Field != "amount_minor" || f.Actual != "10000" || f.Op != "lt" || f.Expected[0] != "10000" {
		t.Fatalf("failed condition: %+v", f)
	}
}
