package router_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// TestIndexAgreesWithRuleByRule generates rule lists that the rule index
// and the shared-condition memo act on (many rules testing the same fields
// with equals and one_of, repeated conditions) and checks that Route, which
// uses them, decides every payment exactly as Explain, which evaluates rule
// by rule.
func TestIndexAgreesWithRuleByRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 14))
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	merchants := []string{"m1", "m2", "m3", "m4", "m5", "m6"}
	currencies := []string{"EUR", "USD", "GBP", "JPY"}
	networks := []string{"visa", "mastercard", "amex"}
	condition := func() router.Condition {
		switch rng.IntN(7) {
		case 0:
			return cond("merchant_id", "equals", pick(merchants...))
		case 1:
			return cond("merchant_id", "one_of", "", pick(merchants...), pick(merchants...))
		case 2:
			return cond("currency", "one_of", "", pick(currencies...), pick(currencies...))
		case 3:
			return cond("payment_method.network", pick("equals", "not_equals"), pick(networks...))
		case 4:
			return cond("amount_minor", pick("lt", "gte"), pick("500", "1000", "5000"))
		case 5:
			return cond("metadata.channel", pick("equals", "not_equals"), pick("web", "pos"))
		default:
			return cond("currency", "equals", pick(currencies...))
		}
	}
	for round := 0; round < 40; round++ {
		cfg := router.DefaultConfiguration()
		cfg.Version = fmt.Sprintf("r%d", round)
		cfg.Routes = map[string][]router.Candidate{"a": {{PSP: "psp-a"}}, "b": {{PSP: "psp-b"}}, "c": {{PSP: "psp-c"}}}
		cfg.DefaultRoute = "c"
		cfg.GatewaySets = map[string][]router.GatewayEntry{"g": {{Network: "visa", RankedList: router.RankedList{Route: "a"}}}}
		for i := 0; i < 30; i++ {
			ru := router.Rule{ID: fmt.Sprintf("r%d", i), Target: router.Target{RankedList: router.RankedList{Route: pick("a", "b")}}}
			if i%7 == 3 {
				ru.Target = router.Target{GatewaySet: "g"}
			}
			for n := 1 + rng.IntN(3); n > 0; n-- {
				ru.When = append(ru.When, condition())
			}
			cfg.Rules = append(cfg.Rules, ru)
		}
		// Random rule lists contain unreachable and contradictory rules;
		// keep the ones Check accepts.
		for {
			ps := router.Check(cfg, knownPSPs).Errors()
			if len(ps) == 0 {
				break
			}
			var i int
			fmt.Sscanf(ps[0].Key, "router.rules[%d]", &i)
			cfg.Rules = append(cfg.Rules[:i], cfg.Rules[i+1:]...)
		}
		r, err := router.New(cfg, knownPSPs)
		if err != nil {
			t.Fatal(err)
		}
		for e := 0; e < 300; e++ {
			req := &schemas.PaymentRequested{
				PaymentID: fmt.Sprintf("p%d", e), MerchantID: pick(append(merchants, "m9")...), Operation: schemas.OpCharge,
				AmountMinor: int64(1 + rng.IntN(9000)), Currency: pick(currencies...),
				PaymentMethod: schemas.PaymentMethod{Token: "tok", Network: pick(networks...)},
			}
			if rng.IntN(3) > 0 {
				req.Metadata = map[string]string{"channel": pick("web", "pos", "app")}
			}
			agree(t, r, req)
		}
	}
}
