package router

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// Option adjusts how New builds a router from the PSP registry's view.
type Option func(*options)

type options struct {
	excluded map[string]bool
}

// ExcludeFromFailover marks PSP accounts as excluded from failover
// (psp.Account.ExcludeFromFailover, Recurly's "exclude from gateway
// failover"): such an account is attempted only at rank 1 or through a
// provider override, and is dropped from every ranked list where it would
// come later, so failover traffic never reaches it. Names that are not known
// PSPs are ignored.
func ExcludeFromFailover(names ...string) Option {
	return func(o *options) {
		for _, n := range names {
			o.excluded[n] = true
		}
	}
}

// list is a compiled ranked list: candidates sorted by rank, renumbered
// 1..n, with accounts excluded from failover dropped after rank 1. Its
// slices are shared and never modified.
type list struct {
	desc    string // for explanations: "route cards-eu"
	cands   []schemas.Candidate
	dropped []string // PSPs dropped because they are excluded from failover
}

// gwKey is a gateway set entry's network and currency ("*" for any).
type gwKey struct{ network, currency string }

const anyValue = "*"

// gatewaySet is a compiled gateway set.
type gatewaySet struct {
	name    string
	entries map[gwKey]*list
	total   bool // has a "*"/"*" entry, so it resolves for every payment
}

// resolve finds the most specific entry for network (lower case) and
// currency (upper case). It does not allocate.
func (g *gatewaySet) resolve(network, currency string) (*list, gwKey, bool) {
	for _, k := range [4]gwKey{{network, currency}, {network, anyValue}, {anyValue, currency}, {anyValue, anyValue}} {
		if l, ok := g.entries[k]; ok {
			return l, k, true
		}
	}
	return nil, gwKey{}, false
}

// target is a compiled Target: a list, or a gateway set.
type target struct {
	list *list
	gs   *gatewaySet
}

func (t target) total() bool { return t.list != nil || (t.gs != nil && t.gs.total) }

// resolve returns the list for in; ok is false when a gateway set has no
// entry for the payment's network and currency.
func (t target) resolve(in *input) (l *list, k gwKey, ok bool) {
	if t.list != nil {
		return t.list, gwKey{}, true
	}
	return t.gs.resolve(in.vals[fNetwork], in.vals[fCurrency])
}

// branch is one compiled share of a split.
type branch struct {
	ruleID  string // "<rule>/<branch>", recorded on decisions
	percent float64
	upto    uint32 // cumulative basis points: the branch takes buckets below upto
	target  target
}

// rule is a compiled routing rule.
type rule struct {
	id     string
	index  int    // position in Configuration.Rules
	key    string // "router.rules[2]"
	conds  []*cond
	target target   // when split is empty
	split  []branch // percentages sum to splitScale
}

// total reports whether a match always yields candidates.
func (r *rule) total() bool {
	if len(r.split) == 0 {
		return r.target.total()
	}
	for _, b := range r.split {
		if !b.target.total() {
			return false
		}
	}
	return true
}

// matches reports whether every condition holds, and otherwise the first
// that does not. m, when not nil, remembers the results of conditions that
// several rules share, for the rest of the decision.
func (r *rule) matches(in *input, m *memo) (bool, *cond) {
	for _, c := range r.conds {
		var ok bool
		if m != nil && c.memo >= 0 {
			w, bit := c.memo/64, uint64(1)<<(c.memo%64)
			if m.known[w]&bit != 0 {
				ok = m.val[w]&bit != 0
			} else {
				ok = c.eval(in)
				m.known[w] |= bit
				if ok {
					m.val[w] |= bit
				}
			}
		} else {
			ok = c.eval(in)
		}
		if !ok {
			return false, c
		}
	}
	return true, nil
}

// maxMemo bounds how many shared conditions a decision remembers, so the
// memo lives on the stack.
const maxMemo = 1024

// memo is a decision's record of shared condition results.
type memo struct {
	known, val [maxMemo / 64]uint64
}

// assignMemo gives every condition that appears, identical, in two or more
// rules a memo slot: "currency one_of [EUR, GBP]" in forty rules is then
// evaluated once per decision.
func assignMemo(rules []*rule) {
	byKey := map[string][]*cond{}
	var order []string
	for _, ru := range rules {
		for _, c := range ru.conds {
			k := fmt.Sprintf("%d\x00%s\x00%d\x00%q", c.f.id, c.meta, c.op, c.strs)
			if byKey[k] == nil {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], c)
		}
	}
	next := int32(0)
	for _, k := range order {
		cs := byKey[k]
		if len(cs) < 2 || next >= maxMemo {
			continue
		}
		for _, c := range cs {
			c.memo = next
		}
		next++
	}
}

