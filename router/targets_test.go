package router_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

func splitConfig(percents ...float64) router.Configuration {
	cfg := router.DefaultConfiguration()
	cfg.Routes = map[string][]router.Candidate{}
	var branches []router.Branch
	for i, p := range percents {
		name := fmt.Sprintf("b%d", i+1)
		cfg.Routes[name] = []router.Candidate{{PSP: knownPSPs[i%len(knownPSPs)]}}
		branches = append(branches, router.Branch{ID: name, Percent: p, Target: router.Target{RankedList: router.RankedList{Route: name}}})
	}
	cfg.Rules = []router.Rule{{ID: "split", Split: branches}}
	return cfg
}

// TestSplitShares: over 100k payment ids every branch gets its share
// within one percentage point.
func TestSplitShares(t *testing.T) {
	const n = 100_000
	for _, percents := range [][]float64{{50, 50}, {70, 20, 10}, {33.33, 33.33, 33.34}, {1, 99}, {12.5, 12.5, 25, 50}} {
		t.Run(fmt.Sprint(percents), func(t *testing.T) {
			r, err := router.New(splitConfig(percents...), knownPSPs)
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]int{}
			req := event()
			for i := 0; i < n; i++ {
				req.PaymentID = fmt.Sprintf("pay_%d", i)
				d, err := r.Route(req)
				if err != nil {
					t.Fatal(err)
				}
				counts[d.RuleID]++
			}
			for i, p := range percents {
				id := fmt.Sprintf("split/b%d", i+1)
				share := 100 * float64(counts[id]) / n
				if math.Abs(share-p) > 1 {
					t.Errorf("%s: %.2f%% of payments, want %v%% ± 1", id, share, p)
				}
			}
			if len(counts) != len(percents) {
				t.Errorf("branches taken: %v", counts)
			}
		})
	}
}

// TestSplitDeterministic: the same payment_id takes the same branch on
// every router built from the configuration (a redelivery, a retry, another
// instance, a restart), and a branch ID without one is split-<n>.
func TestSplitDeterministic(t *testing.T) {
	cfg := splitConfig(50, 50)
	cfg.Rules[0].Split[1].ID = ""
	a, err := router.New(cfg, knownPSPs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := router.New(cfg, knownPSPs)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		req := event()
		req.PaymentID = fmt.Sprintf("order-%d-%d", i, i*7919)
		d1, _ := a.Route(req)
		req.AmountMinor = 999 // other fields do not matter
		req.Metadata = nil
		d2, _ := b.Route(req)
		d3, _ := a.Route(req)
		if !reflect.DeepEqual(d1, d2) || !reflect.DeepEqual(d1, d3) {
			t.Fatalf("%s: %+v, %+v, %+v", req.PaymentID, d1, d2, d3)
		}
		seen[d1.RuleID] = true
	}
	if !seen["split/b1"] || !seen["split/split-2"] || len(seen) != 2 {
		t.Fatalf("branches: %v", seen)
	}
}

// TestSplitsAreIndependent: two splits do not send the same payments to
// their first branches (each rule salts the hash with its ID).
func TestSplitsAreIndependent(t *testing.T) {
	cfg := splitConfig(50, 50)
	other := cfg.Rules[0]
	other.ID = "other"
	cfg.Rules[0].When = []router.Condition{cond("currency", "equals", "EUR")}
	cfg.Rules = append(cfg.Rules, other)
	r, err := router.New(cfg, knownPSPs)
	if err != nil {
		t.Fatal(err)
	}
	both := 0
	const n = 20000
	for i := 0; i < n; i++ {
		req := event()
		req.PaymentID = fmt.Sprintf("pay_%d", i)
		d1, _ := r.Route(req)
		req.Currency = "USD"
		d2, _ := r.Route(req)
		if d1.RuleID == "split/b1" && d2.RuleID == "other/b1" {
			both++
		}
	}
	if share := float64(both) / n; share < 0.23 || share > 0.27 {
		t.Fatalf("%.3f of payments take both first branches, want about 0.25", share)
	}
}

