package router

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/payroute/payroute/schemas"
)

// bigConfig has n rules shaped like real ones: currency, network, amount
// range and BIN prefix conditions that an ordinary payment passes, then a
// merchant condition that only one merchant passes, so a payment of no
// listed merchant evaluates four conditions of every rule before the
// default route. No rule reads metadata.
func bigConfig(n int) Configuration {
	cfg := DefaultConfiguration()
	cfg.Version = "bench"
	cfg.Routes = map[string][]Candidate{
		"a": {{PSP: "psp-a", Method: "card"}, {PSP: "psp-b", Method: "card"}, {PSP: "psp-c", Method: "card"}},
		"b": {{PSP: "psp-b", Method: "card"}, {PSP: "psp-a", Method: "card"}},
	}
	cfg.DefaultRoute = "b"
	for i := 0; i < n; i++ {
		cfg.Rules = append(cfg.Rules, Rule{
			ID: fmt.Sprintf("rule-%03d", i),
			When: []Condition{
				{Field: "currency", Op: "one_of", Values: []string{"EUR", "GBP", "USD", "CHF"}},
				{Field: "payment_method.network", Op: "not_one_of", Values: []string{"amex", "jcb"}},
				{Field: "amount_minor", Op: "between", Values: []string{"100", fmt.Sprint(1_000_000 + i)}},
				{Field: "payment_method.bin", Op: "starts_with", Values: []string{"4", "5"}},
				{Field: "merchant_id", Op: "equals", Value: fmt.Sprintf("m_%03d", i)},
			},
			Target: Target{RankedList: RankedList{Route: []string{"a", "b"}[i%2]}},
		})
	}
	return cfg
}

// unindexedConfig has n rules the index cannot narrow (no equals or
// one_of on text): each passes four conditions for an ordinary payment and
// fails the fifth, a BIN suffix, so every condition of every rule is
// evaluated. The worst case for a 200-rule decision.
func unindexedConfig(n int) Configuration {
	cfg := bigConfig(0)
	for i := 0; i < n; i++ {
		cfg.Rules = append(cfg.Rules, Rule{
			ID: fmt.Sprintf("rule-%03d", i),
			When: []Condition{
				{Field: "currency", Op: "not_equals", Value: "JPY"},
				{Field: "payment_method.network", Op: "not_one_of", Values: []string{"amex", "jcb"}},
				{Field: "amount_minor", Op: "between", Values: []string{"100", fmt.Sprint(1_000_000 + i)}},
				{Field: "payment_method.bin", Op: "starts_with", Values: []string{"4", "5"}},
				{Field: "payment_method.bin", Op: "ends_with", Value: fmt.Sprintf("%03d", i)},
			},
			Target: Target{RankedList: RankedList{Route: []string{"a", "b"}[i%2]}},
		})
	}
	return cfg
}

// unsharedConfig is unindexedConfig with no condition shared between
// rules either, so the memo cannot help: 5n distinct conditions, 4n of
// them evaluated.
func unsharedConfig(n int) Configuration {
	cfg := bigConfig(0)
	for i := 0; i < n; i++ {
		cfg.Rules = append(cfg.Rules, Rule{
			ID: fmt.Sprintf("rule-%03d", i),
			When: []Condition{
				{Field: "customer.customer_id", Op: "not_equals", Value: fmt.Sprintf("c_x%d", i)},
				{Field: "merchant_id", Op: "not_one_of", Values: []string{fmt.Sprintf("m_x%d", i), "m_y"}},
				{Field: "amount_minor", Op: "between", Values: []string{fmt.Sprint(100 + i), fmt.Sprint(1_000_000 + i)}},
				{Field: "payment_method.bin", Op: "starts_with", Values: []string{"4", fmt.Sprintf("5%d", i)}},
				{Field: "payment_method.bin", Op: "ends_with", Value: fmt.Sprintf("%03d", i)},
			},
			Target: Target{RankedList: RankedList{Route: []string{"a", "b"}[i%2]}},
		})
	}
	return cfg
}

func benchRouter(tb testing.TB, n int) *Router {
	return newBenchRouter(tb, bigConfig(n))
}

func newBenchRouter(tb testing.TB, cfg Configuration) *Router {
	tb.Helper()
	r, err := New(cfg, []string{"psp-a", "psp-b", "psp-c"})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return r
}

func benchEvent(merchant string) *schemas.PaymentRequested {
	return &schemas.PaymentRequested{
		PaymentID: "pay_bench_1", MerchantID: merchant, Operation: schemas.OpAuthorize,
		AmountMinor: 2500, Currency: "EUR",
		PaymentMethod: schemas.PaymentMethod{Token: "tok_1", Type: "card", Network: "visa", Funding: "credit", BIN: "424242", IssuerCountry: "DE"},
		Customer:      schemas.Customer{CustomerID: "c_1", Country: "DE"},
		Metadata:      map[string]string{"channel": "web"},
	}
}

