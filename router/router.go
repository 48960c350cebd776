package router

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strings"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/schemas"
)

// Rule IDs recorded on decisions that no routing rule produced. A decision
// from a stored route referenced by the event has RuleID RuleRouteRefPrefix
// followed by the route name; one from a routing rule has the rule's ID,
// or "<rule id>/<branch>" for a split.
const (
	RuleOverride       = "override"
	RuleInline         = "inline"
	RuleRouteRefPrefix = "route_ref:"
	RuleDefault        = "default"
	// RulePinned: a CAPTURE, VOID or REFUND pinned to the authorizing PSP
	// (RouteFollowUp).
	RulePinned = "pinned"
)

// Reasons a payment cannot be routed (RouteError.Reason). They are stable
// identifiers: the consumer puts them in the DLQ headers and the REJECTED
// result.
const (
	// ReasonUnknownRouteRef: the event's route_ref names no stored route.
	ReasonUnknownRouteRef = "unknown_route_ref"
	// ReasonUnknownPSP: an override or inline candidate names a PSP the
	// registry does not know, or no PSP at all; or the authorizing PSP of
	// a follow-up is not known.
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
	// ReasonFollowUp: Route was asked to route a CAPTURE, VOID or REFUND,
	// which must go to the PSP that authorized (RouteFollowUp), or
	// RouteFollowUp was asked to pin something else or without the
	// authorizing PSP.
	ReasonFollowUp = "follow_up"
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

// RuleSet is a seam for routing rules computed outside the configuration
// (a rule engine of one's own). It is consulted after the configured rules
// (Configuration.Rules) found no match and before the default route. Match
// returns the name of a stored route and the ID of the rule that matched,
// recorded as Decision.RuleID; ok is false when no rule matches.
// Implementations must be safe for concurrent use.
type RuleSet interface {
	Match(req *schemas.PaymentRequested) (route string, ruleID string, ok bool)
}

// Router computes routing decisions. It is immutable and safe for
// concurrent use; a new configuration is a new Router (see Holder).
type Router struct {
	cfg          Configuration // as given, to compare versions on Swap
	version      string
	maxRanks     int
	maxAttempts  int
	known        map[string]bool
	knownNames   []string
	opts         []Option
	excluded     map[string]bool // known accounts excluded from failover
	routes       map[string]*list
	gatewaySets  map[string]*gatewaySet
	rules        []*rule
	index        *ruleIndex // nil when no field is worth indexing
	retryRules   []*retryRule
	defaultRoute string
	ruleSet      RuleSet
	src          *Source
}

// New checks cfg (see Check) against knownPSPs, the account names of the
// PSP registry, and compiles it into a Router. It fails when Check reports
// an error; the error joins every error Problem, one per line, each
// located at its key and, when cfg has a Source, its file line. Warnings do
// not fail New (Check returns them).
//
// Everything the hot path needs is compiled here: conditions into typed
// comparisons with folded operands and sets, ranked lists sorted and
// renumbered with accounts excluded from failover dropped, split and
// gateway set lookups into arrays and maps. opts mark accounts excluded
// from failover (ExcludeFromFailover).
func New(cfg Configuration, knownPSPs []string, opts ...Option) (*Router, error) {
	r, ps := build(cfg, knownPSPs, opts)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

// WithRules returns a copy of r that consults rules after the configured
// rules and before the default route. A nil rules removes the rule set.
func (r *Router) WithRules(rules RuleSet) *Router {
	c := *r
	c.ruleSet = rules
	return &c
}

// Version is the configuration version recorded on every decision.
func (r *Router) Version() string { return r.version }

// Configuration returns the configuration r was built from.
func (r *Router) Configuration() Configuration { return r.cfg }

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
// rejected. CAPTURE, VOID and REFUND are refused with ReasonFollowUp: they
// go to the authorizing PSP through RouteFollowUp.
//
// Route evaluates precompiled rules without allocating (for events whose
// card network, funding and method type are lower case, as PSPs and vaults
// send them); the one allocation is the caller's copy of the candidates.
func (r *Router) Route(req *schemas.PaymentRequested) (schemas.Decision, error) {
	ruleID, cands, owned, err := r.decide(req, nil)
	if err != nil {
		return schemas.Decision{}, err
	}
	if !owned {
		cands = clone(cands)
	}
	return r.decision(ruleID, cands), nil
}

// decide is Route without the copy. cands is shared unless owned; ex, when
// not nil, records why.
func (r *Router) decide(req *schemas.PaymentRequested, ex *Explanation) (ruleID string, cands []schemas.Candidate, owned bool, err error) {
	if req == nil {
		return "", nil, false, routeErr(ReasonNoCandidates, "no payment request")
	}
	switch req.Operation {
	case schemas.OpCapture, schemas.OpVoid, schemas.OpRefund:
		if ex != nil {
			ex.Source = SourceFollowUp
		}
		return "", nil, false, routeErr(ReasonFollowUp, "%s follows payment %q and goes to the PSP that authorized it (RouteFollowUp), never by routing", req.Operation, req.ReferencePaymentID)
	}
	rt := req.Routing
	switch {
	case rt.ProviderOverride != "":
		if ex != nil {
			ex.Source = SourceOverride
		}
		if !r.known[rt.ProviderOverride] {
			return "", nil, false, routeErr(ReasonUnknownPSP, "provider override names unknown PSP %q", rt.ProviderOverride)
		}
		return RuleOverride, []schemas.Candidate{{PSP: rt.ProviderOverride, Rank: 1}}, true, nil
	case rt.RouteRef != "":
		if ex != nil {
			ex.Source = SourceRouteRef
		}
		l, ok := r.routes[rt.RouteRef]
		if !ok {
			return "", nil, false, routeErr(ReasonUnknownRouteRef, "route_ref %q names no stored route", rt.RouteRef)
		}
		ex.useList(l)
		return RuleRouteRefPrefix + rt.RouteRef, l.cands, false, nil
	case len(rt.Candidates) > 0:
		if ex != nil {
			ex.Source = SourceInline
		}
		cands, err := r.inline(rt.Candidates, ex)
		if err != nil {
			return "", nil, false, err
		}
		return RuleInline, cands, true, nil
	}
	if len(r.rules) > 0 {
		if ruleID, l, ok := r.matchRules(req, ex); ok {
			return ruleID, l.cands, false, nil
		}
	}
	if r.ruleSet != nil {
		if route, ruleID, ok := r.ruleSet.Match(req); ok {
			if ex != nil {
				ex.Source = SourceRuleSet
			}
			l, found := r.routes[route]
			if !found {
				return "", nil, false, routeErr(ReasonUnknownRoute, "rule %q names route %q, which does not exist", ruleID, route)
			}
			if ruleID == "" {
				ruleID = "rule:" + route
			}
			ex.useList(l)
			return ruleID, l.cands, false, nil
		}
	}
	if ex != nil {
		ex.Source = SourceDefault
	}
	if r.defaultRoute != "" {
		l := r.routes[r.defaultRoute]
		ex.useList(l)
		return RuleDefault, l.cands, false, nil
	}
	return "", nil, false, routeErr(ReasonNoCandidates, "the event carries no routing, no rule matched and no default route is configured")
}

// matchRules evaluates the configured rules in order and returns the
// decision of the first that matches and resolves to a list. Without an
// explanation to record, the rule index (see ruleIndex) first rules out
// the rules whose equals or one_of conditions cannot hold.
func (r *Router) matchRules(req *schemas.PaymentRequested, ex *Explanation) (string, *list, bool) {
	in := makeInput(req, nil)
	if ex == nil && r.index != nil {
		var buf [maxIndexWords]uint64
		var m memo
		cand := r.index.candidates(&in, buf[:r.index.words])
		for w, word := range cand {
			for word != 0 {
				i := w*64 + bits.TrailingZeros64(word)
				word &= word - 1
				ru := r.rules[i]
				if ok, _ := ru.matches(&in, &m); !ok {
					continue
				}
				if ruleID, l, found := r.apply(ru, &in, nil); found {
					return ruleID, l, true
				}
			}
		}
		return "", nil, false
	}
	var m *memo
	if ex == nil {
		m = new(memo) // does not escape: on the stack
	}
	for _, ru := range r.rules {
		ok, failed := ru.matches(&in, m)
		if !ok {
			if ex != nil {
				ex.Rules = append(ex.Rules, r.ruleResult(ru, false, failed, &in, ""))
			}
			continue
		}
		if ruleID, l, found := r.apply(ru, &in, ex); found {
			return ruleID, l, true
		}
	}
	return "", nil, false
}

// apply resolves the target of a rule whose conditions hold: the split
// branch, then the gateway set entry. found is false when a gateway set has
// no entry for the payment, and the rule does not decide.
func (r *Router) apply(ru *rule, in *input, ex *Explanation) (ruleID string, l *list, found bool) {
	ruleID, t := ru.id, ru.target
	var bucket uint32
	var br *branch
	if len(ru.split) > 0 {
		paymentID := ""
		if in.req != nil {
			paymentID = in.req.PaymentID
		}
		bucket = splitBucket(ru.id, paymentID)
		br = &ru.split[len(ru.split)-1]
		for i := range ru.split {
			if bucket < ru.split[i].upto {
				br = &ru.split[i]
				break
			}
		}
		ruleID, t = br.ruleID, br.target
	}
	l, k, found := t.resolve(in)
	if ex != nil {
		note := ""
		if !found {
			note = fmt.Sprintf("gateway set %s has no entry for network %q and currency %q: the rule does not apply",
				t.gs.name, in.vals[fNetwork], in.vals[fCurrency])
		}
		ex.Rules = append(ex.Rules, r.ruleResult(ru, found, nil, in, note))
		if found {
			ex.Source = SourceRules
			if br != nil {
				ex.Split = &SplitResult{Bucket: float64(bucket) / 100, Branch: ruleID, Percent: br.percent}
			}
			if t.gs != nil {
				ex.GatewaySet = &GatewayResult{Name: t.gs.name, Network: k.network, Currency: k.currency}
			}
			ex.useList(l)
		}
	}
	return ruleID, l, found
}

func (r *Router) decision(ruleID string, cands []schemas.Candidate) schemas.Decision {
	return schemas.Decision{ConfigVersion: r.version, RuleID: ruleID, Candidates: cands}
}

// inline checks and ranks candidates sent in the event. They are kept as
// given (the same PSP may appear twice), ordered by rank, except that
// accounts excluded from failover are dropped after rank 1.
func (r *Router) inline(in []schemas.Candidate, ex *Explanation) ([]schemas.Candidate, error) {
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
	out = renumber(out)
	if len(r.excluded) == 0 {
		return out, nil
	}
	kept := out[:1]
	for _, c := range out[1:] {
		if r.excluded[c.PSP] {
			if ex != nil {
				ex.ExcludedFromFailover = append(ex.ExcludedFromFailover, c.PSP)
			}
			continue
		}
		c.Rank = int32(len(kept) + 1)
		kept = append(kept, c)
	}
	return kept, nil
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
