package router

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/payroute/payroute/config"
)

// opID is a compiled operator.
type opID uint8

const (
	opEquals opID = iota
	opNotEquals
	opOneOf
	opNotOneOf
	opContains
	opNotContains
	opStartsWith
	opEndsWith
	opLT
	opLTE
	opGT
	opGTE
	opBetween
)

// opNames are the canonical operator names, by opID.
var opNames = [...]string{
	opEquals: "equals", opNotEquals: "not_equals", opOneOf: "one_of", opNotOneOf: "not_one_of",
	opContains: "contains", opNotContains: "not_contains", opStartsWith: "starts_with", opEndsWith: "ends_with",
	opLT: "lt", opLTE: "lte", opGT: "gt", opGTE: "gte", opBetween: "between",
}

// opAliases are the symbols accepted in place of the names.
var opAliases = map[string]opID{"=": opEquals, "==": opEquals, "!=": opNotEquals, "<": opLT, "<=": opLTE, ">": opGT, ">=": opGTE}

func (o opID) String() string { return opNames[o] }

func lookupOp(s string) (opID, bool) {
	for i, n := range opNames {
		if n == s {
			return opID(i), true
		}
	}
	o, ok := opAliases[s]
	return o, ok
}

func (o opID) numeric() bool { return o >= opLT }
func (o opID) pattern() bool { return o >= opContains && o <= opEndsWith }
func (o opID) set() bool     { return o == opOneOf || o == opNotOneOf }

// negative operators hold for a value that is absent.
func (o opID) negative() bool { return o == opNotEquals || o == opNotOneOf || o == opNotContains }

// smallSet is the size up to which set membership scans a slice: for a
// handful of short strings that beats hashing.
const smallSet = 8

// cond is a compiled condition. Operands are normalized at compile time
// (folded strings, parsed numbers, sets), so evaluation compares without
// allocating.
type cond struct {
	f     *fieldInfo
	meta  string // metadata key, for metadata fields
	op    opID
	strs  []string            // folded string operands; the text of numeric ones
	set   map[string]struct{} // one_of/not_one_of with more than smallSet strings
	ints  []int64             // integer operands of equals/not_equals/one_of/not_one_of on integer fields
	ilo   int64               // integer range of lt..between on integer fields, inclusive
	ihi   int64
	flo   float64 // numeric range of lt..between on metadata
	fhi   float64
	loInc bool  // flo is included
	hiInc bool  // fhi is included
	b     bool  // operand of a boolean field
	index int   // position in the rule's when
	memo  int32 // slot in a decision's memo when rules share the condition, else -1
}

// fieldName is the field as written ("metadata.channel", "currency").
func (c *cond) fieldName() string {
	if c.f.id == fMetadata {
		return metadataPrefix + c.meta
	}
	return c.f.name
}

// sameField reports whether c and d test the same field.
func (c *cond) sameField(d *cond) bool { return c.f == d.f && c.meta == d.meta }

