package router_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// The fuzz targets check that rule evaluation and configuration parsing
// never panic, and that the indexed, memoized hot path (Route) always
// agrees with the rule-by-rule evaluation Explain records. CI runs their
// seed corpora (testdata/fuzz/<target>) as plain tests; go test -fuzz
// explores further.

// fuzzRules exercises every operator on every kind of field, with enough
// rules sharing fields for the rule index and the memo to be used.
const fuzzRules = `router:
  version: fuzz
  default_route: b
  routes:
    a: [{psp: psp-a}, {psp: psp-b}]
    b: [{psp: psp-b}, {psp: psp-c}]
  gateway_sets:
    g:
      - {network: visa, currency: EUR, route: a}
      - {network: "*", currency: USD, candidates: [{psp: psp-c}, {psp: psp-a}]}
  rules:
    - {id: m1, route: a, when: [{field: merchant_id, op: equals, value: m1}, {field: currency, op: one_of, values: [EUR, GBP]}]}
    - {id: m2, route: b, when: [{field: merchant_id, op: one_of, values: [m2, m3]}, {field: amount_minor, op: between, values: [100, 5000]}]}
    - {id: m4, route: a, when: [{field: merchant_id, op: equals, value: m4}, {field: payment_method.bin, op: starts_with, values: ["4", "51"]}]}
    - {id: m5, gateway_set: g, when: [{field: merchant_id, op: equals, value: m5}]}
    - {id: eur-visa, route: b, when: [{field: currency, op: equals, value: EUR}, {field: payment_method.network, op: equals, value: visa}]}
    - {id: rich, route: a, when: [{field: metadata.score, op: gt, value: "7.5"}, {field: metadata.tier, op: not_one_of, values: [basic]}]}
    - {id: texts, route: b, when: [{field: payment_id, op: contains, value: "x"}, {field: customer.customer_id, op: ends_with, value: "9"}, {field: metadata.tag, op: not_contains, value: "no"}]}
    - {id: recurring, route: a, when: [{field: recurring, op: equals, value: true}, {field: amount_minor, op: lt, value: 100}]}
    - {id: countries, route: b, when: [{field: payment_method.issuer_country, op: one_of, values: [AT, DE, CH]}, {field: customer.country, op: not_equals, value: DE}]}
    - {id: ops, route: a, when: [{field: operation, op: equals, value: CHARGE}, {field: payment_method.funding, op: not_equals, value: prepaid}, {field: amount_minor, op: gte, value: 1000}]}
    - {id: types, route: b, when: [{field: payment_method.type, op: equals, value: wallet}, {field: metadata.score, op: lte, value: "3"}]}
    - id: split
      when: [{field: currency, op: one_of, values: [USD, CAD]}]
      split: [{percent: 33.33, route: a}, {percent: 33.33, route: b}, {percent: 33.34, gateway_set: g}]
`

var fuzzPSPs = []string{"psp-a", "psp-b", "psp-c"}

func fuzzEvent(id, merchant, currency, network, bin, country, metaKey, metaVal string, amount int64, recurring bool, routeRef string) *schemas.PaymentRequested {
	req := &schemas.PaymentRequested{
		PaymentID: id, MerchantID: merchant, Operation: schemas.OpCharge, AmountMinor: amount, Currency: currency, Recurring: recurring,
		PaymentMethod: schemas.PaymentMethod{Token: "tok", Type: "card", Network: network, BIN: bin, IssuerCountry: country},
		Customer:      schemas.Customer{CustomerID: id, Country: country},
		Routing:       schemas.Routing{RouteRef: routeRef},
	}
	if metaKey != "" {
		req.Metadata = map[string]string{metaKey: metaVal, "tier": metaVal}
	}
	if recurring {
		req.Operation = schemas.OpAuthorize
	}
	return req
}

// agree routes req and checks the decision against Explain and itself.
func agree(t *testing.T, r *router.Router, req *schemas.PaymentRequested) {
	t.Helper()
	d, err := r.Route(req)
	ex := r.Explain(req)
	if err != nil {
		var re *router.RouteError
		if !errors.As(err, &re) || ex.Rejected == nil || ex.Rejected.Reason != re.Reason || ex.Decision != nil {
			t.Fatalf("Route error %v, explanation %+v", err, ex)
		}
		return
	}
	if ex.Decision == nil || !reflect.DeepEqual(*ex.Decision, d) {
		t.Fatalf("Route %+v, Explain %+v", d, ex.Decision)
	}
	if d.ConfigVersion != r.Version() || d.RuleID == "" || len(d.Candidates) == 0 {
		t.Fatalf("decision %+v", d)
	}
	for i, c := range d.Candidates {
		if int(c.Rank) != i+1 || c.PSP == "" {
			t.Fatalf("candidates %+v", d.Candidates)
		}
	}
	again, _ := r.Route(req)
	if !reflect.DeepEqual(again, d) {
		t.Fatalf("not deterministic: %+v then %+v", d, again)
	}
}

