package router

import (
	"math"
	"strings"

	"github.com/payroute/payroute/schemas"
)

// This file decides, without evaluating any payment, whether the conditions
// of a rule can hold together (contradictions) and whether every payment a
// rule matches is matched by an earlier one (shadowing). Both work field by
// field: conditions on different fields are independent, because every
// field can take its values regardless of the others.
//
// The reasoning is sound but not complete: "false" from satisfiable and
// "true" from implies are proofs, the other answers mean "could not prove
// it", so Check never reports a problem that is not there.

// byField groups conditions by the field they test, in first-appearance
// order.
func byField(conds []*cond) [][]*cond {
	var groups [][]*cond
	for _, c := range conds {
		found := false
		for i, g := range groups {
			if g[0].sameField(c) {
				groups[i] = append(g, c)
				found = true
				break
			}
		}
		if !found {
			groups = append(groups, []*cond{c})
		}
	}
	return groups
}

// onField returns the conditions of conds that test c's field.
func onField(conds []*cond, c *cond) []*cond {
	var out []*cond
	for _, d := range conds {
		if d.sameField(c) {
			out = append(out, d)
		}
	}
	return out
}

// shadows reports whether every input that satisfies later also satisfies
// earlier, i.e. a rule with conditions earlier, placed first, leaves none
// for later.
func shadows(earlier, later []*cond) bool {
	for _, c := range earlier {
		if !implies(onField(later, c), c) {
			return false
		}
	}
	return true
}

// value is one possible value of a field.
type value struct {
	s       string
	present bool
	n       int64
	b       bool
}

func (c *cond) test(v value) bool {
	switch c.f.kind {
	case kindInt:
		return c.testInt(v.n)
	case kindBool:
		return c.testBool(v.b)
	}
	return c.testStr(v.s, v.present)
}

func allHold(cs []*cond, v value) bool {
	for _, c := range cs {
		if !c.test(v) {
			return false
		}
	}
	return true
}

// enumerable bounds how many integers an integer range may hold to be
// reasoned about value by value.
const enumerable = 4096

// intBounds is the range an integer field can take at all.
func intBounds(f *fieldInfo) (lo, hi int64) {
	switch f.id {
	case fAmount:
		return 1, schemas.MaxAmountMinor
	case fAttempt:
		return 2, math.MaxInt64
	case fRank:
		return 1, math.MaxInt64
	}
	return math.MinInt64, math.MaxInt64
}

// intRange intersects the field's bounds with the range conditions in cs.
func intRange(f *fieldInfo, cs []*cond) (lo, hi int64) {
	lo, hi = intBounds(f)
	for _, c := range cs {
		if c.op.numeric() {
			lo, hi = max(lo, c.ilo), min(hi, c.ihi)
		}
	}
	return lo, hi
}

// floatRange intersects the numeric conditions on a metadata field; ok is
// false when there are none.
type bound struct {
	lo, hi       float64
	loInc, hiInc bool
}

func floatRange(cs []*cond) (bound, bool) {
	r := bound{lo: math.Inf(-1), hi: math.Inf(1), loInc: true, hiInc: true}
	any := false
	for _, c := range cs {
		if !c.op.numeric() {
			continue
		}
		any = true
		if c.flo > r.lo || (c.flo == r.lo && !c.loInc) {
			r.lo, r.loInc = c.flo, c.loInc
		}
		if c.fhi < r.hi || (c.fhi == r.hi && !c.hiInc) {
			r.hi, r.hiInc = c.fhi, c.hiInc
		}
	}
	return r, any
}

func (r bound) empty() bool {
	return r.lo > r.hi || (r.lo == r.hi && !(r.loInc && r.hiInc))
}

// within reports whether r lies inside c's range.
func (r bound) within(c *cond) bool {
	loOK := r.lo > c.flo || (r.lo == c.flo && (c.loInc || !r.loInc))
	hiOK := r.hi < c.fhi || (r.hi == c.fhi && (c.hiInc || !r.hiInc))
	return loOK && hiOK
}

// finite returns every value the field of cs could take that is worth
// testing, when that is a finite set: the field's bounded domain
// (booleans, enumerations), the operands of an equals or one_of (a value
// outside them fails that condition), or a small integer range. ok is false
// when the candidates are unbounded.
func finite(f *fieldInfo, cs []*cond) (vals []value, ok bool) {
	switch {
	case f.kind == kindBool:
		return []value{{b: false}, {b: true}}, true
	case f.domain != nil:
		for _, s := range f.domain {
			vals = append(vals, value{s: s, present: true})
		}
		return vals, true
	}
	for _, c := range cs {
		if c.op != opEquals && c.op != opOneOf {
			continue
		}
		if f.kind == kindInt {
			for _, n := range c.ints {
				vals = append(vals, value{n: n})
			}
		} else {
			for _, s := range c.strs {
				vals = append(vals, value{s: s, present: true})
			}
		}
		return vals, true
	}
	if f.kind == kindInt {
		lo, hi := intRange(f, cs)
		if lo > hi {
			return nil, true
		}
		if uint64(hi-lo) < enumerable {
			for n := lo; ; n++ {
				vals = append(vals, value{n: n})
				if n == hi {
					break
				}
			}
			return vals, true
		}
	}
	return nil, false
}