var recurlyPSPs = []string{"stripe-global", "adyen-global", "cardconnect", "vantiv", "amex-direct", "gbprimepay", "omise", "b2b-gateway"}

// TestGatewaySets routes through deploy/examples/recurly-gateway-sets.yaml:
// the most specific entry per card network and currency wins, and a payment
// with no entry falls through to the default route.
func TestGatewaySets(t *testing.T) {
	r := loadRouter(t, "../deploy/examples/recurly-gateway-sets.yaml", recurlyPSPs, router.ExcludeFromFailover("b2b-gateway"))
	tests := []struct {
		name, network, currency string
		rule                    string
		want                    []string
	}{
		{"visa USD", "visa", "USD", "by-card-and-currency", []string{"cardconnect", "vantiv"}},
		{"mastercard USD", "Mastercard", "USD", "by-card-and-currency", []string{"vantiv", "cardconnect"}},
		{"any network in EUR", "visa", "EUR", "by-card-and-currency", []string{"adyen-global", "stripe-global"}},
		{"amex in any currency, no backup", "amex", "JPY", "by-card-and-currency", []string{"amex-direct"}},
		{"network with any currency beats any network with the currency", "amex", "EUR", "by-card-and-currency", []string{"amex-direct"}},
		{"no entry: default route", "jcb", "JPY", router.RuleDefault, []string{"stripe-global", "adyen-global"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := card("p1", tt.network, "US", tt.currency)
			d, err := r.Route(req)
			if err != nil {
				t.Fatal(err)
			}
			if d.RuleID != tt.rule || !reflect.DeepEqual(psps(d), tt.want) {
				t.Fatalf("decision %+v, want %s %v", d, tt.rule, tt.want)
			}
		})
	}
	// amex/EUR has both an (amex, *) and a (*, EUR) entry; the explanation
	// names the one used.
	ex := r.Explain(card("p2", "amex", "US", "EUR"))
	if ex.GatewaySet == nil || ex.GatewaySet.Network != "amex" || ex.GatewaySet.Currency != "*" {
		t.Fatalf("gateway entry for amex/EUR: %+v", ex.GatewaySet)
	}
	ex = r.Explain(card("p3", "jcb", "JP", "JPY"))
	if len(ex.Rules) != 2 || ex.Rules[1].Matched || ex.Rules[1].Failed != nil || !strings.Contains(ex.Rules[1].Note, `no entry for network "jcb" and currency "JPY"`) {
		t.Fatalf("explanation of a gateway set without entry: %+v", ex.Rules)
	}
}

func psps(d schemas.Decision) []string {
	var out []string
	for i, c := range d.Candidates {
		if int(c.Rank) != i+1 {
			return []string{fmt.Sprintf("bad rank %d at %d", c.Rank, i)}
		}
		out = append(out, c.PSP)
	}
	return out
}

