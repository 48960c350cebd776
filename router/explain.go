package router

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/payroute/payroute/schemas"
)

// What decided a payment (Explanation.Source).
const (
	SourceOverride = "override"  // the event's provider override
	SourceInline   = "inline"    // candidates in the event
	SourceRouteRef = "route_ref" // a stored route the event named
	SourceRules    = "rules"     // a configured routing rule
	SourceRuleSet  = "rule_set"  // the RuleSet installed with WithRules
	SourceDefault  = "default"   // the default route (or, without one, nothing)
	SourceFollowUp = "follow_up" // a CAPTURE, VOID or REFUND: not routed
)

// Explanation says how a router decides one payment: which rule matched,
// why each earlier rule did not, and the ranked candidates. It is computed
// by the same code as Route, so it cannot disagree with it.
type Explanation struct {
	ConfigVersion string `json:"config_version"`
	// Config is the file the configuration came from, when known.
	Config    string `json:"config,omitempty"`
	PaymentID string `json:"payment_id"`
	// Source is what decided (the Source constants); empty when the
	// request was refused before any source applied.
	Source string `json:"source,omitempty"`
	// Rules are the configured rules evaluated, in order, up to and
	// including the one that matched. Empty when the event routed itself
	// (override, inline, route_ref) or there are no rules.
	Rules []RuleResult `json:"rules,omitempty"`
	// Split is the split branch taken, when the matching rule splits.
	Split *SplitResult `json:"split,omitempty"`
	// GatewaySet is the gateway set entry used, when the target is one.
	GatewaySet *GatewayResult `json:"gateway_set,omitempty"`
	// List describes the ranked list used ("route cards-eu").
	List string `json:"list,omitempty"`
	// ExcludedFromFailover are the accounts dropped from the list because
	// they are excluded from failover and were ranked after first place.
	ExcludedFromFailover []string `json:"excluded_from_failover,omitempty"`
	// Decision is what Route returns; nil when the payment is rejected.
	Decision *schemas.Decision `json:"decision,omitempty"`
	// Rejected is why the payment is rejected; nil when it is routed.
	Rejected *Rejection `json:"rejected,omitempty"`
}

// RuleResult is the outcome of one routing rule.
type RuleResult struct {
	Rule  string `json:"rule"`
	Index int    `json:"index"` // position in router.rules, from 0
	Line  int    `json:"line,omitempty"`
	// Matched is true for the rule that decided.
	Matched bool `json:"matched"`
	// Failed is the first condition that did not hold.
	Failed *ConditionResult `json:"failed,omitempty"`
	// Note explains a rule whose conditions held but that did not decide
	// (a gateway set without an entry for the payment).
	Note string `json:"note,omitempty"`
}

// ConditionResult is a condition that did not hold, with the value it saw.
type ConditionResult struct {
	Index     int    `json:"index"`     // position in the rule's when
	Condition string `json:"condition"` // `currency one_of ["EUR", "GBP"]`
	Field     string `json:"field"`
	Op        string `json:"op"`
	// Expected are the operands, normalized as compared.
	Expected []string `json:"expected"`
	// Actual is the payment's value, normalized as compared; Present is
	// false for a metadata key the payment does not carry.
	Actual  string `json:"actual"`
	Present bool   `json:"present"`
}

// SplitResult is the branch a split sent the payment to.
type SplitResult struct {
	// Bucket is the payment's position in [0, 100) under this rule.
	Bucket float64 `json:"bucket"`
	// Branch is the decision's RuleID ("<rule>/<branch>").
	Branch  string  `json:"branch"`
	Percent float64 `json:"percent"`
}

// GatewayResult is the gateway set entry a payment used.
type GatewayResult struct {
	Name     string `json:"name"`
	Network  string `json:"network"`  // the entry's network, "*" for any
	Currency string `json:"currency"` // the entry's currency, "*" for any
}

// Rejection is why a payment cannot be routed: a RouteError.
type Rejection struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// Explain routes req as Route does and records why. It never fails: a
// payment Route would reject has Rejected set.
func (r *Router) Explain(req *schemas.PaymentRequested) Explanation {
	ex := &Explanation{ConfigVersion: r.version, Config: r.src.File()}
	if req != nil {
		ex.PaymentID = req.PaymentID
	}
	ruleID, cands, _, err := r.decide(req, ex)
	if err != nil {
		var re *RouteError
		if errors.As(err, &re) {
			ex.Rejected = &Rejection{Reason: re.Reason, Detail: re.Detail}
		} else {
			ex.Rejected = &Rejection{Reason: "error", Detail: err.Error()}
		}
		return *ex
	}
	d := r.decision(ruleID, clone(cands))
	ex.Decision = &d
	return *ex
}

