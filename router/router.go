package router

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/schemas"
)

// Rule IDs recorded on decisions that no routing rule produced. A decision
// from a stored route referenced by the event has RuleID RuleRouteRefPrefix
// followed by the route name.
const (
	RuleOverride       = "override"
	RuleInline         = "inline"
	RuleRouteRefPrefix = "route_ref:"
	RuleDefault        = "default"
)

// Reasons a payment cannot be routed (RouteError.Reason). They are stable
// identifiers: the consumer puts them in the DLQ headers and the REJECTED
// result.
const (
	// ReasonUnknownRouteRef: the event's route_ref names no stored route.
	ReasonUnknownRouteRef = "unknown_route_ref"
	// ReasonUnknownPSP: an override or inline candidate names a PSP the
	// registry does not know, or no PSP at all.
	ReasonUnknownPSP = "unknown_psp"
	// ReasonNoCandidates: the event carries no routing, no rule matched and
	// there is no default route.
	ReasonNoCandidates = "no_candidates"
	// ReasonDuplicateRank: two inline candidates claim the same rank.
	ReasonDuplicateRank = "duplicate_rank"
	// ReasonInvalidRank: an inline candidate has a negative rank.
	ReasonInvalidRank = "invalid_rank"
	// ReasonTooManyCandidates: more inline candidates than max_ranks.
	ReasonTooManyCandidates = "too_many_candidates"
	// ReasonUnknownRoute: a routing rule named a route that does not exist
	// (a configuration error the rule set should have caught at load).
	ReasonUnknownRoute = "unknown_route"
)

// RouteError says why a payment cannot be routed. The payment is to be
// rejected: it goes to the DLQ with Reason, and a REJECTED result is
// published.
type RouteError struct {
	Reason string // one of the Reason constants
	Detail string // human-readable specifics
}

func (e *RouteError) Error() string {
	if e.Detail == "" {
		return "route: " + e.Reason
	}
	return "route: " + e.Reason + ": " + e.Detail
}

// RouteReason returns Reason; it lets a consumer read the reason through a
// one-method interface without importing this package.
func (e *RouteError) RouteReason() string { return e.Reason }

func routeErr(reason, format string, args ...any) *RouteError {
	return &RouteError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// RuleSet is the seam for routing rules (ordered rules, first match wins;
// PRODUCT.md, Routing). It is consulted after the event's own routing and
// before the default route. Match returns the name of a stored route and the
// ID of the rule that matched, recorded as Decision.RuleID; ok is false when
// no rule matches. Implementations must be safe for concurrent use.
type RuleSet interface {
	Match(req *schemas.PaymentRequested) (route string, ruleID string, ok bool)
}

// Router computes routing decisions. It is immutable and safe for
// concurrent use.
type Router struct {
	version      string
	maxRanks     int
	known        map[string]bool
	routes       map[string][]schemas.Candidate // sorted and renumbered 1..n
	defaultRoute string
	rules        RuleSet
}

// New validates cfg, checks every stored route's PSPs against knownPSPs (the
// names the PSP registry holds) and returns a Router. All problems are
// reported together, each as a config.FieldError keyed under "router"
// (e.g. "router.routes.cards-eu[1].psp: unknown PSP ...").
func New(cfg Configuration, knownPSPs []string) (*Router, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, prefixErrors(ConfigKey, err)...)
	}
	known := make(map[string]bool, len(knownPSPs))
	for _, p := range knownPSPs {
		known[p] = true
	}
	routes := make(map[string][]schemas.Candidate, len(cfg.Routes))
	for _, name := range cfg.routeNames() {
		for i, c := range cfg.Routes[name] {
			if c.PSP != "" && !known[c.PSP] {
				errs = append(errs, config.FieldError{
					Key: fmt.Sprintf("%s[%d].psp", config.JoinKey(ConfigKey+".routes", name), i),
					Msg: fmt.Sprintf("unknown PSP %q (known: %s)", c.PSP, knownList(knownPSPs)),
				})
			}
		}
		ranked := append([]Candidate(nil), cfg.Routes[name]...)
		for i := range ranked {
			ranked[i].Rank = effectiveRank(ranked[i].Rank, i)
		}
		sort.SliceStable(ranked, func(i, j int) bool { return ranked[i].Rank < ranked[j].Rank })
		cands := make([]schemas.Candidate, len(ranked))
		for i, c := range ranked {
			cands[i] = schemas.Candidate{PSP: c.PSP, Method: c.Method, Rank: int32(i + 1)}
		}
		routes[name] = cands
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Router{
		version:      cfg.Version,
		maxRanks:     cfg.MaxRanks,
		known:        known,
		routes:       routes,
		defaultRoute: cfg.DefaultRoute,
	}, nil
}

// WithRules returns a copy of r that consults rules between the event's own
// routing and the default route. A nil rules removes the rule set.
func (r *Router) WithRules(rules RuleSet) *Router {
	c := *r
	c.rules = rules
	return &c
}

