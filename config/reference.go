package config

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// RefKey is one key of a configuration reference.
type RefKey struct {
	// Path is the key path: "kafka.brokers"; map entries are written
	// "psps.accounts.<name>.kind", list elements "router.rules[].id".
	Path string
	// Type says what the value is: "string", "duration", "list of
	// strings", "map of Account", "section" for a nested struct.
	Type string
	// Default is the default value as Dump writes it ("" when empty).
	Default string
	// Env is the environment variable that overrides the key, or "" when
	// the key is YAML-only (under a map or a list of structs) or a section.
	Env string
	// Doc is the field's doc comment, as one paragraph.
	Doc string
	// Secret is set for fields tagged secret:"true".
	Secret bool
}

// DocSource finds the directory holding the Go source of a package, by
// import path, so that Reference can read the doc comments of the
// configuration structs ("main" is the binary's own package). It returns
// "" for packages whose source is not to be read (the standard library).
type DocSource func(pkgPath string) (dir string, err error)

// Reference lists every key of the configuration tree whose root is the
// struct root (filled with defaults, as Load expects it), in declaration
// order, with types, defaults, environment variable names and the doc
// comments of the struct fields, which it reads from the Go source found
// through src. The keys and variable names are the ones Load and Dump use,
// so the reference cannot drift from the loader. It fails when a package's
// source cannot be read or parsed.
func Reference(root any, src DocSource) ([]RefKey, error) {
	r := &referencer{src: src, docs: map[string]map[string]string{}}
	v := reflect.ValueOf(root)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: reference: root must be a struct, got %s", v.Kind())
	}
	if err := r.walk(v.Type(), v, "", true, false, 0); err != nil {
		return nil, err
	}
	return r.keys, nil
}

type referencer struct {
	src  DocSource
	docs map[string]map[string]string // package path → "Type.Field" → doc
	keys []RefKey
}

// walk adds the keys of struct type t (value v, invalid under maps and
// lists) at path.
func (r *referencer) walk(t reflect.Type, v reflect.Value, path string, envOK, secret bool, depth int) error {
	if depth > 16 {
		return nil // a recursive type: nothing sensible lives this deep
	}
	for _, f := range fieldsOf(t) {
		decl, sf := declaringField(t, f.index)
		doc, err := r.doc(decl, sf.Name)
		if err != nil {
			return err
		}
		key := JoinKey(path, f.name)
		var fv reflect.Value
		if v.IsValid() {
			fv = v.FieldByIndex(f.index)
		}
		ft := sf.Type
		k := RefKey{Path: key, Doc: doc, Secret: secret || f.secret}
		isLeaf := isEnvScalar(ft) || (ft.Kind() == reflect.Slice && isEnvScalar(ft.Elem()))
		switch {
		case isLeaf:
			k.Type = refTypeName(ft)
			if envOK {
				k.Env = EnvName(key)
			}
			k.Default = defaultOf(fv, k.Secret)
			r.keys = append(r.keys, k)
		case ft.Kind() == reflect.Struct:
			k.Type = "section"
			r.keys = append(r.keys, k)
			if err := r.walk(ft, fv, key, envOK, k.Secret, depth+1); err != nil {
				return err
			}
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
			k.Type = "section"
			r.keys = append(r.keys, k)
			var ev reflect.Value
			if fv.IsValid() && !fv.IsNil() {
				ev = fv.Elem()
			}
			if err := r.walk(ft.Elem(), ev, key, envOK, k.Secret, depth+1); err != nil {
				return err
			}
		case ft.Kind() == reflect.Map || ft.Kind() == reflect.Slice:
			elem := ft.Elem()
			for elem.Kind() == reflect.Pointer {
				elem = elem.Elem()
			}
			k.Type = refTypeName(ft)
			k.Default = defaultOf(fv, k.Secret)
			if ft.Kind() == reflect.Map && fv.IsValid() && fv.Len() > 0 && !isEnvScalar(ft.Elem()) {
				// Entries of sections: their names say enough.
				k.Default = "entries " + strings.Join(mapKeys(fv), ", ")
			}
			r.keys = append(r.keys, k)
			if elem.Kind() == reflect.Struct {
				sub := key + "[]"
				if ft.Kind() == reflect.Map {
					sub = key + ".<name>"
				}
				if err := r.walk(elem, reflect.Value{}, sub, false, k.Secret, depth+1); err != nil {
					return err
				}
			}
		default:
			k.Type = refTypeName(ft)
			k.Default = defaultOf(fv, k.Secret)
			r.keys = append(r.keys, k)
		}
	}
	return nil
}

// mapKeys returns the keys of map v, sorted.
func mapKeys(v reflect.Value) []string {
	out := make([]string, 0, v.Len())
	for _, k := range v.MapKeys() {
		out = append(out, fmt.Sprint(k.Interface()))
	}
	sort.Strings(out)
	return out
}