func FuzzRoute(f *testing.F) {
	f.Add("pay_1", "m1", "EUR", "visa", "424242", "DE", "score", "8", int64(2500), false, "")
	cfg, err := router.LoadBytes("fuzz.yaml", []byte(fuzzRules), nil)
	if err != nil {
		f.Fatal(err)
	}
	r, err := router.New(cfg, fuzzPSPs)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, merchant, currency, network, bin, country, metaKey, metaVal string, amount int64, recurring bool, routeRef string) {
		agree(t, r, fuzzEvent(id, merchant, currency, network, bin, country, metaKey, metaVal, amount, recurring, routeRef))
	})
}

// FuzzRule builds a rule from arbitrary field, operator and operands, checks
// it, and when it is accepted routes an arbitrary payment with it.
func FuzzRule(f *testing.F) {
	f.Add("currency", "one_of", "", "EUR,GBP", "payment_method.bin", "starts_with", "4", "", "EUR", "visa", "424242", int64(100))
	f.Fuzz(func(t *testing.T, field1, op1, value1, values1, field2, op2, value2, values2, currency, network, bin string, amount int64) {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		cfg := router.DefaultConfiguration()
		cfg.Routes = map[string][]router.Candidate{"a": {{PSP: "psp-a"}}, "b": {{PSP: "psp-b"}}}
		cfg.DefaultRoute = "b"
		c1 := router.Condition{Field: field1, Op: op1, Value: value1, Values: split(values1)}
		c2 := router.Condition{Field: field2, Op: op2, Value: value2, Values: split(values2)}
		a := router.Target{RankedList: router.RankedList{Route: "a"}}
		cfg.Rules = []router.Rule{
			{ID: "both", When: []router.Condition{c1, c2}, Target: a},
			{ID: "first", When: []router.Condition{c1}, Target: a},
			{ID: "second", When: []router.Condition{c2}, Target: a},
			{ID: "first-again", When: []router.Condition{c1, {Field: "currency", Op: "not_equals", Value: "XXX"}}, Target: a},
			{ID: "same-field", When: []router.Condition{c1, {Field: field1, Op: op2, Value: value2, Values: split(values2)}}, Target: a},
		}
		cfg.RetryRules = []router.RetryRule{{ID: "retry", When: []router.Condition{c1, c2}, Action: "next_rank"}}
		ps := router.Check(cfg, fuzzPSPs)
		r, err := router.New(cfg, fuzzPSPs)
		if (err == nil) != (len(ps.Errors()) == 0) {
			t.Fatalf("New: %v; Check: %q", err, problemStrings(ps))
		}
		if err != nil {
			return
		}
		req := fuzzEvent("pay_x", "m1", currency, network, bin, "DE", "k", value1, amount, false, "")
		agree(t, r, req)
		r.RetryAction(router.RetryInput{Class: schemas.ClassPSPError, PSPCode: value2, AttemptNumber: 1, Request: req,
			Decision: schemas.Decision{Candidates: []schemas.Candidate{{PSP: "psp-a", Rank: 1}, {PSP: "psp-b", Rank: 2}}}, Rank: 1})
	})
}

// FuzzConfig parses arbitrary YAML as a router section: loading and
// checking never panic, New accepts exactly what Check accepts, and an
// accepted configuration routes.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(fuzzRules))
	events := []*schemas.PaymentRequested{
		fuzzEvent("pay_1", "m1", "EUR", "visa", "424242", "DE", "score", "9", 2500, false, ""),
		fuzzEvent("pay_2", "m5", "USD", "mastercard", "510000", "US", "", "", 99, true, ""),
		fuzzEvent("pay_3", "m9", "JPY", "jcb", "356000", "JP", "tag", "x", 1, false, "a"),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := router.LoadBytes("fuzz.yaml", data, nil)
		if err != nil {
			return
		}
		opt := router.ExcludeFromFailover("psp-c")
		ps := router.Check(cfg, fuzzPSPs, opt)
		r, err := router.New(cfg, fuzzPSPs, opt)
		if (err == nil) != (len(ps.Errors()) == 0) {
			t.Fatalf("New: %v; Check: %q", err, problemStrings(ps))
		}
		if err != nil {
			if err.Error() != ps.Err().Error() {
				t.Fatalf("New and Check disagree:\n%v\n%v", err, ps.Err())
			}
			return
		}
		for _, req := range events {
			agree(t, r, req)
		}
	})
}
