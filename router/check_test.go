package router_test

import (
	"strings"
	"testing"

	"github.com/payroute/payroute/router"
)

// checkYAML checks a router section made of the base routes and body
// (indented as under "router:"), with psp-b excluded from failover.
func checkYAML(t *testing.T, body string) router.Problems {
	t.Helper()
	doc := "router:\n  version: t1\n  routes: {a: [{psp: psp-a}], b: [{psp: psp-b}]}\n" + body
	cfg, err := router.LoadBytes("rules.yaml", []byte(doc), nil)
	if err != nil {
		t.Fatalf("LoadBytes: %v", err)
	}
	return router.Check(cfg, knownPSPs, router.ExcludeFromFailover("psp-b"))
}

// want is one expected problem: its key and a part of its message.
type want struct{ key, msg string }

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []want
	}{
		{name: "valid rules", body: `
  rules:
    - {id: eur, when: [{field: currency, op: equals, value: EUR}], route: a}
    - id: dach
      when:
        - {field: payment_method.issuer_country, op: one_of, values: [AT, DE]}
      route: b
`},

		// Contradictions.
		{name: "currency EUR and USD", body: `
  rules:
    - id: r
      when:
        - {field: currency, op: equals, value: EUR}
        - {field: currency, op: equals, value: USD}
      route: a
`, want: []want{{"router.rules[0].when[1]", `rules.yaml:9: router.rules[0].when[1] (r): contradictory: currency equals "USD" and currency equals "EUR" (when[0]) cannot both hold`}}},
		{name: "equals and not_equals", body: `
  rules:
    - {id: r, route: a, when: [{field: merchant_id, op: equals, value: m1}, {field: merchant_id, op: not_equals, value: m1}]}
`, want: []want{{"router.rules[0].when[1]", "contradictory"}}},
		{name: "disjoint one_of", body: `
  rules:
    - {id: r, route: a, when: [{field: currency, op: one_of, values: [EUR, GBP]}, {field: currency, op: one_of, values: [USD, JPY]}]}
`, want: []want{{"router.rules[0].when[1]", "contradictory"}}},
		{name: "one_of and not_one_of", body: `
  rules:
    - {id: r, route: a, when: [{field: currency, op: one_of, values: [EUR, GBP]}, {field: currency, op: not_one_of, values: [GBP, EUR]}]}
`, want: []want{{"router.rules[0].when[1]", "contradictory"}}},
		{name: "empty amount range", body: `
  rules:
    - {id: r, route: a, when: [{field: amount_minor, op: gt, value: 1000}, {field: amount_minor, op: lt, value: 500}]}
`, want: []want{{"router.rules[0].when[1]", `amount_minor lt "500" and amount_minor gt "1000" (when[0]) cannot both hold`}}},
		{name: "amount below its bounds", body: `
  rules:
    - {id: r, route: a, when: [{field: amount_minor, op: lt, value: 1}]}
`, want: []want{{"router.rules[0].when[0]", `contradictory: amount_minor lt "1" can never hold`}}},
		{name: "three conditions that only fail together", body: `
  rules:
    - {id: r, route: a, when: [{field: amount_minor, op: gte, value: 100}, {field: amount_minor, op: lte, value: 100}, {field: amount_minor, op: not_equals, value: 100}]}
`, want: []want{{"router.rules[0].when[2]", `contradictory: amount_minor gte "100" and amount_minor lte "100" and amount_minor not_equals "100" cannot all hold`}}},
		{name: "recurring true and false", body: `
  rules:
    - {id: r, route: a, when: [{field: recurring, op: equals, value: true}, {field: recurring, op: equals, value: false}]}
`, want: []want{{"router.rules[0].when[1]", "contradictory"}}},
		{name: "operation AUTHORIZE and CHARGE", body: `
  rules:
    - {id: r, route: a, when: [{field: operation, op: equals, value: AUTHORIZE}, {field: operation, op: equals, value: CHARGE}]}
`, want: []want{{"router.rules[0].when[1]", "contradictory"}}},
		{name: "BIN prefixes that exclude each other", body: `
  rules:
    - {id: r, route: a, when: [{field: payment_method.bin, op: starts_with, value: "4"}, {field: payment_method.bin, op: starts_with, values: ["51", "52"]}]}
`, want: []want{{"router.rules[0].when[1]", "contradictory"}}},
		{name: "nested BIN prefixes are fine", body: `
  rules:
    - {id: r, route: a, when: [{field: payment_method.bin, op: starts_with, value: "4"}, {field: payment_method.bin, op: starts_with, value: "4242"}]}
`},
		{name: "suffixes that exclude each other", body: `
  rules:
    - {id: r, route: a, when: [{field: metadata.sku, op: ends_with, value: "-eu"}, {field: metadata.sku, op: ends_with, value: "-us"}]}
`, want: []want{{"router.rules[0].when[1]", "contradictory"}}},
		{name: "required and forbidden substring", body: `
  rules:
    - {id: r, route: a, when: [{field: metadata.tag, op: contains, value: "vip"}, {field: metadata.tag, op: not_contains, value: "i"}]}
`, want: []want{{"router.rules[0].when[1]", "contradictory"}}},
		{name: "prefix with forbidden substring", body: `
  rules:
    - {id: r, route: a, when: [{field: metadata.tag, op: not_contains, value: "b"}, {field: metadata.tag, op: starts_with, value: "ab"}]}
`, want: []want{{"router.rules[0].when[1]", "contradictory"}}},
		{name: "metadata numbers out of range", body: `
  rules:
    - {id: r, route: a, when: [{field: metadata.score, op: gt, value: "5"}, {field: metadata.score, op: lte, value: "5"}]}
`, want: []want{{"router.rules[0].when[1]", "contradictory"}}},
		{name: "metadata number range of one value is fine", body: `
  rules:
    - {id: r, route: a, when: [{field: metadata.score, op: gte, value: "5"}, {field: metadata.score, op: lte, value: "5.0"}]}
`},
		{name: "metadata text is not a number", body: `
  rules:
    - {id: r, route: a, when: [{field: metadata.score, op: equals, value: "high"}, {field: metadata.score, op: gt, value: "5"}]}
`, want: []want{{"router.rules[0].when[1]", "contradictory"}}},
		{name: "case-folded values are equal", body: `
  rules:
    - {id: r, route: a, when: [{field: payment_method.network, op: equals, value: Visa}, {field: payment_method.network, op: equals, value: VISA}]}
`},

		// Unreachable rules.
		{name: "smaller amount range after a larger one", body: `
  rules:
    - {id: big, route: a, when: [{field: amount_minor, op: gt, value: 100}]}
    - {id: bigger, route: b, when: [{field: amount_minor, op: gt, value: 1000}]}
`, want: []want{{"router.rules[1]", "rules.yaml:7: router.rules[1] (bigger): unreachable: every payment it matches is matched first by rules[0] (big, line 6)"}}},
		{name: "larger amount range after a smaller one", body: `
  rules:
    - {id: bigger, route: b, when: [{field: amount_minor, op: gt, value: 1000}]}
    - {id: big, route: a, when: [{field: amount_minor, op: gt, value: 100}]}
`},
		{name: "value inside a range", body: `
  rules:
    - {id: mid, route: a, when: [{field: amount_minor, op: between, values: [100, 200]}]}
    - {id: one, route: b, when: [{field: amount_minor, op: equals, value: 150}]}
`, want: []want{{"router.rules[1]", "unreachable"}}},
		{name: "longer BIN prefix after a shorter one", body: `
  rules:
    - {id: visa-ish, route: a, when: [{field: payment_method.bin, op: starts_with, values: ["4", "5"]}]}
    - {id: specific, route: b, when: [{field: payment_method.bin, op: starts_with, values: ["4242", "51"]}]}
`, want: []want{{"router.rules[1]", "unreachable"}}},
		{name: "shorter BIN prefix after a longer one", body: `
  rules:
    - {id: specific, route: b, when: [{field: payment_method.bin, op: starts_with, value: "4242"}]}
    - {id: visa-ish, route: a, when: [{field: payment_method.bin, op: starts_with, value: "4"}]}
`},
		{name: "value excluded by an earlier not_equals", body: `
  rules:
    - {id: not-pos, route: a, when: [{field: metadata.channel, op: not_equals, value: pos}]}
    - {id: web, route: b, when: [{field: metadata.channel, op: equals, value: web}]}
`, want: []want{{"router.rules[1]", "unreachable"}}},
		{name: "pattern that may be the excluded value", body: `
  rules:
    - {id: not-pos, route: a, when: [{field: metadata.channel, op: not_equals, value: pos}]}
    - {id: has-o, route: b, when: [{field: metadata.channel, op: contains, value: o}]}
`},
		{name: "network not_one_of then one network", body: `
  rules:
    - {id: not-amex, route: a, when: [{field: payment_method.network, op: not_one_of, values: [amex]}]}
    - {id: visa, route: b, when: [{field: payment_method.network, op: equals, value: visa}]}
`, want: []want{{"router.rules[1]", "unreachable"}}},
		{name: "substring then a prefix containing it", body: `
  rules:
    - {id: has-b, route: a, when: [{field: metadata.tag, op: contains, value: b}]}
    - {id: ab, route: b, when: [{field: metadata.tag, op: starts_with, value: ab}]}
`, want: []want{{"router.rules[1]", "unreachable"}}},
		{name: "not_contains implied by a stricter not_contains", body: `
  rules:
    - {id: no-ab, route: a, when: [{field: metadata.tag, op: not_contains, value: ab}]}
    - {id: no-a, route: b, when: [{field: metadata.tag, op: not_contains, value: a}]}
`, want: []want{{"router.rules[1]", "unreachable"}}},
		{name: "metadata number range inside another", body: `
  rules:
    - {id: ten-up, route: a, when: [{field: metadata.score, op: gte, value: "10"}]}
    - {id: twenties, route: b, when: [{field: metadata.score, op: between, values: ["20", "30"]}]}
`, want: []want{{"router.rules[1]", "unreachable"}}},
		{name: "a condition true of every payment", body: `
  rules:
    - {id: any-amount, route: a, when: [{field: amount_minor, op: gt, value: 0}, {field: operation, op: one_of, values: [AUTHORIZE, CHARGE]}]}
    - {id: eur, route: b, when: [{field: currency, op: equals, value: EUR}]}
`, want: []want{{"router.rules[1]", "unreachable"}}},
		{name: "recurring not_equals false after equals true", body: `
  rules:
    - {id: rec, route: a, when: [{field: recurring, op: equals, value: true}]}
    - {id: rec2, route: b, when: [{field: recurring, op: not_equals, value: false}]}
`, want: []want{{"router.rules[1]", "unreachable"}}},
		{name: "more conditions later are shadowed", body: `
  rules:
    - {id: eur, route: a, when: [{field: currency, op: equals, value: EUR}]}
    - {id: eur-visa, route: b, when: [{field: currency, op: equals, value: EUR}, {field: payment_method.network, op: equals, value: visa}]}
`, want: []want{{"router.rules[1]", "unreachable"}}},
		{name: "fewer conditions later are not", body: `
  rules:
    - {id: eur-visa, route: b, when: [{field: currency, op: equals, value: EUR}, {field: payment_method.network, op: equals, value: visa}]}
    - {id: eur, route: a, when: [{field: currency, op: equals, value: EUR}]}
`},
		{name: "catch-all shadows the rest and the default route", body: `
  default_route: a
  rules:
    - {id: all, route: a}
    - {id: eur, route: b, when: [{field: currency, op: equals, value: EUR}]}
`, want: []want{
			{"router.rules[1]", "matched first by rules[0] (all, line 7)"},
			{"router.default_route", "warning: rules.yaml:5: router.default_route: never used: rules[0] (all) matches every payment the rules see"},
		}},
		{name: "a gateway set with gaps does not shadow", body: `
  gateway_sets:
    eu: [{currency: EUR, route: a}]
  rules:
    - {id: by-set, gateway_set: eu}
    - {id: eur, route: b, when: [{field: currency, op: equals, value: EUR}]}
`},
		{name: "a gateway set with a catch-all entry does", body: `
  gateway_sets:
    all: [{currency: EUR, route: a}, {network: "*", currency: "*", route: b}]
  rules:
    - {id: by-set, gateway_set: all}
    - {id: eur, route: b, when: [{field: currency, op: equals, value: EUR}]}
`, want: []want{{"router.rules[1]", "unreachable"}}},
		{name: "a split of lists shadows", body: `
  rules:
    - id: eur-split
      when: [{field: currency, op: equals, value: EUR}]
      split: [{percent: 50, route: a}, {percent: 50, route: b}]
    - {id: eur, route: b, when: [{field: currency, op: one_of, values: [EUR]}]}
`, want: []want{{"router.rules[1]", "unreachable"}}},

		// Malformed rules.
		{name: "ids", body: `
  rules:
    - {route: a}
    - {id: "has space", route: a, when: [{field: currency, op: equals, value: EUR}]}
    - {id: default, route: a, when: [{field: currency, op: equals, value: USD}]}
    - {id: x, route: a, when: [{field: currency, op: equals, value: GBP}]}
    - {id: x, route: a, when: [{field: currency, op: equals, value: JPY}]}
`, want: []want{
			{"router.rules[0].id", "every rule needs an id"},
			{"router.rules[1].id", `invalid id "has space"`},
			{"router.rules[2].id", `"default" is reserved`},
			{"router.rules[4].id", "id already used by rules[3]"},
		}},
		{name: "fields and operators", body: `
  rules:
    - id: r
      route: a
      when:
        - {field: cur, op: equals, value: EUR}
        - {field: class, op: equals, value: psp_error}
        - {field: "metadata.", op: equals, value: x}
        - {field: currency, op: eq, value: EUR}
        - {field: recurring, op: gt, value: "1"}
        - {field: amount_minor, op: contains, value: "1"}
        - {field: operation, op: starts_with, value: AUTH}
        - {field: payment_method.bin, op: lt, value: "5"}
`, want: []want{
			{"router.rules[0].when[0].field", `unknown field "cur"`},
			{"router.rules[0].when[1].field", `field "class" can only be tested by retry rules`},
			{"router.rules[0].when[2].field", "metadata field needs a key"},
			{"router.rules[0].when[3].op", `unknown operator "eq"`},
			{"router.rules[0].when[4].op", "recurring is true or false"},
			{"router.rules[0].when[5].op", "amount_minor is a number: contains applies to text"},
			{"router.rules[0].when[6].op", "operation takes one of AUTHORIZE, CHARGE"},
			{"router.rules[0].when[7].op", "use starts_with for BIN prefixes"},
		}},
		{name: "operands", body: `
  rules:
    - id: r
      route: a
      when:
        - {field: currency, op: equals, values: [EUR]}
        - {field: currency, op: one_of, value: EUR}
        - {field: amount_minor, op: between, values: ["1"]}
        - {field: merchant_id, op: equals, value: ""}
        - {field: merchant_id, op: contains, values: ["a", ""]}
        - {field: currency, op: equals, value: EURO}
        - {field: customer.country, op: one_of, values: [DE, DEU]}
        - {field: payment_method.bin, op: starts_with, value: "4x"}
        - {field: amount_minor, op: gt, value: "12.50"}
        - {field: recurring, op: equals, value: "yes"}
        - {field: operation, op: equals, value: CAPTURE}
        - {field: metadata.score, op: gt, value: "high"}
        - {field: amount_minor, op: between, values: ["9", "5"]}
        - {field: merchant_id, op: contains, value: a, values: [b]}
`, want: []want{
			{"router.rules[0].when[0].value", "equals needs exactly one value (not values)"},
			{"router.rules[0].when[1].values", "one_of needs a non-empty list in values"},
			{"router.rules[0].when[2].values", "between needs values: [low, high]"},
			{"router.rules[0].when[3].value", `use one_of with values: [""]`},
			{"router.rules[0].when[4].values[1]", "an empty contains operand matches every value"},
			{"router.rules[0].when[5].value", `"EURO" is not an active ISO 4217 currency code`},
			{"router.rules[0].when[6].values[1]", `"DEU" is not an ISO 3166-1 alpha-2 country code`},
			{"router.rules[0].when[7].value", `"4x" is not a BIN or BIN prefix`},
			{"router.rules[0].when[8].value", `amount_minor is an integer (minor units for amounts), got "12.50"`},
			{"router.rules[0].when[9].value", `recurring is true or false, got "yes"`},
			{"router.rules[0].when[10].value", "CAPTURE, VOID and REFUND are pinned to the authorizing PSP"},
			{"router.rules[0].when[11].value", `gt compares numbers, got "high"`},
			{"router.rules[0].when[12].values", "between needs low <= high, got 9 > 5"},
			{"router.rules[0].when[13].value", "set value or values, not both"},
		}},
		{name: "targets", body: `
  max_ranks: 2
  rules:
    - {id: none, when: [{field: currency, op: equals, value: EUR}]}
    - {id: two, route: a, gateway_set: g, when: [{field: currency, op: equals, value: USD}]}
    - {id: no-route, route: nowhere, when: [{field: currency, op: equals, value: GBP}]}
    - {id: no-set, gateway_set: nowhere, when: [{field: currency, op: equals, value: JPY}]}
    - {id: unknown-psp, candidates: [{psp: worldpay}], when: [{field: currency, op: equals, value: CHF}]}
    - {id: too-many, candidates: [{psp: psp-a}, {psp: psp-c}, {psp: psp-a}], when: [{field: currency, op: equals, value: SEK}]}
    - {id: same-rank, candidates: [{psp: psp-a, rank: 1}, {psp: psp-c, rank: 1}], when: [{field: currency, op: equals, value: NOK}]}
`, want: []want{
			{"router.rules[0]", "a rule needs exactly one target: route, candidates, gateway_set or split"},
			{"router.rules[1]", "a rule needs exactly one target"},
			{"router.rules[2].route", `names no route in routes: "nowhere"`},
			{"router.rules[3].gateway_set", `names no gateway set in gateway_sets: "nowhere"`},
			{"router.rules[4].candidates[0].psp", `unknown PSP "worldpay" (known: GBPRIMEPAY, OMISE`},
			{"router.rules[5].candidates", "has 3 candidates, more than max_ranks (2)"},
			{"router.rules[6].candidates[1].rank", "rank 1 is already used by the candidate at index 0"},
		}},
		{name: "splits", body: `
  rules:
    - id: sum
      when: [{field: currency, op: equals, value: EUR}]
      split: [{percent: 60, route: a}, {percent: 30, route: b}]
    - id: bad-percent
      when: [{field: currency, op: equals, value: USD}]
      split: [{percent: 0, route: a}, {percent: 33.333, route: b}, {percent: 120, route: a}]
    - id: branches
      when: [{field: currency, op: equals, value: GBP}]
      split: [{id: x, percent: 50, route: a}, {id: x, percent: 25, route: b}, {percent: 25}]
`, want: []want{
			{"router.rules[0].split", "rules.yaml:8: router.rules[0].split (sum): percentages sum to 90, want 100"},
			{"router.rules[1].split[0].percent", "must be > 0 and <= 100, got 0"},
			{"router.rules[1].split[1].percent", "at most two decimals, got 33.333"},
			{"router.rules[1].split[2].percent", "must be > 0 and <= 100, got 120"},
			{"router.rules[2].split[1].id", "branch id already used by split[0]"},
			{"router.rules[2].split[2]", "a split branch needs exactly one target: route, candidates or gateway_set"},
		}},
		{name: "gateway sets", body: `
  gateway_sets:
    empty: []
    bad:
      - {network: visa, currency: EURO, route: a}
      - {network: Visa, currency: usd, route: a}
      - {network: VISA, currency: USD, route: b}
      - {network: mastercard}
      - {network: amex, route: a, candidates: [{psp: psp-a}]}
      - {network: jcb, candidates: [{psp: worldpay}]}
      - {network: diners, route: nowhere}
`, want: []want{
			{"router.gateway_sets.bad[0].currency", `"EURO" is not an active ISO 4217 currency code`},
			{"router.gateway_sets.bad[2]", "network visa and currency USD are already mapped by entry 1"},
			{"router.gateway_sets.bad[3]", "needs a ranked list: route or candidates"},
			{"router.gateway_sets.bad[4]", `names both route "a" and candidates`},
			{"router.gateway_sets.bad[5].candidates[0].psp", `unknown PSP "worldpay"`},
			{"router.gateway_sets.bad[6].route", `names no route in routes: "nowhere"`},
			{"router.gateway_sets.empty", "must list at least one entry"},
		}},
		{name: "retry rules", body: `
  retry_rules:
    - {id: ok, when: [{field: psp_code, op: equals, value: insufficient_funds}], action: same_psp, delay: 24h}
    - {id: action, action: again}
    - {id: no-psp, action: psp}
    - {id: unknown-psp, action: psp, psp: worldpay}
    - {id: excluded, action: psp, psp: psp-b}
    - {id: stray-psp, action: next_rank, psp: psp-a, when: [{field: rank, op: equals, value: 1}]}
    - {id: negative, action: same_psp, delay: -1s, when: [{field: rank, op: equals, value: 2}]}
    - {id: stop-delay, action: stop, delay: 1s, when: [{field: rank, op: equals, value: 3}]}
    - {id: hard, action: next_rank, when: [{field: class, op: equals, value: hard_decline}]}
    - {id: first-attempt, action: next_rank, when: [{field: attempt, op: lt, value: 2}]}
    - {id: funds-again, action: stop, when: [{field: psp_code, op: one_of, values: [insufficient_funds]}]}
`, want: []want{
			{"router.retry_rules[1].action", `unknown action "again" (known: next_rank, same_psp, psp, stop)`},
			{"router.retry_rules[2].psp", "action psp needs the PSP account to retry on"},
			{"router.retry_rules[3].psp", `unknown PSP "worldpay"`},
			{"router.retry_rules[4].psp", `PSP "psp-b" is excluded from failover: no retry may be sent to it`},
			{"router.retry_rules[5].psp", "psp and method apply only to action psp, not next_rank"},
			{"router.retry_rules[6].delay", "must not be negative, got -1s"},
			{"router.retry_rules[7].delay", "a stop has nothing to delay"},
			{"router.retry_rules[8].when[0].value", `class "hard_decline" is never retried: retry rules are consulted only for soft_decline, psp_error, rate_limited`},
			{"router.retry_rules[9].when[0]", `contradictory: attempt lt "2" can never hold`},
			{"router.retry_rules[10]", "unreachable: every failure it matches is matched first by retry_rules[0] (ok, line 6)"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := checkYAML(t, tt.body)
			got := problemStrings(ps)
			if len(ps) != len(tt.want) {
				t.Fatalf("%d problems, want %d:\n%s", len(ps), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if ps[i].Key != w.key || !strings.Contains(got[i], w.msg) {
					t.Errorf("problem %d:\n got %s\nwant key %s containing %q", i, got[i], w.key, w.msg)
				}
				if ps[i].File != "rules.yaml" || ps[i].Line == 0 {
					t.Errorf("problem %d not located: %+v", i, ps[i])
				}
			}
		})
	}
}

// TestNewRefusesWhatCheckReports: New fails exactly when Check reports an
// error, with the same messages, and warnings do not fail it.
func TestNewRefusesWhatCheckReports(t *testing.T) {
	doc := `router:
  routes: {a: [{psp: psp-a}, {psp: psp-b}]}
  rules:
    - {id: r, route: a, when: [{field: currency, op: equals, value: EUR}, {field: currency, op: equals, value: USD}]}
`
	cfg, err := router.LoadBytes("x.yaml", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	opt := router.ExcludeFromFailover("psp-b")
	ps := router.Check(cfg, knownPSPs, opt)
	if len(ps.Errors()) != 1 || len(ps.Warnings()) != 1 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	_, err = router.New(cfg, knownPSPs, opt)
	if err == nil || err.Error() != ps.Errors()[0].Error() {
		t.Fatalf("New: %v", err)
	}
	var p router.Problem
	if !errorsAs(err, &p) || p.Line != 4 || p.Rule != "r" {
		t.Fatalf("New's error is not the Problem: %#v", err)
	}
	cfg.Rules[0].When = cfg.Rules[0].When[:1]
	if _, err := router.New(cfg, knownPSPs, opt); err != nil {
		t.Fatalf("a warning failed New: %v", err)
	}
}

func errorsAs(err error, p *router.Problem) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return false
	}
	for _, e := range j.Unwrap() {
		if q, ok := e.(router.Problem); ok {
			*p = q
			return true
		}
	}
	return false
}