// Version is the configuration version recorded on every decision.
func (r *Router) Version() string { return r.version }

// HasRoute reports whether name is a stored route; a rule set uses it to
// check its targets when it is loaded.
func (r *Router) HasRoute(name string) bool {
	_, ok := r.routes[name]
	return ok
}

// Route decides where req goes (see the package documentation for the
// order). The returned Decision always carries the configuration version,
// the rule ID and at least one candidate, ranked 1..n; the caller owns its
// slice. An error is always a *RouteError and means the payment must be
// rejected.
func (r *Router) Route(req *schemas.PaymentRequested) (schemas.Decision, error) {
	if req == nil {
		return schemas.Decision{}, routeErr(ReasonNoCandidates, "no payment request")
	}
	rt := req.Routing
	switch {
	case rt.ProviderOverride != "":
		if !r.known[rt.ProviderOverride] {
			return schemas.Decision{}, routeErr(ReasonUnknownPSP, "provider override names unknown PSP %q", rt.ProviderOverride)
		}
		return r.decision(RuleOverride, []schemas.Candidate{{PSP: rt.ProviderOverride, Rank: 1}}), nil
	case len(rt.Candidates) > 0:
		cands, err := r.inline(rt.Candidates)
		if err != nil {
			return schemas.Decision{}, err
		}
		return r.decision(RuleInline, cands), nil
	case rt.RouteRef != "":
		cands, ok := r.routes[rt.RouteRef]
		if !ok {
			return schemas.Decision{}, routeErr(ReasonUnknownRouteRef, "route_ref %q names no stored route", rt.RouteRef)
		}
		return r.decision(RuleRouteRefPrefix+rt.RouteRef, clone(cands)), nil
	}
	if r.rules != nil {
		if route, ruleID, ok := r.rules.Match(req); ok {
			cands, found := r.routes[route]
			if !found {
				return schemas.Decision{}, routeErr(ReasonUnknownRoute, "rule %q names route %q, which does not exist", ruleID, route)
			}
			if ruleID == "" {
				ruleID = "rule:" + route
			}
			return r.decision(ruleID, clone(cands)), nil
		}
	}
	if r.defaultRoute != "" {
		return r.decision(RuleDefault, clone(r.routes[r.defaultRoute])), nil
	}
	return schemas.Decision{}, routeErr(ReasonNoCandidates, "the event carries no routing, no rule matched and no default route is configured")
}

func (r *Router) decision(ruleID string, cands []schemas.Candidate) schemas.Decision {
	return schemas.Decision{ConfigVersion: r.version, RuleID: ruleID, Candidates: cands}
}

// inline checks and ranks candidates sent in the event. They are kept as
// given (the same PSP may appear twice), ordered by rank.
func (r *Router) inline(in []schemas.Candidate) ([]schemas.Candidate, error) {
	if len(in) > r.maxRanks {
		return nil, routeErr(ReasonTooManyCandidates, "%d candidates, at most %d allowed", len(in), r.maxRanks)
	}
	out := make([]schemas.Candidate, len(in))
	byRank := make(map[int32]int, len(in))
	for i, c := range in {
		switch {
		case c.PSP == "":
			return nil, routeErr(ReasonUnknownPSP, "candidate %d has no PSP", i+1)
		case !r.known[c.PSP]:
			return nil, routeErr(ReasonUnknownPSP, "candidate %d names unknown PSP %q", i+1, c.PSP)
		case c.Rank < 0:
			return nil, routeErr(ReasonInvalidRank, "candidate %d (%s) has rank %d; ranks start at 1", i+1, c.PSP, c.Rank)
		}
		rank := c.Rank
		if rank == 0 {
			rank = int32(i + 1)
		}
		if j, dup := byRank[rank]; dup {
			return nil, routeErr(ReasonDuplicateRank, "candidates %d (%s) and %d (%s) both have rank %d", j+1, in[j].PSP, i+1, c.PSP, rank)
		}
		byRank[rank] = i
		out[i] = schemas.Candidate{PSP: c.PSP, Method: c.Method, Rank: rank}
	}
	return renumber(out), nil
}

// renumber sorts candidates by rank (stable) and renumbers them 1..n in place.
func renumber(c []schemas.Candidate) []schemas.Candidate {
	sort.SliceStable(c, func(i, j int) bool { return c[i].Rank < c[j].Rank })
	for i := range c {
		c[i].Rank = int32(i + 1)
	}
	return c
}

func clone(c []schemas.Candidate) []schemas.Candidate {
	return append([]schemas.Candidate(nil), c...)
}

func knownList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	s := append([]string(nil), names...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// prefixErrors puts prefix in front of the key of every FieldError in err.
func prefixErrors(prefix string, err error) []error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		var fe config.FieldError
		if errors.As(e, &fe) {
			out = append(out, config.FieldError{Key: config.JoinKey(prefix, fe.Key), Msg: fe.Msg})
		} else {
			out = append(out, config.FieldError{Key: prefix, Msg: e.Error()})
		}
	}
	return out
}