// compileCond checks and compiles one condition. retry allows the retry
// fields. Problems are config.FieldErrors keyed relative to the condition
// ("op", "values[1]").
func compileCond(src Condition, index int, retry bool) (*cond, []error) {
	f, meta, err := lookupField(strings.TrimSpace(src.Field), retry)
	if err != nil {
		return nil, []error{config.Errorf("field", "%v", err)}
	}
	op, ok := lookupOp(strings.TrimSpace(src.Op))
	if !ok {
		return nil, []error{config.Errorf("op", "unknown operator %q (known: %s, or =, !=, <, <=, >, >=)", src.Op, strings.Join(opNames[:], ", "))}
	}
	c := &cond{f: f, meta: meta, op: op, index: index, memo: -1}
	name := c.fieldName()

	// Which operators apply to which fields.
	switch {
	case f.kind == kindBool && op != opEquals && op != opNotEquals:
		return nil, []error{config.Errorf("op", "%s is true or false: use equals or not_equals, not %s", name, op)}
	case f.kind == kindInt && op.pattern():
		return nil, []error{config.Errorf("op", "%s is a number: %s applies to text", name, op)}
	case f.domain != nil && !(op == opEquals || op == opNotEquals || op.set()):
		return nil, []error{config.Errorf("op", "%s takes one of %s: use equals, not_equals, one_of or not_one_of, not %s", name, strings.Join(f.domain, ", "), op)}
	case f.kind == kindString && op.numeric() && f.id != fMetadata:
		hint := ""
		if f.id == fBIN {
			hint = " (use starts_with for BIN prefixes)"
		}
		return nil, []error{config.Errorf("op", "%s is text: %s compares numbers%s", name, op, hint)}
	}

	// Operand arity.
	var ops []string
	switch {
	case op == opBetween:
		if src.Value != "" || len(src.Values) != 2 {
			return nil, []error{config.Errorf("values", "between needs values: [low, high]")}
		}
		ops = src.Values
	case op.set():
		if src.Value != "" || len(src.Values) == 0 {
			return nil, []error{config.Errorf("values", "%s needs a non-empty list in values (not value)", op)}
		}
		ops = src.Values
	case op.pattern():
		switch {
		case src.Value != "" && len(src.Values) > 0:
			return nil, []error{config.Errorf("value", "set value or values, not both")}
		case src.Value != "":
			ops = []string{src.Value}
		case len(src.Values) > 0:
			ops = src.Values
		default:
			return nil, []error{config.Errorf("value", "%s needs a value (or values: any of them)", op)}
		}
	default:
		if len(src.Values) > 0 || src.Value == "" {
			hint := ""
			if op == opEquals || op == opNotEquals {
				hint = "; to test for an empty value use one_of with values: [\"\"]"
			}
			return nil, []error{config.Errorf("value", "%s needs exactly one value (not values)%s", op, hint)}
		}
		ops = []string{src.Value}
	}
	opKey := func(i int) string {
		if len(src.Values) > 0 {
			return fmt.Sprintf("values[%d]", i)
		}
		return "value"
	}

	var errs []error
	switch f.kind {
	case kindBool:
		b, err := strconv.ParseBool(ops[0])
		if err != nil {
			return nil, []error{config.Errorf("value", "%s is true or false, got %q", name, ops[0])}
		}
		c.b = b
		c.strs = []string{strconv.FormatBool(b)}
		return c, nil
	case kindInt:
		nums := make([]int64, len(ops))
		for i, s := range ops {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				errs = append(errs, config.Errorf(opKey(i), "%s is an integer (minor units for amounts), got %q", name, s))
				continue
			}
			nums[i] = n
		}
		if errs != nil {
			return nil, errs
		}
		c.strs = make([]string, len(nums))
		for i, n := range nums {
			c.strs[i] = strconv.FormatInt(n, 10)
		}
		if !op.numeric() {
			c.ints = nums
			return c, nil
		}
		c.ilo, c.ihi = math.MinInt64, math.MaxInt64
		switch op {
		case opLT:
			if nums[0] == math.MinInt64 {
				c.ilo, c.ihi = 1, 0 // empty
			} else {
				c.ihi = nums[0] - 1
			}
		case opLTE:
			c.ihi = nums[0]
		case opGT:
			if nums[0] == math.MaxInt64 {
				c.ilo, c.ihi = 1, 0
			} else {
				c.ilo = nums[0] + 1
			}
		case opGTE:
			c.ilo = nums[0]
		case opBetween:
			if nums[0] > nums[1] {
				return nil, []error{config.Errorf("values", "between needs low <= high, got %d > %d", nums[0], nums[1])}
			}
			c.ilo, c.ihi = nums[0], nums[1]
		}
		return c, nil
	}

	// Strings.
	if op.numeric() {
		nums := make([]float64, len(ops))
		for i, s := range ops {
			x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				errs = append(errs, config.Errorf(opKey(i), "%s compares numbers, got %q", op, s))
				continue
			}
			nums[i] = x
		}
		if errs != nil {
			return nil, errs
		}
		c.strs = ops
		c.flo, c.fhi = math.Inf(-1), math.Inf(1)
		switch op {
		case opLT:
			c.fhi = nums[0]
		case opLTE:
			c.fhi, c.hiInc = nums[0], true
		case opGT:
			c.flo = nums[0]
		case opGTE:
			c.flo, c.loInc = nums[0], true
		case opBetween:
			if nums[0] > nums[1] {
				return nil, []error{config.Errorf("values", "between needs low <= high, got %s > %s", ops[0], ops[1])}
			}
			c.flo, c.fhi, c.loInc, c.hiInc = nums[0], nums[1], true, true
		}
		return c, nil
	}
	c.strs = make([]string, len(ops))
	for i, s := range ops {
		v := f.normalize(s)
		c.strs[i] = v
		switch {
		case op.pattern() && v == "":
			errs = append(errs, config.Errorf(opKey(i), "an empty %s operand matches every value", op))
		case f.domain != nil && !contains(f.domain, v):
			errs = append(errs, config.Errorf(opKey(i), "%s", domainError(f, v)))
		case f.check != nil && (f.id == fBIN || !op.pattern()) && !(op.set() && v == ""):
			if err := f.check(v); err != nil {
				errs = append(errs, config.Errorf(opKey(i), "%s: %v", name, err))
			}
		}
	}
	if errs != nil {
		return nil, errs
	}
	if op.set() && len(c.strs) > smallSet {
		c.set = make(map[string]struct{}, len(c.strs))
		for _, s := range c.strs {
			c.set[s] = struct{}{}
		}
	}
	return c, nil
}

