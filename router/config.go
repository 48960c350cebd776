package router

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/payroute/payroute/config"
)

// ConfigKey is the key of the router's section in the configuration file;
// errors from New name keys under it ("router.routes.cards-eu[0].psp").
const ConfigKey = "router"

// Configuration is the router's section of the configuration file:
//
//	router:
//	  version: "2024-06-01"
//	  default_route: cards-eu
//	  max_ranks: 5
//	  routes:
//	    cards-eu:
//	      - {psp: psp-a, method: card, rank: 1}
//	      - {psp: psp-b, method: card, rank: 2}
//	    Route_2P0qQgyROrPuzJDZebGSIsfYsX4:   # a PortOne route_ref
//	      - {psp: GBPRIMEPAY, method: GBPRIMEPAY_CREDIT_CARD}   # rank 1 by position
//	      - {psp: OMISE, method: OMISE_CREDIT_CARD}             # rank 2 by position
//
// Routes is a map and can therefore only be set in the file, not from the
// environment; version, default_route and max_ranks can be overridden with
// PAYROUTE_ROUTER_VERSION, PAYROUTE_ROUTER_DEFAULT_ROUTE and
// PAYROUTE_ROUTER_MAX_RANKS.
//
// The set of known PSP names is not part of this section: the PSP registry
// owns it and passes it to New.
type Configuration struct {
	// Version identifies this routing configuration; it is recorded on every
	// decision (Decision.ConfigVersion) and so on every attempt and result.
	// Change it whenever routes change. Default "v1".
	Version string `yaml:"version"`
	// Routes are the stored routes by name, referenced by an event's
	// route_ref, by the default route and by routing rules. Each is a list
	// of candidates; see Candidate for ranks. Default: none.
	Routes map[string][]Candidate `yaml:"routes"`
	// DefaultRoute names the stored route used when the event carries no
	// routing and no rule matches. Empty (the default) means such payments
	// are rejected with reason no_candidates.
	DefaultRoute string `yaml:"default_route"`
	// MaxRanks is the most candidates a route, stored or inline, may have;
	// every rank needs its own retry topic and consumer. Default 5.
	MaxRanks int `yaml:"max_ranks"`
	// MaxAttempts bounds the attempts one payment may make across ranks and
	// retry-rule retries (RetryAction stops at it), so a retry rule without
	// an attempt condition cannot loop, and card-network reattempt limits
	// can be respected. At least max_ranks. Default 10.
	MaxAttempts int `yaml:"max_attempts"`
	// Rules are the routing rules (Payrails): evaluated in order for a
	// payment that carries no routing of its own, the first rule whose
	// conditions all hold decides. See Rule. Default: none.
	Rules []Rule `yaml:"rules"`
	// GatewaySets are ranked lists per card network and currency (Recurly),
	// by name, used as rule targets. See GatewayEntry. Default: none.
	GatewaySets map[string][]GatewayEntry `yaml:"gateway_sets"`
	// RetryRules decide, for a failed attempt, whether, where and after how
	// long it is retried (Payrails retry rules); the first matching rule
	// decides. Without a match, psp_error and rate_limited go to the next
	// rank and everything else stops. See RetryRule. Default: none.
	RetryRules []RetryRule `yaml:"retry_rules"`

	// src locates keys in the file the configuration came from, for error
	// messages; set by WithSource and LoadFile, never by the YAML itself.
	src *Source
}

// Candidate is one ranked PSP account of a stored route.
type Candidate struct {
	// PSP is the name of a PSP account known to the PSP registry.
	PSP string `yaml:"psp"`
	// Method is the PSP's payment-method key (PortOne method_key, e.g.
	// "OMISE_CREDIT_CARD"); empty lets the connector use its default.
	Method string `yaml:"method"`
	// Rank is the position in the failover order, 1 first. Omitted (0)
	// means the candidate's 1-based position in the list. Ranks must be
	// unique within a route; they need not be contiguous, as decisions are
	// renumbered 1..n.
	Rank int `yaml:"rank"`
}