// useList records the list a decision used; ex may be nil.
func (ex *Explanation) useList(l *list) {
	if ex == nil {
		return
	}
	ex.List = l.desc
	ex.ExcludedFromFailover = append(ex.ExcludedFromFailover, l.dropped...)
}

func (r *Router) ruleResult(ru *rule, matched bool, failed *cond, in *input, note string) RuleResult {
	res := RuleResult{Rule: ru.id, Index: ru.index, Line: r.src.Line(ru.key), Matched: matched, Note: note}
	if failed != nil {
		actual, present := in.display(failed.f, failed.meta)
		res.Failed = &ConditionResult{
			Index: failed.index, Condition: failed.describe(),
			Field: failed.fieldName(), Op: failed.op.String(), Expected: failed.strs,
			Actual: actual, Present: present,
		}
	}
	return res
}

// WriteText writes the explanation for people:
//
//	config version payrails-2024-06 (deploy/examples/payrails-rules.yaml)
//	payment pay_1: decided by rules
//	  rule 1 visa-adyen (line 41): no match: payment_method.network is "mastercard", wanted payment_method.network equals "visa"
//	  rule 2 dach-eur-braintree (line 46): match
//	decision: rule dach-eur-braintree
//	  1. braintree (card)
func (ex Explanation) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "config version %s", ex.ConfigVersion)
	if ex.Config != "" {
		fmt.Fprintf(&b, " (%s)", ex.Config)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "payment %s: ", ex.PaymentID)
	switch ex.Source {
	case SourceOverride:
		b.WriteString("the event's provider override decides; rules are not consulted\n")
	case SourceInline:
		b.WriteString("the event's own ranked candidates decide; rules are not consulted\n")
	case SourceRouteRef:
		b.WriteString("the event's route_ref decides; rules are not consulted\n")
	case SourceFollowUp:
		b.WriteString("a follow-up, pinned to the PSP that authorized it; not routed\n")
	case SourceRules:
		b.WriteString("decided by rules\n")
	case SourceRuleSet:
		b.WriteString("no configured rule matched; decided by the installed rule set\n")
	case SourceDefault:
		if len(ex.Rules) > 0 {
			b.WriteString("no rule matched; the default route applies\n")
		} else {
			b.WriteString("no rules; the default route applies\n")
		}
	default:
		b.WriteString("not routed\n")
	}
	for _, rr := range ex.Rules {
		fmt.Fprintf(&b, "  rule %d %s", rr.Index+1, rr.Rule)
		if rr.Line > 0 {
			fmt.Fprintf(&b, " (line %d)", rr.Line)
		}
		switch {
		case rr.Matched:
			b.WriteString(": match\n")
		case rr.Failed != nil:
			actual := strconv.Quote(rr.Failed.Actual)
			if !rr.Failed.Present {
				actual = "absent"
			}
			fmt.Fprintf(&b, ": no match: %s is %s, wanted %s (when[%d])\n", rr.Failed.Field, actual, rr.Failed.Condition, rr.Failed.Index)
		default:
			fmt.Fprintf(&b, ": conditions hold but %s\n", rr.Note)
		}
	}
	if ex.Split != nil {
		fmt.Fprintf(&b, "  split: payment at %.2f of 100 takes branch %s (%v%%)\n", ex.Split.Bucket, ex.Split.Branch, ex.Split.Percent)
	}
	if ex.GatewaySet != nil {
		fmt.Fprintf(&b, "  gateway set %s: entry network %s, currency %s\n", ex.GatewaySet.Name, ex.GatewaySet.Network, ex.GatewaySet.Currency)
	}
	if ex.List != "" {
		fmt.Fprintf(&b, "  ranked list: %s\n", ex.List)
	}
	if len(ex.ExcludedFromFailover) > 0 {
		fmt.Fprintf(&b, "  dropped after rank 1 (excluded from failover): %s\n", strings.Join(ex.ExcludedFromFailover, ", "))
	}
	if ex.Rejected != nil {
		fmt.Fprintf(&b, "rejected: %s: %s\n", ex.Rejected.Reason, ex.Rejected.Detail)
	}
	if d := ex.Decision; d != nil {
		fmt.Fprintf(&b, "decision: rule %s, config version %s\n", d.RuleID, d.ConfigVersion)
		for _, c := range d.Candidates {
			fmt.Fprintf(&b, "  %d. %s", c.Rank, c.PSP)
			if c.Method != "" {
				fmt.Fprintf(&b, " (%s)", c.Method)
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