// declaringField returns the struct type that declares the field at index
// (inline structs declare their own fields) and the field.
func declaringField(t reflect.Type, index []int) (reflect.Type, reflect.StructField) {
	for _, i := range index[:len(index)-1] {
		t = t.Field(i).Type
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	return t, t.Field(index[len(index)-1])
}

// refTypeName describes a type for people.
func refTypeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case implements(t, textUnmarshalerType) && t.Kind() != reflect.Slice:
		return "string (" + t.Name() + ")"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Pointer:
		return refTypeName(t.Elem())
	case reflect.Slice, reflect.Array:
		return "list of " + plural(t.Elem())
	case reflect.Map:
		return "map of " + plural(t.Elem())
	case reflect.Struct:
		return t.Name()
	}
	return t.String()
}

// plural names the elements of a list or map: "strings", "durations",
// but a section type's name as it is.
func plural(elem reflect.Type) string {
	name := refTypeName(elem)
	for elem.Kind() == reflect.Pointer {
		elem = elem.Elem()
	}
	switch {
	case elem.Kind() == reflect.Struct && elem != durationType, elem.Kind() == reflect.Slice, elem.Kind() == reflect.Map,
		strings.HasPrefix(name, "string ("):
		return name
	}
	return name + "s"
}

// defaultOf renders a default the way Dump writes it, on one line; empty
// values are "".
func defaultOf(v reflect.Value, secret bool) string {
	if !v.IsValid() || v.IsZero() && v.Kind() != reflect.Bool && !isNumber(v.Kind()) {
		return ""
	}
	if (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
		return ""
	}
	n, err := dumpNode(v, secret, 0)
	if err != nil {
		return ""
	}
	flow(n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return ""
	}
	return strings.TrimSpace(buf.String())
}

func isNumber(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// flow makes collections render on one line.
func flow(n *yaml.Node) {
	if n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode {
		n.Style = yaml.FlowStyle
	}
	for _, c := range n.Content {
		flow(c)
	}
}

// doc returns the doc comment of field name of struct type t.
func (r *referencer) doc(t reflect.Type, name string) (string, error) {
	pkg := t.PkgPath()
	docs, ok := r.docs[pkg]
	if !ok {
		dir, err := r.src(pkg)
		if err != nil {
			return "", fmt.Errorf("config: reference: source of %s: %w", pkg, err)
		}
		if dir != "" {
			if docs, err = fieldDocs(dir); err != nil {
				return "", err
			}
		}
		r.docs[pkg] = docs
	}
	return docs[t.Name()+"."+name], nil
}

// fieldDocs reads the doc comments of every struct field declared in the
// package in dir, by "Type.Field".
func fieldDocs(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("config: reference: %w", err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("config: reference: %w", err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fl := range st.Fields.List {
				text := fl.Doc.Text()
				if text == "" {
					text = fl.Comment.Text()
				}
				for _, id := range fl.Names {
					out[ts.Name.Name+"."+id.Name] = paragraph(text)
				}
			}
			return true
		})
	}
	return out, nil
}

// paragraph joins a comment's lines into one paragraph.
func paragraph(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// WriteReference writes keys as Markdown: one section per top-level key,
// with its doc, and a table of its keys. intro is written first, as is.
func WriteReference(w io.Writer, intro string, keys []RefKey) error {
	var b strings.Builder
	b.WriteString(intro)
	var sections []string
	bySection := map[string][]RefKey{}
	for _, k := range keys {
		top, _, _ := strings.Cut(k.Path, ".")
		if _, ok := bySection[top]; !ok {
			sections = append(sections, top)
		}
		bySection[top] = append(bySection[top], k)
	}
	for _, s := range sections {
		ks := bySection[s]
		fmt.Fprintf(&b, "\n## %s\n\n", s)
		rows := ks
		if ks[0].Path == s {
			if ks[0].Doc != "" {
				fmt.Fprintf(&b, "%s\n\n", ks[0].Doc)
			}
			if ks[0].Type == "section" {
				rows = ks[1:]
			}
		}
		if len(rows) == 0 {
			continue
		}
		b.WriteString("| key | type | default | environment | description |\n|---|---|---|---|---|\n")
		for _, k := range rows {
			def := ""
			if k.Default != "" {
				def = "`" + cell(k.Default) + "`"
			}
			env := ""
			if k.Env != "" {
				env = "`" + k.Env + "`"
			}
			doc := cell(k.Doc)
			if k.Secret {
				doc = strings.TrimSpace(doc + " *Secret: redacted in dumps.*")
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", k.Path, cell(k.Type), def, env, doc)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
