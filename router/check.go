package router

import (
	"errors"
	"fmt"
	"strings"

	"github.com/payroute/payroute/config"
)

// Severity says whether a Problem stops a configuration from being used.
type Severity uint8

const (
	// SeverityError: the configuration is refused (New fails, the
	// processor does not start, a reload keeps the old version).
	SeverityError Severity = iota
	// SeverityWarning: the configuration works, but something in it has no
	// effect (an account excluded from failover ranked after first place, a
	// default route no payment can reach).
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Problem is one thing wrong with a routing configuration, located at a key
// of the configuration file and, when the configuration has a Source, at
// its line.
type Problem struct {
	Severity Severity
	// Key is the full key path: "router.rules[2].when[1]".
	Key string
	// Rule is the ID of the rule (or retry rule) the problem is about, when
	// it has one.
	Rule string
	// File and Line locate Key; empty and 0 without a Source.
	File string
	Line int
	// Msg says what is wrong.
	Msg string
}

// Error renders the problem as `rules check` prints it and New reports it:
//
//	payroute.yaml:21: router.rules[2] (dach-eur-braintree): unreachable: ...
//	warning: payroute.yaml:9: router.routes.cards[1]: ...
//
// The location is omitted when unknown, the rule when there is none.
func (p Problem) Error() string {
	var b strings.Builder
	if p.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if p.File != "" && p.Line > 0 {
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	} else if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	b.WriteString(p.Key)
	if p.Rule != "" {
		fmt.Fprintf(&b, " (%s)", p.Rule)
	}
	if p.Key != "" {
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Unwrap exposes the problem as a config.FieldError, so callers that read
// configuration errors by key keep working.
func (p Problem) Unwrap() error { return config.FieldError{Key: p.Key, Msg: p.Msg} }

// Problems is the result of Check, in configuration order.
type Problems []Problem

// Errors returns the problems of SeverityError.
func (ps Problems) Errors() Problems { return ps.filter(SeverityError) }

// Warnings returns the problems of SeverityWarning.
func (ps Problems) Warnings() Problems { return ps.filter(SeverityWarning) }

func (ps Problems) filter(s Severity) Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// Err joins the errors (not the warnings) into one error, one per line, or
// returns nil when there are none. Each joined error is a Problem.
func (ps Problems) Err() error {
	var errs []error
	for _, p := range ps.Errors() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// Check checks cfg against the PSP accounts knownPSPs (and the exclusions
// in opts) without building a router, and returns every problem, errors and
// warnings, in configuration order. New refuses exactly the configurations
// for which Check reports an error, with the same messages.
//
// Beyond Configuration.Validate it reports: PSPs, routes and gateway sets
// that do not exist; rule IDs that are missing, malformed or repeated;
// unknown fields and operators, operands of the wrong type or arity,
// currencies and countries that are not ISO codes; targets that name none
// or several of route, candidates, gateway_set and split; split
// percentages that are not positive or do not sum to 100; contradictory
// conditions (currency equals EUR and currency equals USD); rules that can
// never match because an earlier rule matches every payment they match
// (seed 003's EUR example), including retry rules; named retry PSPs that
// are excluded from failover. It warns about accounts excluded from
// failover that a list ranks after first place (they are dropped there) and
// a default route that no payment reaches.
//
// Unreachability is decided rule against rule: a rule shadowed only by the
// union of several earlier rules (EUR by one rule, GBP by another) is not
// reported. Contradictions and shadowing are decided per field by exact
// reasoning over finite value sets (equals, one_of, enumerations, small
// integer ranges), intervals for numbers, and prefixes, suffixes and
// substrings for text; what these cannot prove is not reported, so every
// report is certain.
func Check(cfg Configuration, knownPSPs []string, opts ...Option) Problems {
	_, ps := build(cfg, knownPSPs, opts)
	return ps
}

// checker collects problems and locates them.
type checker struct {
	src   *Source
	probs Problems
}

func (ck *checker) add(sev Severity, key, rule, format string, args ...any) {
	ck.probs = append(ck.probs, Problem{
		Severity: sev, Key: key, Rule: rule,
		File: ck.src.File(), Line: ck.src.Line(key),
		Msg: fmt.Sprintf(format, args...),
	})
}

func (ck *checker) errorf(key, rule, format string, args ...any) {
	ck.add(SeverityError, key, rule, format, args...)
}

func (ck *checker) warnf(key, rule, format string, args ...any) {
	ck.add(SeverityWarning, key, rule, format, args...)
}

// fieldErrors adds errs (config.FieldErrors keyed relative to prefix, or
// plain errors about prefix itself) as errors.
func (ck *checker) fieldErrors(prefix, rule string, errs ...error) {
	for _, e := range errs {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			ck.fieldErrors(prefix, rule, j.Unwrap()...)
			continue
		}
		var fe config.FieldError
		if errors.As(e, &fe) {
			ck.errorf(config.JoinKey(prefix, fe.Key), rule, "%s", fe.Msg)
		} else {
			ck.errorf(prefix, rule, "%s", e.Error())
		}
	}
}

// hasErrors reports whether an error has been added since mark (a
// len(ck.probs) taken earlier).
func (ck *checker) hasErrors(mark int) bool {
	for _, p := range ck.probs[mark:] {
		if p.Severity == SeverityError {
			return true
		}
	}
	return false
}
