package schemas

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
)

// The encoder of an event writes its Avro binary straight from the Go
// struct. goavro only encodes "native" values, so encoding through it means
// building a map[string]any per record and nested record, with every
// string and number boxed into an interface (the *ToNative conversions),
// and then looking each field up by name: about forty allocations and most
// of the CPU of an output record, on every result and attempt payroute
// writes. The encoder instead is compiled once per event, at init, from the
// event's schema text (the one goavro compiles and the registry stores):
// for each field in schema order, the struct field with that name in its
// json tag and how to write it. Encoding then walks the struct with
// reflect, appending to the caller's buffer, without allocating.
//
// Compilation fails, and the package with it (like a codec that does not
// compile), when the struct and the schema disagree: a schema field
// without a struct field, a struct field the schema lacks, a Go kind that
// cannot hold the Avro type, or an Avro construct the encoder does not
// write (unions and fixed; no payroute schema has one). The tests check
// every event's bytes against goavro's encoding of the same value through
// its *ToNative conversion, so the two cannot drift.

// avroKind is the Avro type one encoder writes.
type avroKind int

const (
	avroString avroKind = iota
	avroBytes
	avroLong // long and int: the same zig-zag varint
	avroBoolean
	avroFloat
	avroDouble
	avroEnum
	avroRecord
	avroArray
	avroMap
)

// valueEncoder writes one value of one Avro type.
type valueEncoder struct {
	kind avroKind
	// name is the full name of a named type (enum, record), for errors.
	name string
	// symbols are an enum's symbols, in schema order.
	symbols []string
	// fields are a record's fields, in schema order.
	fields []fieldEncoder
	// elem writes an array's items or a map's values.
	elem *valueEncoder
}

// fieldEncoder writes one field of a record from its struct field.
type fieldEncoder struct {
	name  string // the Avro field name
	index int    // the struct field's index
	enc   *valueEncoder
}

// encodeRecord appends the Avro binary of *p (a struct) to b.
func (e *valueEncoder) encodeRecord(b []byte, p any) ([]byte, error) {
	return e.append(b, reflect.ValueOf(p).Elem())
}

func (e *valueEncoder) append(b []byte, v reflect.Value) ([]byte, error) {
	switch e.kind {
	case avroString:
		s := v.String()
		b = binary.AppendVarint(b, int64(len(s)))
		return append(b, s...), nil
	case avroBytes:
		s := v.Bytes()
		b = binary.AppendVarint(b, int64(len(s)))
		return append(b, s...), nil
	case avroLong:
		return binary.AppendVarint(b, v.Int()), nil // Avro's zig-zag varint
	case avroBoolean:
		if v.Bool() {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case avroFloat:
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v.Float()))), nil
	case avroDouble:
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Float())), nil
	case avroEnum:
		s := v.String()
		for i, sym := range e.symbols {
			if sym == s {
				return binary.AppendVarint(b, int64(i)), nil
			}
		}
		return nil, fmt.Errorf("%q is not a symbol of enum %s %v", s, e.name, e.symbols)
	case avroRecord:
		var err error
		for i := range e.fields {
			f := &e.fields[i]
			if b, err = f.enc.append(b, v.Field(f.index)); err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
		}
		return b, nil
	case avroArray:
		// One block of every item, then the empty block that ends the
		// array, as goavro writes it.
		n := v.Len()
		if n > 0 {
			b = binary.AppendVarint(b, int64(n))
			var err error
			for i := range n {
				if b, err = e.elem.append(b, v.Index(i)); err != nil {
					return nil, fmt.Errorf("item %d: %w", i, err)
				}
			}
		}
		return append(b, 0), nil
	case avroMap:
		// Compiled for map[string]string only (the one map type of the
		// events): ranging over it directly allocates nothing, where a
		// reflect.MapIter copies every key and value out.
		m := v.Interface().(map[string]string)
		if len(m) > 0 {
			b = binary.AppendVarint(b, int64(len(m)))
			for k, val := range m {
				b = binary.AppendVarint(b, int64(len(k)))
				b = append(b, k...)
				b = binary.AppendVarint(b, int64(len(val)))
				b = append(b, val...)
			}
		}
		return append(b, 0), nil
	}
	return nil, fmt.Errorf("unknown encoder kind %d", e.kind)
}

// compileEncoder compiles the encoder of the top-level record of schema
// for struct type t.
func compileEncoder(schema string, t reflect.Type) (*valueEncoder, error) {
	var node any
	if err := json.Unmarshal([]byte(schema), &node); err != nil {
		return nil, err
	}
	c := &encoderCompiler{named: map[string]schemaNamed{}}
	return c.compile(node, "", t)
}

// schemaNamed is a named type defined earlier in the schema being compiled,
// for later references to it by name.
type schemaNamed struct {
	def       map[string]any
	namespace string
}

type encoderCompiler struct {
	named map[string]schemaNamed // by full name
}

var mapOfStrings = reflect.TypeFor[map[string]string]()