// TestExcludeFromFailover: an account excluded from failover is attempted
// at rank 1 or through a provider override, never at a later rank.
func TestExcludeFromFailover(t *testing.T) {
	cfg := router.DefaultConfiguration()
	cfg.Routes = map[string][]router.Candidate{
		"a-b-c": {{PSP: "psp-a"}, {PSP: "psp-b"}, {PSP: "psp-c"}},
		"b-a":   {{PSP: "psp-b"}, {PSP: "psp-a"}},
	}
	cfg.DefaultRoute = "a-b-c"
	cfg.GatewaySets = map[string][]router.GatewayEntry{
		"cards": {{Network: "*", Currency: "*", RankedList: router.RankedList{Candidates: []router.Candidate{{PSP: "psp-c"}, {PSP: "psp-b"}}}}},
	}
	cfg.Rules = []router.Rule{{ID: "usd", When: []router.Condition{cond("currency", "equals", "USD")}, Target: router.Target{GatewaySet: "cards"}}}
	opt := router.ExcludeFromFailover("psp-b", "not-a-psp")
	r, err := router.New(cfg, knownPSPs, opt)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		routing schemas.Routing
		usd     bool
		want    []string
		dropped []string
	}{
		{"stored route drops it after rank 1", schemas.Routing{}, false, []string{"psp-a", "psp-c"}, []string{"psp-b"}},
		{"kept at rank 1", schemas.Routing{RouteRef: "b-a"}, false, []string{"psp-b", "psp-a"}, nil},
		{"inline candidates", schemas.Routing{Candidates: []schemas.Candidate{{PSP: "psp-a"}, {PSP: "psp-b"}, {PSP: "psp-c"}}}, false, []string{"psp-a", "psp-c"}, []string{"psp-b"}},
		{"provider override", schemas.Routing{ProviderOverride: "psp-b"}, false, []string{"psp-b"}, nil},
		{"gateway set", schemas.Routing{}, true, []string{"psp-c"}, []string{"psp-b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := event()
			req.Routing = tt.routing
			if tt.usd {
				req.Currency = "USD"
			}
			d, err := r.Route(req)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(psps(d), tt.want) {
				t.Fatalf("candidates %v, want %v", psps(d), tt.want)
			}
			if ex := r.Explain(req); !reflect.DeepEqual(ex.ExcludedFromFailover, tt.dropped) {
				t.Fatalf("explanation drops %v, want %v", ex.ExcludedFromFailover, tt.dropped)
			}
		})
	}
	// Check warns where the configuration ranks it after first place.
	got := problemStrings(router.Check(cfg, knownPSPs, opt))
	want := []string{
		`warning: router.routes.a-b-c[1]: PSP "psp-b" is excluded from failover: it is dropped from rank 2 of route a-b-c (it is attempted only at rank 1 or by a provider override)`,
		`warning: router.gateway_sets.cards[0].candidates[1]: PSP "psp-b" is excluded from failover: it is dropped from rank 2 of gateway set cards (*, *) (it is attempted only at rank 1 or by a provider override)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("warnings:\n got %q\nwant %q", got, want)
	}
}

// TestFollowUpsArePinned: CAPTURE, VOID and REFUND go to the authorizing
// PSP only, never through rules or failover.
func TestFollowUpsArePinned(t *testing.T) {
	r, err := router.New(testConfig(), knownPSPs, router.ExcludeFromFailover("psp-b"))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []schemas.Operation{schemas.OpCapture, schemas.OpVoid, schemas.OpRefund} {
		req := event()
		req.Operation, req.ReferencePaymentID = op, "pay_auth"
		req.Routing = schemas.Routing{ProviderOverride: "psp-a", RouteRef: "cards-eu"}
		d, err := r.RouteFollowUp(req, "psp-b")
		want := schemas.Decision{ConfigVersion: "2024-06-01.3", RuleID: router.RulePinned, Candidates: []schemas.Candidate{{PSP: "psp-b", Rank: 1}}}
		if err != nil || !reflect.DeepEqual(d, want) {
			t.Fatalf("%s: %+v, %v", op, d, err)
		}
		if _, err := r.Route(req); reason(err) != router.ReasonFollowUp {
			t.Fatalf("Route(%s): %v", op, err)
		}
		if ex := r.Explain(req); ex.Source != router.SourceFollowUp || ex.Rejected == nil || ex.Rejected.Reason != router.ReasonFollowUp {
			t.Fatalf("Explain(%s): %+v", op, ex)
		}
		if _, err := r.RouteFollowUp(req, ""); reason(err) != router.ReasonFollowUp {
			t.Fatalf("unknown authorizing PSP: %v", err)
		}
		if _, err := r.RouteFollowUp(req, "worldpay"); reason(err) != router.ReasonUnknownPSP {
			t.Fatalf("unconfigured authorizing PSP: %v", err)
		}
	}
	if _, err := r.RouteFollowUp(event(), "psp-a"); reason(err) != router.ReasonFollowUp {
		t.Fatalf("an authorization is not a follow-up: %v", err)
	}
	if _, err := r.RouteFollowUp(nil, "psp-a"); reason(err) != router.ReasonFollowUp {
		t.Fatalf("nil: %v", err)
	}
}

func reason(err error) string {
	var re *router.RouteError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}