// reservedRuleIDs are the RuleIDs of decisions no rule made.
var reservedRuleIDs = []string{RuleOverride, RuleInline, RuleDefault, RulePinned}

// builder compiles a Configuration into a Router, reporting problems.
type builder struct {
	ck    *checker
	cfg   Configuration
	r     *Router
	known []string
}

// build checks and compiles cfg. The router is nil when there are errors.
func build(cfg Configuration, knownPSPs []string, opts []Option) (*Router, Problems) {
	o := options{excluded: map[string]bool{}}
	for _, opt := range opts {
		opt(&o)
	}
	ck := &checker{src: cfg.src}
	if err := cfg.Validate(); err != nil {
		ck.fieldErrors(ConfigKey, "", err)
	}
	known := make(map[string]bool, len(knownPSPs))
	for _, p := range knownPSPs {
		known[p] = true
	}
	excluded := map[string]bool{}
	for n := range o.excluded {
		if known[n] {
			excluded[n] = true
		}
	}
	r := &Router{
		cfg:          cfg,
		version:      cfg.Version,
		maxRanks:     cfg.MaxRanks,
		maxAttempts:  cfg.MaxAttempts,
		known:        known,
		knownNames:   append([]string(nil), knownPSPs...),
		opts:         opts,
		excluded:     excluded,
		routes:       make(map[string]*list, len(cfg.Routes)),
		gatewaySets:  make(map[string]*gatewaySet, len(cfg.GatewaySets)),
		defaultRoute: cfg.DefaultRoute,
		src:          cfg.src,
	}
	b := &builder{ck: ck, cfg: cfg, r: r, known: knownPSPs}
	b.routes()
	b.gatewaySets()
	b.rules()
	r.index = buildIndex(r.rules)
	assignMemo(r.rules)
	b.defaultRoute()
	b.retryRules()
	if len(ck.probs.Errors()) > 0 {
		return nil, ck.probs
	}
	return r, ck.probs
}

// routes compiles the stored routes; their structure was checked by
// Validate, so only PSP names are checked here.
func (b *builder) routes() {
	for _, name := range b.cfg.routeNames() {
		key := config.JoinKey(ConfigKey+".routes", name)
		b.checkPSPs(key, "", b.cfg.Routes[name])
		b.r.routes[name] = b.compileList(key, "", "route "+name, b.cfg.Routes[name])
	}
}

// checkPSPs reports candidates naming unknown PSPs.
func (b *builder) checkPSPs(key, rule string, cands []Candidate) {
	for i, c := range cands {
		if c.PSP != "" && !b.r.known[c.PSP] {
			b.ck.errorf(fmt.Sprintf("%s[%d].psp", key, i), rule, "unknown PSP %q (known: %s)", c.PSP, knownList(b.known))
		}
	}
}

// compileList ranks cands, renumbers them and drops accounts excluded from
// failover after rank 1, warning about each.
func (b *builder) compileList(key, rule, desc string, cands []Candidate) *list {
	type indexed struct {
		Candidate
		i int
	}
	ranked := make([]indexed, len(cands))
	for i, c := range cands {
		ranked[i] = indexed{c, i}
		ranked[i].Rank = effectiveRank(c.Rank, i)
	}
	sort.SliceStable(ranked, func(i, j int) bool { return ranked[i].Rank < ranked[j].Rank })
	l := &list{desc: desc}
	for _, c := range ranked {
		if len(l.cands) > 0 && b.r.excluded[c.PSP] {
			l.dropped = append(l.dropped, c.PSP)
			b.ck.warnf(fmt.Sprintf("%s[%d]", key, c.i), rule,
				"PSP %q is excluded from failover: it is dropped from rank %d of %s (it is attempted only at rank 1 or by a provider override)",
				c.PSP, len(l.cands)+len(l.dropped), desc)
			continue
		}
		l.cands = append(l.cands, schemas.Candidate{PSP: c.PSP, Method: c.Method, Rank: int32(len(l.cands) + 1)})
	}
	l.cands = l.cands[:len(l.cands):len(l.cands)]
	return l
}