// compile returns the encoder of the type schema node (enclosing is the
// namespace around it) for values of Go type t.
func (c *encoderCompiler) compile(node any, enclosing string, t reflect.Type) (*valueEncoder, error) {
	switch n := node.(type) {
	case string:
		if prim, ok := primitiveKinds[n]; ok {
			return primitiveEncoder(n, prim, t)
		}
		full := fullName(n, "", enclosing)
		def, ok := c.named[full]
		if !ok {
			return nil, fmt.Errorf("unknown type %q", n)
		}
		return c.compileNamed(full, def.def, t)
	case []any:
		return nil, errors.New("unions are not supported by the compiled encoder")
	case map[string]any:
		typ, _ := n["type"].(string)
		switch typ {
		case "record", "enum", "fixed":
			name, _ := n["name"].(string)
			ns, _ := n["namespace"].(string)
			full := fullName(name, ns, enclosing)
			c.named[full] = schemaNamed{def: n, namespace: namespaceOf(full)}
			return c.compileNamed(full, n, t)
		case "array":
			if t.Kind() != reflect.Slice {
				return nil, fmt.Errorf("an array needs a Go slice, got %s", t)
			}
			elem, err := c.compile(n["items"], enclosing, t.Elem())
			if err != nil {
				return nil, fmt.Errorf("items: %w", err)
			}
			return &valueEncoder{kind: avroArray, elem: elem}, nil
		case "map":
			if t != mapOfStrings || n["values"] != "string" {
				return nil, fmt.Errorf("only a map of strings as map[string]string is supported, got values %v as %s", n["values"], t)
			}
			return &valueEncoder{kind: avroMap}, nil
		default:
			return c.compile(n["type"], enclosing, t) // a primitive spelled as an object
		}
	}
	return nil, fmt.Errorf("unexpected schema node %T", node)
}

func (c *encoderCompiler) compileNamed(full string, def map[string]any, t reflect.Type) (*valueEncoder, error) {
	switch def["type"] {
	case "enum":
		if t.Kind() != reflect.String {
			return nil, fmt.Errorf("enum %s needs a Go string type, got %s", full, t)
		}
		raw, _ := def["symbols"].([]any)
		e := &valueEncoder{kind: avroEnum, name: full, symbols: make([]string, len(raw))}
		for i, s := range raw {
			sym, ok := s.(string)
			if !ok {
				return nil, fmt.Errorf("enum %s: symbol %v is not a string", full, s)
			}
			e.symbols[i] = sym
		}
		return e, nil
	case "record":
		return c.compileRecord(full, def, t)
	default:
		return nil, fmt.Errorf("%s: %v is not supported by the compiled encoder", full, def["type"])
	}
}

func (c *encoderCompiler) compileRecord(full string, def map[string]any, t reflect.Type) (*valueEncoder, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("record %s needs a Go struct, got %s", full, t)
	}
	byTag := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "" || tag == "-" {
			return nil, fmt.Errorf("record %s: %s.%s has no json tag naming its Avro field", full, t, f.Name)
		}
		byTag[tag] = i
	}
	fields, _ := def["fields"].([]any)
	e := &valueEncoder{kind: avroRecord, name: full, fields: make([]fieldEncoder, 0, len(fields))}
	for _, raw := range fields {
		fm, _ := raw.(map[string]any)
		name, _ := fm["name"].(string)
		i, ok := byTag[name]
		if !ok {
			return nil, fmt.Errorf("record %s: %s has no field tagged json:%q", full, t, name)
		}
		delete(byTag, name)
		enc, err := c.compile(fm["type"], namespaceOf(full), t.Field(i).Type)
		if err != nil {
			return nil, fmt.Errorf("record %s, field %s: %w", full, name, err)
		}
		e.fields = append(e.fields, fieldEncoder{name: name, index: i, enc: enc})
	}
	if len(byTag) > 0 {
		extra := slices.Sorted(maps.Keys(byTag))
		return nil, fmt.Errorf("record %s: the schema has no field %q for %s", full, extra[0], t)
	}
	return e, nil
}

// primitiveKinds are the Avro primitives the encoder writes ("null" is
// not one: it only appears in unions).
var primitiveKinds = map[string]avroKind{
	"string": avroString, "bytes": avroBytes, "int": avroLong, "long": avroLong,
	"boolean": avroBoolean, "float": avroFloat, "double": avroDouble,
}

// primitiveEncoder checks that Go type t holds the Avro primitive name.
func primitiveEncoder(name string, kind avroKind, t reflect.Type) (*valueEncoder, error) {
	ok := false
	switch name {
	case "string":
		ok = t.Kind() == reflect.String
	case "bytes":
		ok = t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8
	case "int":
		ok = t.Kind() == reflect.Int32
	case "long":
		ok = t.Kind() == reflect.Int64
	case "boolean":
		ok = t.Kind() == reflect.Bool
	case "float":
		ok = t.Kind() == reflect.Float32
	case "double":
		ok = t.Kind() == reflect.Float64
	}
	if !ok {
		return nil, fmt.Errorf("Avro %s cannot be written from Go %s", name, t)
	}
	return &valueEncoder{kind: kind}, nil
}
