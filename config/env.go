package config

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvName returns the environment variable that overrides key path key:
// EnvName("kafka.brokers") is "PAYROUTE_KAFKA_BROKERS".
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// envWalker applies PAYROUTE_ variables to a configuration tree.
type envWalker struct {
	vars     map[string]string // PAYROUTE_ variables, last one wins
	used     map[string]bool
	seen     map[string]string // variable name → key path, to catch ambiguous names
	yamlOnly map[string]string // variable name of a YAML-only key → key path
	errs     []error
}

// applyEnv overrides values in the struct v from environ.
func applyEnv(environ []string, v reflect.Value) error {
	w := &envWalker{
		vars:     map[string]string{},
		used:     map[string]bool{},
		seen:     map[string]string{},
		yamlOnly: map[string]string{},
	}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, EnvPrefix) && name != EnvConfigFile {
			w.vars[name] = val
		}
	}
	w.walk(v.Type(), func() reflect.Value { return v }, "", 0)

	var unused []string
	for name := range w.vars {
		if !w.used[name] {
			unused = append(unused, name)
		}
	}
	sort.Strings(unused)
	for _, name := range unused {
		if key, ok := w.yamlOnlyKey(name); ok {
			w.errs = append(w.errs, fmt.Errorf("%s: %w", name, FieldError{Key: key,
				Msg: "can only be set in the configuration file (maps and lists of structs are YAML-only)"}))
			continue
		}
		w.errs = append(w.errs, fmt.Errorf("%s: names no configuration key", name))
	}
	return joinErrs(w.errs)
}

func (w *envWalker) yamlOnlyKey(name string) (string, bool) {
	for env, key := range w.yamlOnly {
		if name == env || strings.HasPrefix(name, env+"_") {
			return key, true
		}
	}
	return "", false
}

// walk visits type t at key path key. get returns the value to set and is
// only called when a variable applies, so nil pointers along the way are
// allocated only when something below them is actually set.
func (w *envWalker) walk(t reflect.Type, get func() reflect.Value, key string, depth int) {
	if depth > 32 {
		return // a recursive type; nothing sensible lives this deep
	}
	switch {
	case isEnvScalar(t):
		w.leaf(get, key, func(v reflect.Value, s string) error { return setScalar(v, s) })
		return
	case t.Kind() == reflect.Slice && isEnvScalar(t.Elem()):
		w.leaf(get, key, func(v reflect.Value, s string) error { return setList(v, s) })
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		w.walk(t.Elem(), func() reflect.Value {
			p := get()
			if p.IsNil() {
				p.Set(reflect.New(t.Elem()))
			}
			return p.Elem()
		}, key, depth+1)
	case reflect.Struct:
		for _, f := range fieldsOf(t) {
			idx := f.index
			w.walk(t.FieldByIndex(idx).Type, func() reflect.Value { return get().FieldByIndex(idx) },
				JoinKey(key, f.name), depth+1)
		}
	default: // maps, lists of structs, interfaces, ...
		if w.claim(key) {
			w.yamlOnly[EnvName(key)] = key
		}
	}
}

// claim records that key owns its variable name; two keys that map to the
// same name (a.b_c and a_b.c) make the variable ambiguous, which is an error.
func (w *envWalker) claim(key string) bool {
	name := EnvName(key)
	if other, ok := w.seen[name]; ok && other != key {
		w.errs = append(w.errs, fmt.Errorf("%s: ambiguous: names both %s and %s; rename one of the keys", name, other, key))
		return false
	}
	w.seen[name] = key
	return true
}

func (w *envWalker) leaf(get func() reflect.Value, key string, set func(reflect.Value, string) error) {
	if !w.claim(key) {
		return
	}
	name := EnvName(key)
	s, ok := w.vars[name]
	if !ok {
		return
	}
	w.used[name] = true
	if err := set(get(), s); err != nil {
		w.errs = append(w.errs, fmt.Errorf("%s: %w", name, FieldError{Key: key, Msg: err.Error()}))
	}
}

func isEnvScalar(t reflect.Type) bool {
	if t == durationType || implements(t, textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// setScalar parses s into the addressable value v.
func setScalar(v reflect.Value, s string) error {
	t := v.Type()
	if t == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid duration %q (want a number with a unit, such as 250ms, 2s or 1m30s)", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(s)); err != nil {
			return fmt.Errorf("invalid value %q: %v", s, err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q for %s", s, t.Kind())
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return fmt.Errorf("invalid non-negative integer %q for %s", s, t.Kind())
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), t.Bits())
		if err != nil {
			return fmt.Errorf("invalid number %q", s)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("type %s cannot be set from the environment", t)
	}
	return nil
}

// setList parses a comma-separated list; blanks around items are trimmed and
// empty items dropped, so "" sets an empty list.
func setList(v reflect.Value, s string) error {
	var items []string
	for _, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	out := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, it := range items {
		if err := setScalar(out.Index(i), it); err != nil {
			return fmt.Errorf("item %d: %v", i+1, err)
		}
	}
	v.Set(out)
	return nil
}
