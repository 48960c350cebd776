package router

// maxIndexWords bounds the rule index to 64×16 = 1024 rules, so the
// candidate bitset of a decision lives on the stack; longer rule lists are
// evaluated one rule after another.
const maxIndexWords = 16

// ruleIndex rules out, before any rule is evaluated, the rules that an
// equals or one_of condition on a text field excludes: the usual shape of
// routing rules (per merchant, per currency, per network, per country), so
// that a decision on a long rule list evaluates only the rules that may
// match. It only ever removes rules that cannot match, and the remaining
// ones are evaluated in order with all their conditions, so first-match
// semantics are unchanged.
//
// For each indexed field there is a bitset of rules per value named by
// some rule ("EUR" → rules with currency equals or one_of containing EUR,
// plus every rule without such a condition on currency), and one for every
// other value (the rules without such a condition). A decision ANDs one
// bitset per indexed field: one map lookup per field.
type ruleIndex struct {
	words  int
	all    []uint64 // every rule
	fields []fieldIndex
}

type fieldIndex struct {
	f       *fieldInfo
	meta    string
	byValue map[string][]uint64
	other   []uint64 // rules with no equals or one_of on the field
}

// minIndexedRules is how many rules must test a field with equals or
// one_of for an index on it to pay for its map lookup.
const minIndexedRules = 4

// buildIndex indexes rules, or returns nil when there is nothing worth it.
func buildIndex(rules []*rule) *ruleIndex {
	words := (len(rules) + 63) / 64
	if words == 0 || words > maxIndexWords {
		return nil
	}
	type key struct {
		f    *fieldInfo
		meta string
	}
	// The first equals or one_of of each rule on each text field.
	positive := map[key]map[int]*cond{}
	var order []key
	for i, ru := range rules {
		for _, c := range ru.conds {
			if c.f.kind != kindString || (c.op != opEquals && c.op != opOneOf) {
				continue
			}
			k := key{c.f, c.meta}
			if positive[k] == nil {
				positive[k] = map[int]*cond{}
				order = append(order, k)
			}
			if _, seen := positive[k][i]; !seen {
				positive[k][i] = c
			}
		}
	}
	idx := &ruleIndex{words: words, all: make([]uint64, words)}
	for i := range rules {
		idx.all[i/64] |= 1 << (i % 64)
	}
	for _, k := range order {
		byRule := positive[k]
		if len(byRule) < minIndexedRules {
			continue
		}
		fi := fieldIndex{f: k.f, meta: k.meta, byValue: map[string][]uint64{}, other: make([]uint64, words)}
		for i := range rules {
			if _, ok := byRule[i]; !ok {
				fi.other[i/64] |= 1 << (i % 64)
			}
		}
		for i, c := range byRule {
			for _, v := range c.strs {
				set, ok := fi.byValue[v]
				if !ok {
					set = append([]uint64(nil), fi.other...)
					fi.byValue[v] = set
				}
				set[i/64] |= 1 << (i % 64)
			}
		}
		idx.fields = append(idx.fields, fi)
	}
	if len(idx.fields) == 0 {
		return nil
	}
	return idx
}

// candidates fills dst (idx.words long) with the rules that may match in.
func (idx *ruleIndex) candidates(in *input, dst []uint64) []uint64 {
	copy(dst, idx.all)
	for i := range idx.fields {
		fi := &idx.fields[i]
		set := fi.other
		if v, present := in.str(fi.f, fi.meta); present {
			if s, ok := fi.byValue[v]; ok {
				set = s
			}
		}
		for w := range dst {
			dst[w] &= set[w]
		}
	}
	return dst
}
