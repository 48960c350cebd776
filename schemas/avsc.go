package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// The .avsc files are the source of truth for the wire format: they are what
// upstream teams read, what the registry stores, and what goavro compiles.
//
//go:embed *.avsc
var avscFiles embed.FS

// Namespace is the Avro namespace of every payroute schema. The "v1" is the
// major version: compatible changes evolve the schemas in place, an
// incompatible change would get a new namespace (and so new subjects).
const Namespace = "io.payroute.v1"

// Full Avro names of the six event records. They are also the registry
// subjects (RecordNameStrategy), so one subject per event type no matter which
// topic carries it: AttemptFailed travels on several retry topics.
const (
	NamePaymentRequested = Namespace + ".PaymentRequested"
	NameAttemptFailed    = Namespace + ".AttemptFailed"
	NameAttemptRecorded  = Namespace + ".AttemptRecorded"
	NamePaymentResult    = Namespace + ".PaymentResult"
	NameCustomerAction   = Namespace + ".CustomerAction"
	NamePspHealthChanged = Namespace + ".PspHealthChanged"
)

// SchemaText returns the self-contained Avro schema of an event record by its
// full name (one of the Name constants): the .avsc file with every named type
// it uses inlined. This exact text is what payroute registers and compiles, so
// upstream producers that do not use this package should use it too.
func SchemaText(fullName string) (string, bool) {
	t, ok := composedSchemas[fullName]
	return t, ok
}

// composedSchemas maps each top-level record in the .avsc files to its
// self-contained text. Built at init: the input is embedded, so a failure is a
// bug in this package that every test run catches, like regexp.MustCompile.
var composedSchemas = mustComposeAll(avscFiles)

func mustComposeAll(fsys fs.FS) map[string]string {
	out, err := composeAll(fsys)
	if err != nil {
		panic("schemas: embedded .avsc files: " + err.Error())
	}
	return out
}

// avroPrimitives are the type names that are not references to named types.
var avroPrimitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true,
}

// schemaLibrary holds every named type (record, enum, fixed) defined anywhere
// in the .avsc files, by full name.
//
// goavro (and the registry, without schema references) need one
// self-contained schema text per event, while a named type must be written
// once so the files cannot drift apart. So each named type is defined in
// exactly one file (where it is first needed, or in its own file when two
// events share it, like AttemptSummary), other files refer to it by full name,
// and compose inlines the definition at its first use inside each event.
type schemaLibrary struct {
	defs     map[string]map[string]any // full name -> definition
	topLevel map[string]string         // full name of each file's record -> file name
}

func composeAll(fsys fs.FS) (map[string]string, error) {
	lib, err := loadLibrary(fsys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(lib.topLevel))
	for name := range lib.topLevel {
		text, err := lib.compose(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", lib.topLevel[name], err)
		}
		out[name] = text
	}
	return out, nil
}

func loadLibrary(fsys fs.FS) (*schemaLibrary, error) {
	files, err := fs.Glob(fsys, "*.avsc")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	lib := &schemaLibrary{defs: map[string]map[string]any{}, topLevel: map[string]string{}}
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // keep defaults exactly as written
		var top map[string]any
		if err := dec.Decode(&top); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if top["type"] != "record" {
			return nil, fmt.Errorf("%s: top level must be a record", f)
		}
		name, err := lib.collect(top, "")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		lib.topLevel[name] = f
	}
	return lib, nil
}

// fullName applies the Avro naming rules: a dotted name is already full,
// otherwise the namespace comes from the definition or the enclosing one.
func fullName(name, namespace, enclosing string) string {
	if strings.Contains(name, ".") {
		return name
	}
	if namespace == "" {
		namespace = enclosing
	}
	if namespace == "" {
		return name
	}
	return namespace + "." + name
}

func namespaceOf(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[:i]
	}
	return ""
}

// namedDef reports whether node is the definition of a named type.
func namedDef(node map[string]any) bool {
	switch node["type"] {
	case "record", "enum", "fixed":
		_, ok := node["name"].(string)
		return ok
	}
	return false
}

// collect records every named definition under node (a type schema) and
// returns the full name of node when it is one.
func (lib *schemaLibrary) collect(node any, enclosing string) (string, error) {
	switch n := node.(type) {
	case []any: // union
		for _, branch := range n {
			if _, err := lib.collect(branch, enclosing); err != nil {
				return "", err
			}
		}
	case map[string]any:
		if !namedDef(n) {
			// array, map, or a primitive spelled as an object
			for _, key := range []string{"items", "values"} {
				if child, ok := n[key]; ok {
					if _, err := lib.collect(child, enclosing); err != nil {
						return "", err
					}
				}
			}
			if t, ok := n["type"].(map[string]any); ok {
				return lib.collect(t, enclosing)
			}
			return "", nil
		}
		ns, _ := n["namespace"].(string)
		full := fullName(n["name"].(string), ns, enclosing)
		if _, dup := lib.defs[full]; dup {
			return "", fmt.Errorf("named type %s is defined more than once", full)
		}
		lib.defs[full] = n
		if fields, ok := n["fields"].([]any); ok {
			for _, f := range fields {
				fm, ok := f.(map[string]any)
				if !ok {
					return "", fmt.Errorf("%s: field is not an object", full)
				}
				if _, err := lib.collect(fm["type"], namespaceOf(full)); err != nil {
					return "", err
				}
			}
		}
		return full, nil
	}
	return "", nil
}

