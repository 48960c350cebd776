package router_test

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"go.uber.org/fx"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

const portOneRef = "Route_2P0qQgyROrPuzJDZebGSIsfYsX4"

var knownPSPs = []string{
	"GBPRIMEPAY", "OMISE", // PortOne channels
	"test-failure", "test-success", "stripe-production", "adyen-backup", // Orchestra accounts
	"psp-a", "psp-b", "psp-c",
}

func testConfig() router.Configuration {
	cfg := router.DefaultConfiguration()
	cfg.Version = "2024-06-01.3"
	cfg.Routes = map[string][]router.Candidate{
		// PortOne dashboard route, ranks by list position.
		portOneRef: {
			{PSP: "GBPRIMEPAY", Method: "GBPRIMEPAY_CREDIT_CARD"},
			{PSP: "OMISE", Method: "OMISE_CREDIT_CARD"},
		},
		// Ranks out of order and sparse.
		"cards-eu": {
			{PSP: "psp-b", Method: "card", Rank: 20},
			{PSP: "psp-a", Method: "card", Rank: 10},
		},
		"fallback": {{PSP: "psp-c", Method: "card", Rank: 1}},
	}
	cfg.DefaultRoute = "fallback"
	return cfg
}

func cand(psp, method string, rank int32) schemas.Candidate {
	return schemas.Candidate{PSP: psp, Method: method, Rank: rank}
}

func req(rt schemas.Routing) *schemas.PaymentRequested {
	return &schemas.PaymentRequested{
		PaymentID: "pay_1", MerchantID: "m_1", Operation: schemas.OpCharge,
		AmountMinor: 2500, Currency: "EUR", Routing: rt,
	}
}

// eurRules is a stand-in rule set: EUR payments go to a route by rule.
type eurRules struct{ route string }

func (e eurRules) Match(r *schemas.PaymentRequested) (string, string, bool) {
	if r.Currency == "EUR" {
		return e.route, "rule:eur", true
	}
	return "", "", false
}