// rankedList compiles a RankedList written in a rule, a branch or a gateway
// set entry: exactly one of route and candidates.
func (b *builder) rankedList(key, rule, desc string, rl RankedList) (*list, bool) {
	switch {
	case rl.Route != "" && len(rl.Candidates) > 0:
		b.ck.errorf(key, rule, "names both route %q and candidates: choose one", rl.Route)
	case rl.Route != "":
		l, ok := b.r.routes[rl.Route]
		if !ok {
			b.ck.errorf(key+".route", rule, "names no route in routes: %q", rl.Route)
			return nil, false
		}
		return l, true
	case len(rl.Candidates) > 0:
		mark := len(b.ck.probs)
		b.ck.fieldErrors("", rule, checkCandidates(key+".candidates", rl.Candidates, b.cfg.MaxRanks)...)
		b.checkPSPs(key+".candidates", rule, rl.Candidates)
		if b.ck.hasErrors(mark) {
			return nil, false
		}
		return b.compileList(key+".candidates", rule, desc, rl.Candidates), true
	}
	return nil, false
}

// compileTarget compiles a rule's or branch's target; what is the thing
// that needs it ("a rule", "a split branch"), for messages.
func (b *builder) compileTarget(key, rule, what, desc string, t Target) (target, bool) {
	n := 0
	for _, set := range []bool{t.Route != "", len(t.Candidates) > 0, t.GatewaySet != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		b.ck.errorf(key, rule, "%s needs exactly one target: route, candidates or gateway_set", what)
		return target{}, false
	}
	if t.GatewaySet != "" {
		gs, ok := b.r.gatewaySets[t.GatewaySet]
		if !ok {
			if _, exists := b.cfg.GatewaySets[t.GatewaySet]; !exists {
				b.ck.errorf(key+".gateway_set", rule, "names no gateway set in gateway_sets: %q", t.GatewaySet)
			}
			return target{}, false
		}
		return target{gs: gs}, true
	}
	l, ok := b.rankedList(key, rule, desc, t.RankedList)
	return target{list: l}, ok
}

// gatewaySets compiles gateway_sets.
func (b *builder) gatewaySets() {
	names := make([]string, 0, len(b.cfg.GatewaySets))
	for n := range b.cfg.GatewaySets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		key := config.JoinKey(ConfigKey+".gateway_sets", name)
		mark := len(b.ck.probs)
		if err := psp.CheckName(name); err != nil {
			b.ck.errorf(key, "", "gateway set %v", err)
		}
		entries := b.cfg.GatewaySets[name]
		if len(entries) == 0 {
			b.ck.errorf(key, "", "must list at least one entry")
		}
		gs := &gatewaySet{name: name, entries: map[gwKey]*list{}}
		seen := map[gwKey]int{}
		for i, e := range entries {
			ekey := fmt.Sprintf("%s[%d]", key, i)
			k := gwKey{network: lowerASCII(strings.TrimSpace(e.Network)), currency: upperASCII(strings.TrimSpace(e.Currency))}
			if k.network == "" {
				k.network = anyValue
			}
			if k.currency == "" {
				k.currency = anyValue
			}
			if k.currency != anyValue {
				if err := checkCurrency(k.currency); err != nil {
					b.ck.errorf(ekey+".currency", "", "%v", err)
				}
			}
			if j, dup := seen[k]; dup {
				b.ck.errorf(ekey, "", "network %s and currency %s are already mapped by entry %d", k.network, k.currency, j)
				continue
			}
			seen[k] = i
			if e.Route == "" && len(e.Candidates) == 0 {
				b.ck.errorf(ekey, "", "needs a ranked list: route or candidates")
				continue
			}
			l, ok := b.rankedList(ekey, "", fmt.Sprintf("gateway set %s (%s, %s)", name, k.network, k.currency), e.RankedList)
			if ok {
				gs.entries[k] = l
			}
		}
		gs.total = gs.entries[gwKey{anyValue, anyValue}] != nil
		if !b.ck.hasErrors(mark) {
			b.r.gatewaySets[name] = gs
		}
	}
}

// checkID checks a rule ID at key against seen (ID → index); what is
// "rule" or "retry rule", section "rules" or "retry_rules".
func (b *builder) checkID(key, id string, index int, seen map[string]int, what, section string) {
	switch {
	case id == "":
		b.ck.errorf(key+".id", "", "every %s needs an id: it names the rule in decisions and analytics", what)
		return
	case psp.CheckName(id) != nil:
		b.ck.errorf(key+".id", id, "invalid id %q: want 1-64 characters of [A-Za-z0-9._-], starting with a letter or digit", id)
		return
	case contains(reservedRuleIDs, id):
		b.ck.errorf(key+".id", id, "%q is reserved for decisions no rule makes (%s)", id, strings.Join(reservedRuleIDs, ", "))
		return
	}
	if j, dup := seen[id]; dup {
		b.ck.errorf(key+".id", id, "id already used by %s[%d]", section, j)
		return
	}
	seen[id] = index
}