// compose returns the self-contained schema of one top-level record.
func (lib *schemaLibrary) compose(name string) (string, error) {
	defined := map[string]bool{}
	out, err := lib.expand(name, "", defined)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, out); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// keyOrder is the order in which writeJSON writes schema attributes, so the
// text in the registry reads like the .avsc files (name and type first, the
// long lists last) rather than alphabetically.
var keyOrder = map[string]int{
	"name": 1, "type": 2, "namespace": 3, "doc": 4, "default": 5,
	"symbols": 6, "items": 7, "values": 8, "fields": 9,
}

// writeJSON writes compact JSON with schema keys in keyOrder (others after,
// alphabetically) and without HTML escaping, so doc strings stay readable.
// The output is deterministic, which keeps the registered text, and so the
// registry's answer, the same on every start.
func writeJSON(buf *bytes.Buffer, v any) error {
	switch n := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(n))
		for k := range n {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			oi, oj := keyOrder[keys[i]], keyOrder[keys[j]]
			if oi == 0 {
				oi = len(keyOrder) + 1
			}
			if oj == 0 {
				oj = len(keyOrder) + 1
			}
			if oi != oj {
				return oi < oj
			}
			return keys[i] < keys[j]
		})
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, k); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeJSON(buf, n[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, item := range n {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, item); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	default:
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(n); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode appends a newline
	}
	return nil
}

// expand copies a type schema, replacing the first reference to each named
// type by its definition and every later one (or a second definition reached
// through another inlined type) by its full name, which Avro requires: a name
// may be defined only once per schema, before any use.
func (lib *schemaLibrary) expand(node any, enclosing string, defined map[string]bool) (any, error) {
	switch n := node.(type) {
	case string:
		if avroPrimitives[n] {
			return n, nil
		}
		full := fullName(n, "", enclosing)
		def, ok := lib.defs[full]
		if !ok {
			return nil, fmt.Errorf("unknown type %q", n)
		}
		if defined[full] {
			return full, nil
		}
		return lib.expandDef(full, def, enclosing, defined)
	case []any:
		out := make([]any, len(n))
		for i, branch := range n {
			v, err := lib.expand(branch, enclosing, defined)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case map[string]any:
		if namedDef(n) {
			ns, _ := n["namespace"].(string)
			full := fullName(n["name"].(string), ns, enclosing)
			if defined[full] {
				return full, nil
			}
			return lib.expandDef(full, lib.defs[full], enclosing, defined)
		}
		out := make(map[string]any, len(n))
		for k, v := range n {
			out[k] = v
		}
		for _, key := range []string{"items", "values", "type"} {
			child, ok := n[key]
			if !ok {
				continue
			}
			if s, isName := child.(string); isName && key == "type" && (s == "array" || s == "map" || avroPrimitives[s]) {
				continue // a type keyword, not a reference
			}
			v, err := lib.expand(child, enclosing, defined)
			if err != nil {
				return nil, err
			}
			out[key] = v
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unexpected schema node %T", node)
	}
}

func (lib *schemaLibrary) expandDef(full string, def map[string]any, enclosing string, defined map[string]bool) (any, error) {
	defined[full] = true // before the fields: a record may refer to itself
	out := make(map[string]any, len(def))
	for k, v := range def {
		out[k] = v
	}
	// A definition moved from another file keeps its own namespace.
	out["name"] = full[strings.LastIndexByte(full, '.')+1:]
	if ns := namespaceOf(full); ns != enclosing {
		out["namespace"] = ns
	} else {
		delete(out, "namespace")
	}
	fields, ok := def["fields"].([]any)
	if !ok {
		return out, nil
	}
	outFields := make([]any, len(fields))
	for i, f := range fields {
		fm := f.(map[string]any) // checked by collect
		of := make(map[string]any, len(fm))
		for k, v := range fm {
			of[k] = v
		}
		t, err := lib.expand(fm["type"], namespaceOf(full), defined)
		if err != nil {
			return nil, fmt.Errorf("%s.%v: %w", full, fm["name"], err)
		}
		of["type"] = t
		outFields[i] = of
	}
	out["fields"] = outFields
	return out, nil
}

// recordName is the full name of a schema's top-level record, "" when the
// schema is not a record.
func recordName(schema string) string {
	var top struct {
		Type      any    `json:"type"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	}
	if err := json.Unmarshal([]byte(schema), &top); err != nil || top.Type != "record" {
		return ""
	}
	return fullName(top.Name, top.Namespace, "")
}