// satisfiable reports whether some value satisfies every condition in cs,
// which all test the same field; false is a proof.
func satisfiable(cs []*cond) bool {
	f := cs[0].f
	if vals, ok := finite(f, cs); ok {
		for _, v := range vals {
			if allHold(cs, v) {
				return true
			}
		}
		return false
	}
	if f.kind == kindInt {
		lo, hi := intRange(f, cs)
		return lo <= hi // wider than enumerable: a few exclusions cannot empty it
	}
	if r, ok := floatRange(cs); ok && r.empty() {
		return false
	}
	// Text: prefixes and suffixes must be compatible, and a required
	// substring must not be forbidden.
	for i, a := range cs {
		for _, b := range cs[i+1:] {
			if a.op == opStartsWith && b.op == opStartsWith && !compatible(a.strs, b.strs, strings.HasPrefix) {
				return false
			}
			if a.op == opEndsWith && b.op == opEndsWith && !compatible(a.strs, b.strs, strings.HasSuffix) {
				return false
			}
		}
	}
	for _, a := range cs {
		if a.op != opContains && a.op != opStartsWith && a.op != opEndsWith {
			continue
		}
		for _, b := range cs {
			if b.op == opNotContains && everyExcluded(a.strs, b.strs) {
				return false
			}
		}
	}
	return true
}

// compatible reports whether some alternative of a and some of b can both
// hold, which for prefixes (suffixes) means one extends the other.
func compatible(a, b []string, extends func(s, affix string) bool) bool {
	for _, x := range a {
		for _, y := range b {
			if extends(x, y) || extends(y, x) {
				return true
			}
		}
	}
	return false
}

// everyExcluded reports whether every required alternative contains a
// forbidden substring.
func everyExcluded(required, forbidden []string) bool {
	for _, r := range required {
		hit := false
		for _, f := range forbidden {
			if strings.Contains(r, f) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// every reports whether each element of a relates to some element of b.
func every(a, b []string, rel func(x, y string) bool) bool {
	for _, x := range a {
		ok := false
		for _, y := range b {
			if rel(x, y) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// implies reports whether every value satisfying all of cs (conditions on
// c's field) satisfies c; true is a proof.
//
// With no conditions in cs, c is implied only when it holds for every value
// the field can take at all (recurring one_of [true, false], amount_minor
// gt 0).
func implies(cs []*cond, c *cond) bool {
	for _, d := range cs {
		if d.op == c.op && sameOperands(d, c) {
			return true
		}
	}
	if vals, ok := finite(c.f, cs); ok {
		for _, v := range vals {
			if allHold(cs, v) && !c.test(v) {
				return false
			}
		}
		return true
	}
	f := c.f
	if f.kind == kindInt {
		lo, hi := intRange(f, cs)
		switch {
		case c.op.numeric():
			return lo >= c.ilo && hi <= c.ihi
		case c.op == opNotEquals || c.op == opNotOneOf:
			for _, n := range c.ints {
				if n >= lo && n <= hi {
					return false
				}
			}
			return true
		}
		return false
	}
	if len(cs) == 0 {
		return false
	}
	switch c.op {
	case opLT, opLTE, opGT, opGTE, opBetween:
		r, ok := floatRange(cs)
		return ok && r.within(c)
	case opNotEquals, opNotOneOf:
		// Each excluded value is already impossible under cs.
		for _, s := range c.strs {
			if allHold(cs, value{s: s, present: true}) {
				return false
			}
		}
		return true
	case opStartsWith:
		return anyCond(cs, func(d *cond) bool {
			return d.op == opStartsWith && every(d.strs, c.strs, strings.HasPrefix)
		})
	case opEndsWith:
		return anyCond(cs, func(d *cond) bool {
			return d.op == opEndsWith && every(d.strs, c.strs, strings.HasSuffix)
		})
	case opContains:
		return anyCond(cs, func(d *cond) bool {
			return (d.op == opContains || d.op == opStartsWith || d.op == opEndsWith) && every(d.strs, c.strs, strings.Contains)
		})
	case opNotContains:
		// A value free of every d operand is free of each c operand that
		// contains one of them.
		return anyCond(cs, func(d *cond) bool {
			return d.op == opNotContains && every(c.strs, d.strs, strings.Contains)
		})
	}
	return false
}

func anyCond(cs []*cond, pred func(*cond) bool) bool {
	for _, d := range cs {
		if pred(d) {
			return true
		}
	}
	return false
}

// sameOperands reports whether c and d have the same operands, in any order.
func sameOperands(c, d *cond) bool {
	if len(c.strs) != len(d.strs) {
		return false
	}
	if c.op == opBetween {
		return c.strs[0] == d.strs[0] && c.strs[1] == d.strs[1]
	}
	return every(c.strs, d.strs, func(x, y string) bool { return x == y }) &&
		every(d.strs, c.strs, func(x, y string) bool { return x == y })
}
