package router_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/router"
)

type rootConfig struct {
	Router router.Configuration `yaml:"router"`
}

func TestConfigurationFromYAML(t *testing.T) {
	data := `
router:
  version: "2024-06-01.3"
  default_route: cards-eu
  routes:
    cards-eu:
      - {psp: psp-b, method: card, rank: 2}
      - {psp: psp-a, method: card, rank: 1}
    Route_2P0qQgyROrPuzJDZebGSIsfYsX4:
      - {psp: GBPRIMEPAY, method: GBPRIMEPAY_CREDIT_CARD}
      - {psp: OMISE, method: OMISE_CREDIT_CARD}
`
	cfg := rootConfig{Router: router.DefaultConfiguration()}
	if err := config.LoadBytes("payroute.yaml", []byte(data), []string{"PAYROUTE_ROUTER_MAX_RANKS=3"}, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := router.Configuration{
		Version:      "2024-06-01.3",
		DefaultRoute: "cards-eu",
		MaxRanks:     3,
		MaxAttempts:  10,
		Routes: map[string][]router.Candidate{
			"cards-eu": {{PSP: "psp-b", Method: "card", Rank: 2}, {PSP: "psp-a", Method: "card", Rank: 1}},
			portOneRef: {{PSP: "GBPRIMEPAY", Method: "GBPRIMEPAY_CREDIT_CARD"}, {PSP: "OMISE", Method: "OMISE_CREDIT_CARD"}},
		},
	}
	if !reflect.DeepEqual(cfg.Router, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg.Router, want)
	}
	if _, err := router.New(cfg.Router, knownPSPs); err != nil {
		t.Fatalf("New: %v", err)
	}
}

func TestConfigurationValidate(t *testing.T) {
	if err := router.DefaultConfiguration().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "empty version and max_ranks",
			yaml: "router:\n  version: ' '\n  max_ranks: 0\n",
			want: []string{
				"router.version: must not be empty",
				"router.max_ranks: must be >= 1, got 0",
			},
		},
		{
			name: "route problems are all reported with key paths",
			yaml: `
router:
  max_ranks: 2
  default_route: nowhere
  routes:
    "": [{psp: psp-a}]
    empty: []
    long: [{psp: psp-a}, {psp: psp-b}, {psp: psp-c}]
    ranks:
      - {psp: psp-a, rank: 1}
      - {psp: psp-b}
      - {psp: "", rank: 1}
      - {psp: psp-c, rank: -3}
`,
			want: []string{
				`router.routes: route name "" must not be empty`,
				"router.routes.empty: must list at least one candidate",
				"router.routes.long: has 3 candidates, more than max_ranks (2)",
				"router.routes.ranks: has 4 candidates, more than max_ranks (2)",
				"router.routes.ranks[2].psp: must not be empty",
				"router.routes.ranks[2].rank: rank 1 is already used by the candidate at index 0",
				"router.routes.ranks[3].rank: must be >= 1 (or omitted for the list position), got -3",
				`router.default_route: names no route in routes: "nowhere"`,
			},
		},
		{
			name: "unknown candidate key",
			yaml: "router:\n  routes:\n    r:\n      - {psp: psp-a, channel_key: x}\n",
			want: []string{"payroute.yaml:4: router.routes.r[0].channel_key: unknown key"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := rootConfig{Router: router.DefaultConfiguration()}
			err := config.LoadBytes("payroute.yaml", []byte(tt.yaml), nil, &cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("errors:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestConfigurationDump: a dump loads back into the same configuration
// (a nil list dumps as [] and loads back empty, so equality is by dump).
func TestConfigurationDump(t *testing.T) {
	cfg := rootConfig{Router: fullConfig()}
	out, err := config.Dump(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back := rootConfig{Router: router.DefaultConfiguration()}
	if err := config.LoadBytes("dump.yaml", out, nil, &back); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	again, err := config.Dump(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(out) {
		t.Fatalf("round trip:\n got %s\nwant %s", again, out)
	}
	for _, s := range []string{"split:", "gateway_sets:", "retry_rules:", "delay: 24h0m0s", "op: one_of"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("dump lacks %q:\n%s", s, out)
		}
	}
	if _, err := router.New(back.Router, knownPSPs); err != nil {
		t.Fatalf("New(reloaded): %v", err)
	}
}

// fullConfig is testConfig with rules of every target kind, a gateway set
// and retry rules.
func fullConfig() router.Configuration {
	cfg := testConfig()
	route := func(name string) router.Target { return router.Target{RankedList: router.RankedList{Route: name}} }
	cfg.GatewaySets = map[string][]router.GatewayEntry{
		"cards": {
			{Network: "visa", Currency: "USD", RankedList: router.RankedList{Candidates: []router.Candidate{{PSP: "psp-a", Method: "card"}, {PSP: "psp-b"}}}},
			{Network: "*", Currency: "*", RankedList: router.RankedList{Route: "fallback"}},
		},
	}
	cfg.Rules = []router.Rule{
		{ID: "eu", When: []router.Condition{{Field: "currency", Op: "one_of", Values: []string{"EUR", "GBP"}}}, Target: route("cards-eu")},
		{ID: "big", When: []router.Condition{{Field: "amount_minor", Op: "gt", Value: "100000"}}, Target: router.Target{RankedList: router.RankedList{Candidates: []router.Candidate{{PSP: "psp-c"}}}}},
		{ID: "usd", When: []router.Condition{{Field: "currency", Op: "equals", Value: "USD"}}, Split: []router.Branch{
			{ID: "a", Percent: 50, Target: route("cards-eu")},
			{Percent: 50, Target: router.Target{GatewaySet: "cards"}},
		}},
		{ID: "rest", Target: router.Target{GatewaySet: "cards"}},
	}
	cfg.RetryRules = []router.RetryRule{
		{ID: "funds", When: []router.Condition{{Field: "psp_code", Op: "equals", Value: "insufficient_funds"}}, Action: "same_psp", Delay: 24 * time.Hour},
		{ID: "a-to-c", When: []router.Condition{{Field: "last_psp", Op: "equals", Value: "psp-a"}}, Action: "psp", PSP: "psp-c", Method: "card"},
	}
	return cfg
}