func domainError(f *fieldInfo, v string) string {
	switch f.id {
	case fOperation:
		return fmt.Sprintf("operation %q is never routed by rules: rules route %s; CAPTURE, VOID and REFUND are pinned to the authorizing PSP", v, strings.Join(f.domain, " and "))
	case fClass:
		return fmt.Sprintf("class %q is never retried: retry rules are consulted only for %s", v, strings.Join(f.domain, ", "))
	}
	return fmt.Sprintf("%s takes one of %s, got %q", f.name, strings.Join(f.domain, ", "), v)
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// eval tests the condition against in. It does not allocate for events in
// canonical form (see fieldInfo.normalize).
func (c *cond) eval(in *input) bool {
	if id := c.f.id; id < fMetadata && c.f.kind == kindString {
		return c.testStr(in.vals[id], true)
	}
	switch c.f.kind {
	case kindInt:
		return c.testInt(in.integer(c.f))
	case kindBool:
		return c.testBool(in.boolean(c.f))
	}
	v, present := in.str(c.f, c.meta)
	return c.testStr(v, present)
}

func (c *cond) testBool(b bool) bool {
	if c.op == opNotEquals {
		return b != c.b
	}
	return b == c.b
}

func (c *cond) testInt(n int64) bool {
	switch c.op {
	case opEquals:
		return n == c.ints[0]
	case opNotEquals:
		return n != c.ints[0]
	case opOneOf, opNotOneOf:
		in := false
		for _, x := range c.ints {
			if x == n {
				in = true
				break
			}
		}
		return in == (c.op == opOneOf)
	}
	return n >= c.ilo && n <= c.ihi
}

// testStr tests a string value; present is false for an absent metadata
// key, which only the negative operators accept.
func (c *cond) testStr(v string, present bool) bool {
	if !present {
		return c.op.negative()
	}
	switch c.op {
	case opEquals:
		return v == c.strs[0]
	case opNotEquals:
		return v != c.strs[0]
	case opOneOf:
		return c.member(v)
	case opNotOneOf:
		return !c.member(v)
	case opContains:
		return c.contains(v)
	case opNotContains:
		return !c.contains(v)
	case opStartsWith:
		for _, o := range c.strs {
			if len(v) >= len(o) && v[:len(o)] == o {
				return true
			}
		}
		return false
	case opEndsWith:
		for _, o := range c.strs {
			if len(v) >= len(o) && v[len(v)-len(o):] == o {
				return true
			}
		}
		return false
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(x) {
		return false
	}
	return c.inRange(x)
}

func (c *cond) inRange(x float64) bool {
	if x < c.flo || (x == c.flo && !c.loInc) {
		return false
	}
	if x > c.fhi || (x == c.fhi && !c.hiInc) {
		return false
	}
	return true
}

func (c *cond) member(v string) bool {
	if c.set != nil {
		_, ok := c.set[v]
		return ok
	}
	for _, s := range c.strs {
		if s == v {
			return true
		}
	}
	return false
}

func (c *cond) contains(v string) bool {
	for _, o := range c.strs {
		if strings.Contains(v, o) {
			return true
		}
	}
	return false
}

// describe renders the condition for explanations: "currency one_of [EUR GBP]".
func (c *cond) describe() string {
	switch {
	case c.op == opBetween:
		return fmt.Sprintf("%s between %s and %s", c.fieldName(), c.strs[0], c.strs[1])
	case c.op.set() || len(c.strs) > 1:
		return fmt.Sprintf("%s %s %s", c.fieldName(), c.op, quoteList(c.strs))
	}
	return fmt.Sprintf("%s %s %q", c.fieldName(), c.op, c.strs[0])
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