// conditions compiles a rule's when.
func (b *builder) conditions(key, id string, when []Condition, retry bool) []*cond {
	conds := make([]*cond, 0, len(when))
	for j, c := range when {
		cc, errs := compileCond(c, j, retry)
		if errs != nil {
			b.ck.fieldErrors(fmt.Sprintf("%s.when[%d]", key, j), id, errs...)
			continue
		}
		conds = append(conds, cc)
	}
	return conds
}

// rules compiles the routing rules, then looks for contradictions and
// rules that earlier ones shadow.
func (b *builder) rules() {
	seen := map[string]int{}
	for i, rc := range b.cfg.Rules {
		key := fmt.Sprintf("%s.rules[%d]", ConfigKey, i)
		mark := len(b.ck.probs)
		b.checkID(key, rc.ID, i, seen, "rule", "rules")
		id := rc.ID
		ru := &rule{id: id, index: i, key: key, conds: b.conditions(key, id, rc.When, false)}

		targets := 0
		for _, set := range []bool{rc.Route != "", len(rc.Candidates) > 0, rc.GatewaySet != "", len(rc.Split) > 0} {
			if set {
				targets++
			}
		}
		switch {
		case targets != 1:
			b.ck.errorf(key, id, "a rule needs exactly one target: route, candidates, gateway_set or split")
		case len(rc.Split) > 0:
			ru.split = b.split(key, id, rc.Split)
		default:
			ru.target, _ = b.compileTarget(key, id, "a rule", "rule "+id, rc.Target)
		}
		if b.ck.hasErrors(mark) {
			continue
		}
		if !b.contradictions(key, id, ru.conds) {
			continue
		}
		for _, earlier := range b.r.rules {
			if earlier.total() && shadows(earlier.conds, ru.conds) {
				b.ck.errorf(key, id, "unreachable: every payment it matches is matched first by %s (%s%s)",
					strings.TrimPrefix(earlier.key, ConfigKey+"."), earlier.id, b.atLine(earlier.key))
				break
			}
		}
		b.r.rules = append(b.r.rules, ru)
	}
}

// atLine is ", line N" for key when the source knows it.
func (b *builder) atLine(key string) string {
	if l := b.ck.src.Line(key); l > 0 {
		return ", line " + strconv.Itoa(l)
	}
	return ""
}

// split compiles a rule's split.
func (b *builder) split(key, id string, in []Branch) []branch {
	var out []branch
	var sum int64
	percentsOK := true
	names := map[string]int{}
	for i, br := range in {
		bkey := fmt.Sprintf("%s.split[%d]", key, i)
		bp := math.Round(br.Percent * 100)
		switch {
		case br.Percent <= 0 || br.Percent > 100 || math.IsNaN(br.Percent):
			b.ck.errorf(bkey+".percent", id, "must be > 0 and <= 100, got %v", br.Percent)
			percentsOK = false
			continue
		case math.Abs(br.Percent*100-bp) > 1e-6:
			b.ck.errorf(bkey+".percent", id, "at most two decimals, got %v", br.Percent)
			percentsOK = false
			continue
		}
		sum += int64(bp)
		ruleID := fmt.Sprintf("%s/split-%d", id, i+1)
		if br.ID != "" {
			if err := psp.CheckName(br.ID); err != nil {
				b.ck.errorf(bkey+".id", id, "branch %v", err)
			} else if j, dup := names[br.ID]; dup {
				b.ck.errorf(bkey+".id", id, "branch id already used by split[%d]", j)
			}
			names[br.ID] = i
			ruleID = id + "/" + br.ID
		}
		t, ok := b.compileTarget(bkey, id, "a split branch", fmt.Sprintf("rule %s, split %s%%", id, strconv.FormatFloat(br.Percent, 'f', -1, 64)), br.Target)
		if !ok {
			continue
		}
		out = append(out, branch{ruleID: ruleID, percent: br.Percent, upto: uint32(sum), target: t})
	}
	if percentsOK && sum != splitScale {
		b.ck.errorf(key+".split", id, "percentages sum to %s, want 100", strconv.FormatFloat(float64(sum)/100, 'f', -1, 64))
	}
	return out
}