// Rule is one routing rule: when every condition holds, the payment goes to
// the rule's target. A rule with no conditions matches every payment (a
// catch-all; rules after it are unreachable). Exactly one target is set:
// Route, Candidates, GatewaySet or Split.
//
//	rules:
//	  - id: dach-eur-braintree
//	    when:
//	      - {field: payment_method.issuer_country, op: one_of, values: [AT, DE, CH]}
//	      - {field: currency, op: equals, value: EUR}
//	    route: braintree
type Rule struct {
	// ID names the rule in decisions (Decision.RuleID), analytics and
	// explanations: 1-64 characters of [A-Za-z0-9._-], unique among rules.
	// Keep it when editing a rule so versions can be compared.
	ID string `yaml:"id"`
	// When are the conditions, all of which must hold (AND).
	When []Condition `yaml:"when"`
	// Target is where a matching payment goes, unless Split is set.
	Target `yaml:",inline"`
	// Split divides matching payments between targets by percentage
	// (Payrails' routing randomizer), deterministically per payment_id.
	Split []Branch `yaml:"split"`
}

// Condition is one test on one field of the payment: "field op value".
// See the package documentation for the fields and operators.
type Condition struct {
	// Field is an event field ("currency", "payment_method.network"), a
	// metadata entry ("metadata.channel") or, in retry rules, a retry field
	// ("class", "last_psp").
	Field string `yaml:"field"`
	// Op is the operator: equals, not_equals, one_of, not_one_of, contains,
	// not_contains, starts_with, ends_with, lt, lte, gt, gte, between (or
	// the symbols =, !=, <, <=, >, >=, quoted in YAML).
	Op string `yaml:"op"`
	// Value is the operand of single-value operators.
	Value string `yaml:"value"`
	// Values are the operands of one_of, not_one_of and between (low,
	// high), or alternatives for contains, not_contains, starts_with and
	// ends_with (any of them; none of them for not_contains).
	Values []string `yaml:"values"`
}

// RankedList is a ranked list of PSP accounts: a stored route by name, or
// candidates written in place. Exactly one is set.
type RankedList struct {
	// Route names a stored route (Configuration.Routes).
	Route string `yaml:"route"`
	// Candidates is an inline ranked list, as in a stored route.
	Candidates []Candidate `yaml:"candidates"`
}

// Target is where a rule or a split branch sends a payment: a ranked list,
// or a gateway set resolved by the payment's card network and currency.
type Target struct {
	RankedList `yaml:",inline"`
	// GatewaySet names a gateway set (Configuration.GatewaySets).
	GatewaySet string `yaml:"gateway_set"`
}

// Branch is one share of a split.
type Branch struct {
	// ID optionally names the branch; the decision's RuleID is
	// "<rule id>/<branch id>", or "<rule id>/split-<n>" (n from 1) without.
	ID string `yaml:"id"`
	// Percent is the share of payments, > 0 with at most two decimals; the
	// branches of a split sum to 100.
	Percent float64 `yaml:"percent"`
	// Target is where this share goes.
	Target `yaml:",inline"`
}

// GatewayEntry maps one card network and currency to a ranked list
// (Recurly's primary and backup gateway "for each credit card type and
// currency"). Network and Currency may be "*" (or empty) for any; a payment
// uses the most specific entry: network and currency, then network with any
// currency, then any network with the currency, then "*"/"*". When no entry
// applies the rule does not match and evaluation moves on to the next rule.
type GatewayEntry struct {
	// Network is a card network (visa, mastercard, ...; case-insensitive) or "*".
	Network string `yaml:"network"`
	// Currency is an ISO 4217 code or "*".
	Currency   string `yaml:"currency"`
	RankedList `yaml:",inline"`
}

// RetryRule decides what happens after a failed attempt (Payrails retry
// rules): when its conditions hold, Action says where the retry goes and
// Delay how long to wait first. Conditions may use the payment's fields and
// the retry fields class, psp_code, issuer_code, attempt (the number of the
// attempt the retry would be: 2 after the first failure), rank (of the
// failed attempt) and last_psp (the PSP that failed).
//
//	retry_rules:
//	  - id: stripe-failed-try-adyen
//	    when: [{field: last_psp, op: equals, value: stripe}]
//	    action: psp
//	    psp: adyen
type RetryRule struct {
	// ID names the rule in RetryAction.RuleID: like a routing rule's ID,
	// unique among retry rules.
	ID string `yaml:"id"`
	// When are the conditions, all of which must hold; none means always.
	When []Condition `yaml:"when"`
	// Action is next_rank (the decision's next candidate), same_psp, psp
	// (the account in PSP) or stop.
	Action string `yaml:"action"`
	// PSP is the account to retry on when Action is psp.
	PSP string `yaml:"psp"`
	// Method is the payment-method key to use with PSP (optional).
	Method string `yaml:"method"`
	// Delay is how long to wait before the retry ("24h" for an
	// insufficient-funds retry); zero retries at once.
	Delay time.Duration `yaml:"delay"`
}

