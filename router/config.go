package router

import (
	"errors"
	"fmt"
	"sort"
	"strings"

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

// DefaultConfiguration returns the documented defaults: version "v1", no
// routes, no default route, at most 5 ranks.
func DefaultConfiguration() Configuration {
	return Configuration{
		Version:  "v1",
		MaxRanks: 5,
	}
}

// Validate checks the configuration on its own (PSP names are checked
// against the registry by New): a non-empty version, max_ranks >= 1,
// non-empty route names, at least one and at most max_ranks candidates per
// route, a PSP on every candidate, ranks >= 1 (or omitted) and unique within
// a route, and a default route that exists. Every problem is reported, as a
// config.FieldError keyed relative to the router section.
func (c Configuration) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Version) == "" {
		errs = append(errs, config.Errorf("version", "must not be empty"))
	}
	if c.MaxRanks < 1 {
		errs = append(errs, config.Errorf("max_ranks", "must be >= 1, got %d", c.MaxRanks))
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
		cands := c.Routes[name]
		if len(cands) == 0 {
			errs = append(errs, config.Errorf(key, "must list at least one candidate"))
			continue
		}
		if c.MaxRanks >= 1 && len(cands) > c.MaxRanks {
			errs = append(errs, config.Errorf(key, "has %d candidates, more than max_ranks (%d)", len(cands), c.MaxRanks))
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
	}
	if c.DefaultRoute != "" {
		if _, ok := c.Routes[c.DefaultRoute]; !ok {
			errs = append(errs, config.Errorf("default_route", "names no route in routes: %q", c.DefaultRoute))
		}
	}
	return errors.Join(errs...)
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
