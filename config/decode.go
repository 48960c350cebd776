package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decodeYAML decodes data strictly into the (already defaulted) struct v.
//
// yaml.v3 is used to parse but not to assign: walking the node tree against
// the Go types ourselves gives unknown-key errors with the full key path (the
// library's KnownFields only names the Go type), lets every error be
// reported instead of the first, and decodes time.Duration from "250ms".
func decodeYAML(name string, data []byte, v reflect.Value) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if num, text, ok := strings.Cut(rest, ": "); ok {
				return fmt.Errorf("%s:%s: %s", name, num, text)
			}
		}
		return fmt.Errorf("%s: %s", name, msg)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: the file must hold exactly one YAML document", name)
	}
	d := &decoder{name: name}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	d.decode(root, v, "")
	return joinErrs(d.errs)
}

type decoder struct {
	name string
	errs []error
}

// fail records an error as "name:line: key: msg".
func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("%s:%d: %w", d.name, n.Line, FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}))
}

// isNull reports whether n is an empty value ("key:", "key: ~", "key: null").
func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// decode assigns node n to the addressable value v at key path key.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if isNull(n) {
		return // an empty value keeps the default
	}
	t := v.Type()
	switch {
	case t == durationType:
		d.duration(n, v, key)
		return
	case implements(t, yamlUnmarshalerType):
		d.leaf(n, v, key)
		return
	case n.Kind == yaml.ScalarNode && implements(t, textUnmarshalerType):
		d.leaf(n, v, key)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, v.Elem(), key)
	case reflect.Struct:
		d.structure(n, v, key)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if t.Elem().Kind() == reflect.Uint8 && n.Kind == yaml.ScalarNode {
				d.leaf(n, v, key) // []byte from a (base64) string
				return
			}
			d.fail(n, key, "want a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", key, i))
		}
		v.Set(s)
	case reflect.Map:
		d.mapping(n, v, key)
	default:
		d.leaf(n, v, key)
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, key, "want a mapping, got %s", kindName(n))
		return
	}
	byName := map[string][]int{}
	for _, f := range fieldsOf(v.Type()) {
		byName[f.name] = f.index
	}
	for _, p := range d.pairs(n, key) {
		k := p[0]
		fkey := JoinKey(key, k.Value)
		idx, ok := byName[k.Value]
		if !ok || k.Kind != yaml.ScalarNode {
			d.fail(k, fkey, "unknown key")
			continue
		}
		d.decode(p[1], v.FieldByIndex(idx), fkey)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, key, "want a mapping, got %s", kindName(n))
		return
	}
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(n.Content)/2))
	}
	for _, p := range d.pairs(n, key) {
		k, val := p[0], p[1]
		ekey := JoinKey(key, k.Value)
		kv := reflect.New(t.Key()).Elem()
		if err := k.Decode(kv.Addr().Interface()); err != nil {
			d.fail(k, ekey, "invalid map key %q for %s", k.Value, typeName(t.Key()))
			continue
		}
		if val.Kind == yaml.AliasNode && val.Alias != nil {
			val = val.Alias
		}
		if isNull(val) {
			// An entry written empty removes the default entry of that key:
			// the one way to drop, say, a default PSP account that the
			// merge would otherwise keep. There must be one: an empty entry
			// under a misspelt name would otherwise pass unnoticed, leaving
			// in force the entry the operator meant to remove.
			if !v.MapIndex(kv).IsValid() {
				d.fail(k, ekey, "empty entry: there is no default %q to remove (an entry needs a value)", k.Value)
				continue
			}
			v.SetMapIndex(kv, reflect.Value{})
			continue
		}
		ev := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(kv); old.IsValid() {
			ev.Set(old) // maps merge: an entry decodes on top of its default
		}
		d.decode(val, ev, ekey)
		v.SetMapIndex(kv, ev)
	}
}

// pairs lists the key/value pairs of a mapping with YAML merge keys ("<<")
// expanded in place (explicit keys after a merge override merged ones). A key
// written twice in the same mapping is an error, as in yaml.v3.
func (d *decoder) pairs(n *yaml.Node, key string) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() != "!!merge" {
			if line, dup := seen[k.Value]; dup {
				d.fail(k, JoinKey(key, k.Value), "key already defined at line %d", line)
				continue
			}
			seen[k.Value] = k.Line
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			var sources []*yaml.Node
			if val.Kind == yaml.SequenceNode {
				sources = val.Content
			} else {
				sources = []*yaml.Node{val}
			}
			for _, s := range sources {
				if s.Kind == yaml.AliasNode && s.Alias != nil {
					s = s.Alias
				}
				if s.Kind != yaml.MappingNode {
					d.fail(s, key, "merge key (<<) needs a mapping, got %s", kindName(s))
					continue
				}
				out = append(out, d.pairs(s, key)...)
			}
			continue
		}
		out = append(out, [2]*yaml.Node{k, val})
	}
	return out
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, key, "want a duration such as 250ms or 2s, got %s", kindName(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.fail(n, key, "invalid duration %q (want a number with a unit, such as 250ms, 2s or 1m30s)", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

// leaf lets yaml.v3 assign a scalar (or a custom-unmarshaled value), with its
// error rewritten to name the key.
func (d *decoder) leaf(n *yaml.Node, v reflect.Value, key string) {
	if err := n.Decode(v.Addr().Interface()); err != nil {
		var te *yaml.TypeError
		switch {
		case n.Kind != yaml.ScalarNode:
			d.fail(n, key, "want %s, got %s", typeName(v.Type()), kindName(n))
		case errors.As(err, &te):
			d.fail(n, key, "invalid value %q for %s", n.Value, typeName(v.Type()))
		default:
			d.fail(n, key, "invalid value %q: %v", n.Value, err)
		}
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	default:
		return "an unexpected node"
	}
}

func typeName(t reflect.Type) string {
	if t == durationType {
		return "a duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("an integer (%s)", t.Kind())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("a non-negative integer (%s)", t.Kind())
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	default:
		return t.String()
	}
}