// DefaultConfiguration returns the documented defaults: version "v1", no
// routes, no default route, at most 5 ranks and 10 attempts, no rules.
func DefaultConfiguration() Configuration {
	return Configuration{
		Version:     "v1",
		MaxRanks:    5,
		MaxAttempts: 10,
	}
}

// WithSource returns c with src attached, so that the problems Check and
// New report carry the file name and line of the key they are about
// ("payroute.yaml:14: router.rules[2] (dach-eur): ..."). It changes nothing
// else; a nil src removes the location.
func (c Configuration) WithSource(src *Source) Configuration {
	c.src = src
	return c
}

// Source returns the source attached by WithSource or LoadFile, or nil.
func (c Configuration) Source() *Source { return c.src }

// Validate checks the configuration on its own (PSP names are checked
// against the registry by New): a non-empty version, max_ranks >= 1,
// max_attempts >= max_ranks, non-empty route names, at least one and at most
// max_ranks candidates per route, a PSP on every candidate, ranks >= 1 (or
// omitted) and unique within a route, and a default route that exists. Every
// problem is reported, as a config.FieldError keyed relative to the router
// section.
//
// Rules, gateway sets and retry rules are not checked here but by Check (and
// so by New): their problems (unreachable rules, contradictions, unknown
// PSPs) need the PSP registry and are reported with file lines.
func (c Configuration) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Version) == "" {
		errs = append(errs, config.Errorf("version", "must not be empty"))
	}
	if c.MaxRanks < 1 {
		errs = append(errs, config.Errorf("max_ranks", "must be >= 1, got %d", c.MaxRanks))
	}
	if c.MaxAttempts < c.MaxRanks {
		errs = append(errs, config.Errorf("max_attempts", "must be >= max_ranks (%d), got %d: failover alone may need that many attempts", c.MaxRanks, c.MaxAttempts))
	}
	for _, name := range c.routeNames() {
		key := config.JoinKey("routes", name)
		switch {
		case strings.TrimSpace(name) == "":
			errs = append(errs, config.Errorf("routes", "route name %q must not be empty", name))
			continue
		case name != strings.TrimSpace(name):
			errs = append(errs, config.Errorf("routes", "route name %q must not start or end with spaces", name))
			continue
		}
		errs = append(errs, checkCandidates(key, c.Routes[name], c.MaxRanks)...)
	}
	if c.DefaultRoute != "" {
		if _, ok := c.Routes[c.DefaultRoute]; !ok {
			errs = append(errs, config.Errorf("default_route", "names no route in routes: %q", c.DefaultRoute))
		}
	}
	return errors.Join(errs...)
}

// checkCandidates checks one ranked list at key: at least one and at most
// maxRanks candidates (maxRanks < 1 skips that bound), a PSP on each, ranks
// >= 1 or omitted, and unique.
func checkCandidates(key string, cands []Candidate, maxRanks int) []error {
	var errs []error
	if len(cands) == 0 {
		return []error{config.Errorf(key, "must list at least one candidate")}
	}
	if maxRanks >= 1 && len(cands) > maxRanks {
		errs = append(errs, config.Errorf(key, "has %d candidates, more than max_ranks (%d)", len(cands), maxRanks))
	}
	byRank := map[int]int{}
	for i, cand := range cands {
		ckey := fmt.Sprintf("%s[%d]", key, i)
		if strings.TrimSpace(cand.PSP) == "" {
			errs = append(errs, config.Errorf(ckey+".psp", "must not be empty"))
		}
		if cand.Rank < 0 {
			errs = append(errs, config.Errorf(ckey+".rank", "must be >= 1 (or omitted for the list position), got %d", cand.Rank))
			continue
		}
		r := effectiveRank(cand.Rank, i)
		if j, dup := byRank[r]; dup {
			errs = append(errs, config.Errorf(ckey+".rank", "rank %d is already used by the candidate at index %d", r, j))
			continue
		}
		byRank[r] = i
	}
	return errs
}

func (c Configuration) routeNames() []string {
	names := make([]string, 0, len(c.Routes))
	for name := range c.Routes {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// effectiveRank is rank, or the 1-based list position i+1 when rank is
// omitted (0).
func effectiveRank(rank, i int) int {
	if rank == 0 {
		return i + 1
	}
	return rank
}