func TestRoute(t *testing.T) {
	noDefault := testConfig()
	noDefault.DefaultRoute = ""

	tests := []struct {
		name       string
		cfg        *router.Configuration // nil: testConfig()
		rules      router.RuleSet
		req        *schemas.PaymentRequested
		wantRule   string
		want       []schemas.Candidate
		wantReason string
	}{
		{
			name: "PortOne inline data, ranks out of order",
			req: req(schemas.Routing{Candidates: []schemas.Candidate{
				cand("OMISE", "OMISE_CREDIT_CARD", 2),
				cand("GBPRIMEPAY", "GBPRIMEPAY_CREDIT_CARD", 1),
			}}),
			wantRule: "inline",
			want: []schemas.Candidate{
				cand("GBPRIMEPAY", "GBPRIMEPAY_CREDIT_CARD", 1),
				cand("OMISE", "OMISE_CREDIT_CARD", 2),
			},
		},
		{
			name: "inline sparse ranks are renumbered densely",
			req: req(schemas.Routing{Candidates: []schemas.Candidate{
				cand("psp-a", "card", 10), cand("psp-b", "card", 30), cand("psp-c", "card", 5),
			}}),
			wantRule: "inline",
			want:     []schemas.Candidate{cand("psp-c", "card", 1), cand("psp-a", "card", 2), cand("psp-b", "card", 3)},
		},
		{
			name:     "PortOne route_ref found",
			req:      req(schemas.Routing{RouteRef: portOneRef}),
			wantRule: "route_ref:" + portOneRef,
			want: []schemas.Candidate{
				cand("GBPRIMEPAY", "GBPRIMEPAY_CREDIT_CARD", 1),
				cand("OMISE", "OMISE_CREDIT_CARD", 2),
			},
		},
		{
			name:     "named route_ref, stored ranks sorted and renumbered",
			req:      req(schemas.Routing{RouteRef: "cards-eu"}),
			wantRule: "route_ref:cards-eu",
			want:     []schemas.Candidate{cand("psp-a", "card", 1), cand("psp-b", "card", 2)},
		},
		{
			name:       "route_ref unknown is rejected, not defaulted",
			req:        req(schemas.Routing{RouteRef: "Route_nope"}),
			wantReason: router.ReasonUnknownRouteRef,
		},
		{
			name: "Orchestra ordered list without ranks, repeated account kept",
			req: req(schemas.Routing{Candidates: []schemas.Candidate{
				{PSP: "test-failure"}, {PSP: "test-failure"}, {PSP: "test-success"},
			}}),
			wantRule: "inline",
			want:     []schemas.Candidate{cand("test-failure", "", 1), cand("test-failure", "", 2), cand("test-success", "", 3)},
		},
		{
			name: "Orchestra ordered list with explicit ranks",
			req: req(schemas.Routing{Candidates: []schemas.Candidate{
				cand("stripe-production", "", 1), cand("adyen-backup", "", 2),
			}}),
			wantRule: "inline",
			want:     []schemas.Candidate{cand("stripe-production", "", 1), cand("adyen-backup", "", 2)},
		},
		{
			name: "provider override wins over everything",
			req: req(schemas.Routing{
				ProviderOverride: "psp-b",
				RouteRef:         "cards-eu",
				Candidates:       []schemas.Candidate{cand("psp-a", "card", 1)},
			}),
			rules:    eurRules{route: "cards-eu"},
			wantRule: "override",
			want:     []schemas.Candidate{cand("psp-b", "", 1)},
		},
		{
			name:       "Recurly gateway_code override of an unknown gateway",
			req:        req(schemas.Routing{ProviderOverride: "braintree"}),
			wantReason: router.ReasonUnknownPSP,
		},
		{
			name: "route_ref wins over inline candidates (PortOne: data can be ignored)",
			req: req(schemas.Routing{
				RouteRef:   portOneRef,
				Candidates: []schemas.Candidate{cand("psp-c", "card", 1)},
			}),
			wantRule: "route_ref:" + portOneRef,
			want: []schemas.Candidate{
				cand("GBPRIMEPAY", "GBPRIMEPAY_CREDIT_CARD", 1),
				cand("OMISE", "OMISE_CREDIT_CARD", 2),
			},
		},
		{
			name:     "no routing: default route",
			req:      req(schemas.Routing{}),
			wantRule: "default",
			want:     []schemas.Candidate{cand("psp-c", "card", 1)},
		},
		{
			name:       "no routing and no default route",
			cfg:        &noDefault,
			req:        req(schemas.Routing{}),
			wantReason: router.ReasonNoCandidates,
		},
		{
			name:       "nil request",
			req:        nil,
			wantReason: router.ReasonNoCandidates,
		},
		{
			name:       "inline unknown PSP",
			req:        req(schemas.Routing{Candidates: []schemas.Candidate{cand("psp-a", "card", 1), cand("psp-z", "card", 2)}}),
			wantReason: router.ReasonUnknownPSP,
		},
		{
			name:       "inline candidate without PSP",
			req:        req(schemas.Routing{Candidates: []schemas.Candidate{cand("", "card", 1)}}),
			wantReason: router.ReasonUnknownPSP,
		},
		{
			name:       "inline duplicate rank",
			req:        req(schemas.Routing{Candidates: []schemas.Candidate{cand("psp-a", "card", 1), cand("psp-b", "card", 1)}}),
			wantReason: router.ReasonDuplicateRank,
		},
		{
			name: "inline omitted rank collides with an explicit one",
			req: req(schemas.Routing{Candidates: []schemas.Candidate{
				cand("psp-a", "card", 2), cand("psp-b", "card", 0), // position 2
			}}),
			wantReason: router.ReasonDuplicateRank,
		},
		{
			name:       "inline negative rank",
			req:        req(schemas.Routing{Candidates: []schemas.Candidate{cand("psp-a", "card", -1)}}),
			wantReason: router.ReasonInvalidRank,
		},
		{
			name: "inline beyond max_ranks",
			req: req(schemas.Routing{Candidates: []schemas.Candidate{
				{PSP: "psp-a"}, {PSP: "psp-b"}, {PSP: "psp-c"}, {PSP: "psp-a"}, {PSP: "psp-b"}, {PSP: "psp-c"},
			}}),
			wantReason: router.ReasonTooManyCandidates,
		},
		{
			name:     "rule set matches before the default route",
			rules:    eurRules{route: "cards-eu"},
			req:      req(schemas.Routing{}),
			wantRule: "rule:eur",
			want:     []schemas.Candidate{cand("psp-a", "card", 1), cand("psp-b", "card", 2)},
		},
		{
			name:     "rule set does not match: default route",
			rules:    eurRules{route: "cards-eu"},
			req:      &schemas.PaymentRequested{PaymentID: "pay_2", Currency: "USD"},
			wantRule: "default",
			want:     []schemas.Candidate{cand("psp-c", "card", 1)},
		},
		{
			name:     "rule set is not consulted when the event routes itself",
			rules:    eurRules{route: "cards-eu"},
			req:      req(schemas.Routing{RouteRef: portOneRef}),
			wantRule: "route_ref:" + portOneRef,
			want: []schemas.Candidate{
				cand("GBPRIMEPAY", "GBPRIMEPAY_CREDIT_CARD", 1),
				cand("OMISE", "OMISE_CREDIT_CARD", 2),
			},
		},
		{
			name:       "rule naming a missing route",
			rules:      eurRules{route: "gone"},
			req:        req(schemas.Routing{}),
			wantReason: router.ReasonUnknownRoute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.cfg != nil {
				cfg = *tt.cfg
			}
			r, err := router.New(cfg, knownPSPs)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if tt.rules != nil {
				r = r.WithRules(tt.rules)
			}
			got, err := r.Route(tt.req)
			if tt.wantReason != "" {
				var re *router.RouteError
				if !errors.As(err, &re) || re.Reason != tt.wantReason || re.RouteReason() != tt.wantReason {
					t.Fatalf("err = %v, want reason %s", err, tt.wantReason)
				}
				if !reflect.DeepEqual(got, schemas.Decision{}) {
					t.Fatalf("decision on error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Route: %v", err)
			}
			want := schemas.Decision{ConfigVersion: "2024-06-01.3", RuleID: tt.wantRule, Candidates: tt.want}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decision:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestRouteDoesNotShareState(t *testing.T) {
	r, err := router.New(testConfig(), knownPSPs)
	if err != nil {
		t.Fatal(err)
	}
	inline := []schemas.Candidate{cand("psp-b", "card", 2), cand("psp-a", "card", 1)}
	d, err := r.Route(req(schemas.Routing{Candidates: inline}))
	if err != nil {
		t.Fatal(err)
	}
	if inline[0].PSP != "psp-b" || inline[0].Rank != 2 {
		t.Fatalf("Route modified the event's candidates: %+v", inline)
	}
	d.Candidates[0].PSP = "mutated"
	d, _ = r.Route(req(schemas.Routing{RouteRef: "cards-eu"}))
	d.Candidates[0].PSP = "mutated"
	d, _ = r.Route(req(schemas.Routing{RouteRef: "cards-eu"}))
	if d.Candidates[0].PSP != "psp-a" {
		t.Fatalf("stored route was mutated through a decision: %+v", d.Candidates)
	}
}

func TestRouteConcurrent(t *testing.T) {
	r, err := router.New(testConfig(), knownPSPs)
	if err != nil {
		t.Fatal(err)
	}
	r = r.WithRules(eurRules{route: "cards-eu"})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				d, err := r.Route(req(schemas.Routing{RouteRef: "cards-eu"}))
				if err != nil || len(d.Candidates) != 2 {
					t.Errorf("Route: %v %+v", err, d)
					return
				}
				d.Candidates[1].Rank = 99
			}
		}()
	}
	wg.Wait()
}

func TestNewErrors(t *testing.T) {
	cfg := testConfig()
	cfg.Routes["cards-eu"] = append(cfg.Routes["cards-eu"], router.Candidate{PSP: "worldpay", Method: "card", Rank: 30})
	cfg.Routes["broken"] = []router.Candidate{{PSP: "psp-a", Rank: 1}, {PSP: "psp-b", Rank: 1}}
	cfg.DefaultRoute = "missing"
	_, err := router.New(cfg, knownPSPs)
	if err == nil {
		t.Fatal("New succeeded")
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		"router.routes.broken[1].rank: rank 1 is already used by the candidate at index 0",
		`router.default_route: names no route in routes: "missing"`,
		`router.routes.cards-eu[2].psp: unknown PSP "worldpay" (known: GBPRIMEPAY, OMISE, adyen-backup, psp-a, psp-b, psp-c, stripe-production, test-failure, test-success)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("errors:\n got %q\nwant %q", got, want)
	}

	// No known PSPs at all.
	if _, err := router.New(testConfig(), nil); err == nil || !strings.Contains(err.Error(), "(known: none)") {
		t.Fatalf("New without PSPs: %v", err)
	}
	// The defaults build a router that rejects unrouted payments.
	r, err := router.New(router.DefaultConfiguration(), nil)
	if err != nil {
		t.Fatalf("New(defaults): %v", err)
	}
	if r.Version() != "v1" || r.HasRoute("fallback") {
		t.Fatalf("Version=%q HasRoute(fallback)=%v", r.Version(), r.HasRoute("fallback"))
	}
	if _, err := r.Route(req(schemas.Routing{})); err == nil {
		t.Fatal("defaults routed an unrouted payment")
	}
}

func TestModule(t *testing.T) {
	var got *router.Router
	app := fx.New(
		fx.NopLogger,
		fx.Supply(testConfig()),
		fx.Provide(func() router.KnownPSPs { return router.PSPNames(knownPSPs) }),
		fx.Provide(func() router.RuleSet { return eurRules{route: "cards-eu"} }),
		router.Module,
		fx.Populate(&got),
	)
	if err := app.Err(); err != nil {
		t.Fatalf("fx: %v", err)
	}
	d, err := got.Route(req(schemas.Routing{}))
	if err != nil || d.RuleID != "rule:eur" {
		t.Fatalf("Route via fx: %+v, %v", d, err)
	}

	// The Holder wraps the same router, and exclusions come from the
	// accounts when the PSP source can tell them.
	var holder *router.Holder
	app = fx.New(
		fx.NopLogger,
		fx.Supply(testConfig()),
		fx.Provide(func() router.KnownPSPs { return accounts{excluded: "psp-b"} }),
		router.Module,
		fx.Populate(&got, &holder),
	)
	if err := app.Err(); err != nil {
		t.Fatalf("fx: %v", err)
	}
	if holder.Current() != got {
		t.Fatal("the Holder does not hold the module's router")
	}
	d, err = got.Route(req(schemas.Routing{RouteRef: "cards-eu"}))
	if err != nil || len(d.Candidates) != 1 || d.Candidates[0].PSP != "psp-a" {
		t.Fatalf("psp-b, excluded from failover, kept at rank 2: %+v, %v", d, err)
	}

	// Without a rule set, and with a bad configuration, fx reports New's error.
	bad := testConfig()
	bad.DefaultRoute = "missing"
	app = fx.New(
		fx.NopLogger,
		fx.Supply(bad),
		fx.Provide(func() router.KnownPSPs { return router.PSPNames(knownPSPs) }),
		router.Module,
		fx.Populate(&got),
	)
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), "router.default_route") {
		t.Fatalf("fx with bad config: %v", err)
	}

	// Without any source of PSP names the graph fails with a clear error.
	app = fx.New(fx.NopLogger, fx.Supply(testConfig()), router.Module, fx.Populate(&got))
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), "no PSP names") {
		t.Fatalf("fx without PSPs: %v", err)
	}
}

// accounts is a KnownPSPs that also reports accounts, like *psp.Registry.
type accounts struct{ excluded string }

func (accounts) Names() []string { return knownPSPs }

func (a accounts) Account(name string) (psp.Account, bool) {
	return psp.Account{Kind: "static", ExcludeFromFailover: name == a.excluded}, true
}