// contradictions reports conditions of one rule that cannot all hold; it
// returns false when it found some.
func (b *builder) contradictions(key, id string, conds []*cond) bool {
	ok := true
	for _, group := range byField(conds) {
		if satisfiable(group) {
			continue
		}
		ok = false
		last := group[len(group)-1]
		if len(group) == 1 {
			b.ck.errorf(fmt.Sprintf("%s.when[%d]", key, last.index), id, "contradictory: %s can never hold", last.describe())
			continue
		}
		reported := false
		for j := 1; j < len(group) && !reported; j++ {
			for i := 0; i < j; i++ {
				if !satisfiable([]*cond{group[i], group[j]}) {
					b.ck.errorf(fmt.Sprintf("%s.when[%d]", key, group[j].index), id, "contradictory: %s and %s (when[%d]) cannot both hold",
						group[j].describe(), group[i].describe(), group[i].index)
					reported = true
					break
				}
			}
		}
		if !reported {
			descs := make([]string, len(group))
			for i, c := range group {
				descs[i] = c.describe()
			}
			b.ck.errorf(fmt.Sprintf("%s.when[%d]", key, last.index), id, "contradictory: %s cannot all hold", strings.Join(descs, " and "))
		}
	}
	return ok
}

// defaultRoute warns when a catch-all rule leaves the default route unused.
func (b *builder) defaultRoute() {
	if b.cfg.DefaultRoute == "" {
		return
	}
	for _, ru := range b.r.rules {
		if len(ru.conds) == 0 && ru.total() {
			b.ck.warnf(ConfigKey+".default_route", "", "never used: %s (%s) matches every payment the rules see",
				strings.TrimPrefix(ru.key, ConfigKey+"."), ru.id)
			return
		}
	}
}

// retryRule is a compiled retry rule.
type retryRule struct {
	id     string
	index  int
	key    string
	conds  []*cond
	kind   RetryKind
	psp    string
	method string
	delay  time.Duration
}

// retryRules compiles the retry rules.
func (b *builder) retryRules() {
	seen := map[string]int{}
	for i, rc := range b.cfg.RetryRules {
		key := fmt.Sprintf("%s.retry_rules[%d]", ConfigKey, i)
		mark := len(b.ck.probs)
		b.checkID(key, rc.ID, i, seen, "retry rule", "retry_rules")
		id := rc.ID
		rr := &retryRule{id: id, index: i, key: key, conds: b.conditions(key, id, rc.When, true),
			psp: rc.PSP, method: rc.Method, delay: rc.Delay}
		kind, ok := lookupRetryKind(rc.Action)
		if !ok {
			b.ck.errorf(key+".action", id, "unknown action %q (known: %s, %s, %s, %s)", rc.Action, RetryNextRank, RetrySamePSP, RetryNamedPSP, RetryStop)
		}
		rr.kind = kind
		switch {
		case !ok:
		case kind == RetryNamedPSP && rc.PSP == "":
			b.ck.errorf(key+".psp", id, "action psp needs the PSP account to retry on")
		case kind == RetryNamedPSP && !b.r.known[rc.PSP]:
			b.ck.errorf(key+".psp", id, "unknown PSP %q (known: %s)", rc.PSP, knownList(b.known))
		case kind == RetryNamedPSP && b.r.excluded[rc.PSP]:
			b.ck.errorf(key+".psp", id, "PSP %q is excluded from failover: no retry may be sent to it", rc.PSP)
		case kind != RetryNamedPSP && (rc.PSP != "" || rc.Method != ""):
			b.ck.errorf(key+".psp", id, "psp and method apply only to action psp, not %s", kind)
		}
		if rc.Delay < 0 {
			b.ck.errorf(key+".delay", id, "must not be negative, got %s", rc.Delay)
		}
		if kind == RetryStop && rc.Delay != 0 {
			b.ck.errorf(key+".delay", id, "a stop has nothing to delay")
		}
		if b.ck.hasErrors(mark) || !b.contradictions(key, id, rr.conds) {
			continue
		}
		for _, earlier := range b.r.retryRules {
			if shadows(earlier.conds, rr.conds) {
				b.ck.errorf(key, id, "unreachable: every failure it matches is matched first by %s (%s%s)",
					strings.TrimPrefix(earlier.key, ConfigKey+"."), earlier.id, b.atLine(earlier.key))
				break
			}
		}
		b.r.retryRules = append(b.r.retryRules, rr)
	}
}