// TestDecideDoesNotAllocate: evaluating 200 rules allocates nothing;
// Route's one allocation is the caller's copy of the candidates.
func TestDecideDoesNotAllocate(t *testing.T) {
	if r := benchRouter(t, 200); r.index == nil || r.rules[0].conds[0].memo < 0 || r.rules[0].conds[4].memo >= 0 {
		t.Fatal("the merchant rules are not indexed, or shared conditions not memoized")
	}
	for _, tc := range []struct {
		merchant string
		r        *Router
	}{
		{"m_none", benchRouter(t, 200)}, {"m_199", benchRouter(t, 200)}, {"m_000", benchRouter(t, 200)},
		{"m_none", newBenchRouter(t, unindexedConfig(200))},
		{"m_none", newBenchRouter(t, unsharedConfig(200))},
	} {
		r, merchant := tc.r, tc.merchant
		req := benchEvent(merchant)
		if n := testing.AllocsPerRun(200, func() {
			if _, _, _, err := r.decide(req, nil); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: decide allocates %v times", merchant, n)
		}
		if n := testing.AllocsPerRun(200, func() { _, _ = r.Route(req) }); n != 1 {
			t.Errorf("%s: Route allocates %v times, want 1", merchant, n)
		}
	}
	// A split and a gateway set are free too.
	cfg := bigConfig(0)
	cfg.GatewaySets = map[string][]GatewayEntry{"g": {{Network: "visa", Currency: "EUR", RankedList: RankedList{Route: "a"}}}}
	cfg.Rules = []Rule{
		{ID: "gs", When: []Condition{{Field: "metadata.channel", Op: "equals", Value: "web"}}, Target: Target{GatewaySet: "g"}},
		{ID: "split", Split: []Branch{{Percent: 50, Target: Target{RankedList: RankedList{Route: "a"}}}, {Percent: 50, Target: Target{RankedList: RankedList{Route: "b"}}}}},
	}
	r, err := New(cfg, []string{"psp-a", "psp-b", "psp-c"})
	if err != nil {
		t.Fatal(err)
	}
	for _, channel := range []string{"web", "pos"} {
		req := benchEvent("m")
		req.Metadata["channel"] = channel
		if n := testing.AllocsPerRun(200, func() { _, _, _, _ = r.decide(req, nil) }); n != 0 {
			t.Errorf("channel %s: decide allocates %v times", channel, n)
		}
	}
}

// BenchmarkRoute200Rules measures one decision on a 200-rule configuration:
// the payment of no listed merchant evaluates every rule (the worst case),
// m_199 matches the last rule, m_000 the first. It reports p50 and p99 of
// single decisions besides the mean.
func BenchmarkRoute200Rules(b *testing.B) {
	indexed := benchRouter(b, 200)
	unindexed := newBenchRouter(b, unindexedConfig(200))
	unshared := newBenchRouter(b, unsharedConfig(200))
	if indexed.index == nil || unindexed.index != nil || unshared.index != nil {
		b.Fatal("index not as intended")
	}
	for _, tc := range []struct {
		name, merchant string
		r              *Router
	}{
		{"merchant-rules/no-match", "m_none", indexed},
		{"merchant-rules/last-rule", "m_199", indexed},
		{"merchant-rules/first-rule", "m_000", indexed},
		{"unindexed/no-match-all-conditions", "m_none", unindexed},
		{"unshared/no-match-all-conditions", "m_none", unshared},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := tc.r
			req := benchEvent(tc.merchant)
			lat := make([]time.Duration, 0, min(b.N, 1<<20))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				d, err := r.Route(req)
				el := time.Since(start)
				if err != nil || len(d.Candidates) == 0 {
					b.Fatal(err)
				}
				if len(lat) < cap(lat) {
					lat = append(lat, el)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// BenchmarkDecide200Rules is the evaluation alone, without Route's copy,
// in the worst case (every condition of every rule evaluated).
func BenchmarkDecide200Rules(b *testing.B) {
	r := newBenchRouter(b, unindexedConfig(200))
	req := benchEvent("m_none")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, _, err := r.decide(req, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew200Rules is the cost of compiling and checking (pairwise
// shadowing) a 200-rule configuration, paid at start and on each reload.
func BenchmarkNew200Rules(b *testing.B) {
	cfg := bigConfig(200)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := New(cfg, []string{"psp-a", "psp-b", "psp-c"}); err != nil {
			b.Fatal(err)
		}
	}
}
