package config

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"

	"gopkg.in/yaml.v3"
)

// Redacted replaces the value of every non-empty field tagged
// `secret:"true"` in Dump's output.
const Redacted = "***"

// Dump returns the effective configuration root as YAML, in the shape Load
// reads (so a dump can be edited and loaded back), with durations written as
// "250ms" and every field tagged `secret:"true"` redacted: each non-empty
// value under it becomes "***" (a secret map keeps its keys, a secret struct
// its field names), while an empty one is shown empty so operators can tell
// an unset credential from a set one.
func Dump(root any) ([]byte, error) {
	n, err := dumpNode(reflect.ValueOf(root), false, 0)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("config: dump: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: dump: %w", err)
	}
	return buf.Bytes(), nil
}

func nullNode() *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"} }

func redactedNode() *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: Redacted, Style: yaml.DoubleQuotedStyle}
}

// dumpNode converts v to a YAML node. Under a secret field every non-empty
// leaf is redacted while the shape (map keys, list lengths) is kept, so a
// secret map of PSP name → API key still dumps as a loadable map.
func dumpNode(v reflect.Value, secret bool, depth int) (*yaml.Node, error) {
	if !v.IsValid() {
		return nullNode(), nil
	}
	if depth > 64 {
		return nil, fmt.Errorf("config: dump: value nested too deeply (recursive?)")
	}
	t := v.Type()
	isLeaf := t == durationType || t.Implements(yamlMarshalerType) || t.Implements(textMarshalerType)
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Struct, reflect.Map:
	case reflect.Slice, reflect.Array:
		isLeaf = isLeaf || t.Elem().Kind() == reflect.Uint8
	default:
		isLeaf = true
	}
	if secret && isLeaf && !v.IsZero() {
		return redactedNode(), nil
	}
	switch {
	case t == durationType:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(v.Interface())}, nil
	case t.Implements(yamlMarshalerType), t.Implements(textMarshalerType):
		if (t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface) && v.IsNil() {
			return nullNode(), nil
		}
		return encodeLeaf(v)
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nullNode(), nil
		}
		return dumpNode(v.Elem(), secret, depth+1)
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, f := range fieldsOf(t) {
			fv := v.FieldByIndex(f.index)
			c, err := dumpNode(fv, secret || f.secret, depth+1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.name}, c)
		}
		if len(n.Content) == 0 {
			n.Style = yaml.FlowStyle
		}
		return n, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return encodeLeaf(v)
		}
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := 0; i < v.Len(); i++ {
			c, err := dumpNode(v.Index(i), secret, depth+1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		if len(n.Content) == 0 {
			n.Style = yaml.FlowStyle
		}
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			kn, err := encodeLeaf(k)
			if err != nil {
				return nil, err
			}
			c, err := dumpNode(v.MapIndex(k), secret, depth+1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, kn, c)
		}
		if len(n.Content) == 0 {
			n.Style = yaml.FlowStyle
		}
		return n, nil
	default:
		return encodeLeaf(v)
	}
}

func encodeLeaf(v reflect.Value) (*yaml.Node, error) {
	n := &yaml.Node{}
	if !v.CanInterface() {
		return nullNode(), nil
	}
	if err := n.Encode(v.Interface()); err != nil {
		return nil, fmt.Errorf("config: dump: %w", err)
	}
	return n, nil
}
