package schemas

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/linkedin/goavro/v2"
)

var eventNames = []string{
	NamePaymentRequested, NameAttemptFailed, NameAttemptRecorded,
	NamePaymentResult, NameCustomerAction, NamePspHealthChanged,
}

func TestSchemaTextCompiles(t *testing.T) {
	for _, name := range eventNames {
		t.Run(name, func(t *testing.T) {
			text, ok := SchemaText(name)
			if !ok {
				t.Fatal("no schema text")
			}
			if _, err := goavro.NewCodec(text); err != nil {
				t.Fatal(err)
			}
			if got := recordName(text); got != name {
				t.Fatalf("record name %q", got)
			}
		})
	}
	if _, ok := SchemaText("io.payroute.v1.Nope"); ok {
		t.Fatal("unknown name has a schema")
	}
}

// The Avro field names are the json tags of events.go, field for field and
// recursively, and every field has a doc and a default.
func TestSchemasMatchStructs(t *testing.T) {
	types := map[string]reflect.Type{
		NamePaymentRequested: reflect.TypeFor[PaymentRequested](),
		NameAttemptFailed:    reflect.TypeFor[AttemptFailed](),
		NameAttemptRecorded:  reflect.TypeFor[AttemptRecorded](),
		NamePaymentResult:    reflect.TypeFor[PaymentResult](),
		NameCustomerAction:   reflect.TypeFor[CustomerAction](),
		NamePspHealthChanged: reflect.TypeFor[PspHealthChanged](),
	}
	for _, name := range eventNames {
		t.Run(name, func(t *testing.T) {
			text, _ := SchemaText(name)
			var schema map[string]any
			if err := json.Unmarshal([]byte(text), &schema); err != nil {
				t.Fatal(err)
			}
			named := map[string]map[string]any{}
			compareRecord(t, name, schema, types[name], named)
		})
	}
}

func compareRecord(t *testing.T, path string, schema map[string]any, typ reflect.Type, named map[string]map[string]any) {
	t.Helper()
	if doc, _ := schema["doc"].(string); doc == "" {
		t.Errorf("%s: record has no doc", path)
	}
	fields := schema["fields"].([]any)
	if len(fields) != typ.NumField() {
		t.Errorf("%s: %d Avro fields, %d Go fields", path, len(fields), typ.NumField())
	}
	for i, f := range fields {
		field := f.(map[string]any)
		name := field["name"].(string)
		if i >= typ.NumField() {
			break
		}
		sf := typ.Field(i)
		if tag := strings.Split(sf.Tag.Get("json"), ",")[0]; tag != name {
			t.Errorf("%s: Avro field %d is %q, Go field %s has json tag %q", path, i, name, sf.Name, tag)
		}
		if doc, _ := field["doc"].(string); len(doc) < 20 {
			t.Errorf("%s.%s: doc missing or too short to explain the field", path, name)
		}
		if _, ok := field["default"]; !ok {
			t.Errorf("%s.%s: no default", path, name)
		}
		compareType(t, path+"."+name, field["type"], sf.Type, named)
	}
}

func compareType(t *testing.T, path string, schema any, typ reflect.Type, named map[string]map[string]any) {
	t.Helper()
	switch s := schema.(type) {
	case string:
		if def, ok := named[s]; ok {
			compareType(t, path, def, typ, named)
			return
		}
		want := map[reflect.Kind]string{
			reflect.String: "string", reflect.Int32: "int", reflect.Int64: "long",
			reflect.Float64: "double", reflect.Bool: "boolean",
		}[typ.Kind()]
		if s != want {
			t.Errorf("%s: Avro %s for Go %s", path, s, typ)
		}
	case map[string]any:
		switch s["type"] {
		case "record":
			named[Namespace+"."+s["name"].(string)] = s
			if typ.Kind() != reflect.Struct {
				t.Errorf("%s: record for Go %s", path, typ)
				return
			}
			compareRecord(t, path, s, typ, named)
		case "enum":
			named[Namespace+"."+s["name"].(string)] = s
			if typ.Kind() != reflect.String || typ.PkgPath() == "" {
				t.Errorf("%s: enum for Go %s", path, typ)
			}
		case "array":
			if typ.Kind() != reflect.Slice {
				t.Errorf("%s: array for Go %s", path, typ)
				return
			}
			compareType(t, path+"[]", s["items"], typ.Elem(), named)
		case "map":
			if typ.Kind() != reflect.Map || typ.Key().Kind() != reflect.String {
				t.Errorf("%s: map for Go %s", path, typ)
				return
			}
			compareType(t, path+"{}", s["values"], typ.Elem(), named)
		default:
			t.Errorf("%s: unexpected schema %v", path, s["type"])
		}
	default:
		t.Errorf("%s: unexpected schema node %T", path, schema)
	}
}

// The Avro enums list exactly the Go constants, in the same order.
func TestEnumSymbols(t *testing.T) {
	want := map[string][]string{
		"Operation":          toStrings(Operations),
		"Status":             toStrings(Statuses),
		"Outcome":            {string(OutcomeApproved), string(OutcomeDeclined), string(OutcomeError)},
		"HealthState":        {string(HealthHealthy), string(HealthDown), string(HealthProbing)},
		"CustomerActionKind": {string(ActionRetry), string(ActionCancel)},
	}
	lib, err := loadLibrary(avscFiles)
	if err != nil {
		t.Fatal(err)
	}
	for short, symbols := range want {
		def, ok := lib.defs[Namespace+"."+short]
		if !ok || def["type"] != "enum" {
			t.Errorf("%s: no enum", short)
			continue
		}
		var got []string
		for _, s := range def["symbols"].([]any) {
			got = append(got, s.(string))
		}
		if !reflect.DeepEqual(got, symbols) {
			t.Errorf("%s: symbols %v, want %v", short, got, symbols)
		}
	}
}

func toStrings[S ~string](xs []S) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// Each named type is defined in exactly one file (loadLibrary fails on a
// second definition) and once per composed schema, where reused types are
// referenced by name.
func TestNamedTypesDefinedOnce(t *testing.T) {
	lib, err := loadLibrary(avscFiles)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PaymentMethod", "Customer", "Routing", "Candidate", "Decision", "AttemptSummary", "Operation", "Outcome", "Status", "HealthState", "CustomerActionKind"} {
		if _, ok := lib.defs[Namespace+"."+want]; !ok {
			t.Errorf("%s is not defined", want)
		}
	}
	cases := []struct {
		event string
		once  []string
	}{
		{NameAttemptFailed, []string{"PaymentRequested", "Candidate", "AttemptSummary", "Operation", "Outcome"}},
		{NamePaymentResult, []string{"AttemptSummary", "Operation", "Outcome"}},
		{NamePspHealthChanged, []string{"HealthState"}},
	}
	for _, c := range cases {
		text, _ := SchemaText(c.event)
		for _, name := range c.once {
			if n := strings.Count(text, `"name":"`+name+`"`); n != 1 {
				t.Errorf("%s defines %s %d times", c.event, name, n)
			}
		}
	}
	// A second definition of a name is an error, not a silent override.
	dup := fstest.MapFS{
		"a.avsc": {Data: []byte(`{"type":"record","name":"A","namespace":"x","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}}]}`)},
		"b.avsc": {Data: []byte(`{"type":"record","name":"B","namespace":"x","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["Y"]}}]}`)},
	}
	if _, err := composeAll(dup); err == nil || !strings.Contains(err.Error(), "more than once") {
		t.Fatalf("duplicate definition: %v", err)
	}
	unknown := fstest.MapFS{"a.avsc": {Data: []byte(`{"type":"record","name":"A","namespace":"x","fields":[{"name":"e","type":"x.Missing"}]}`)}}
	if _, err := composeAll(unknown); err == nil || !strings.Contains(err.Error(), "unknown type") {
		t.Fatalf("unknown reference: %v", err)
	}
}

// No schema may have a field for a card number or a CVV.
func TestNoCardDataFields(t *testing.T) {
	forbiddenTokens := map[string]bool{"pan": true, "cvv": true, "cvc": true, "cvv2": true, "cvc2": true, "csc": true, "cid": true}
	forbiddenSubstrings := []string{"card_number", "cardnumber", "security_code", "securitycode", "primary_account"}
	texts := map[string]string{}
	files, _ := fs.Glob(avscFiles, "*.avsc")
	for _, f := range files {
		b, _ := fs.ReadFile(avscFiles, f)
		texts[f] = string(b)
	}
	for _, name := range eventNames {
		texts[name], _ = SchemaText(name)
	}
	if len(files) < 6 {
		t.Fatalf("only %d .avsc files", len(files))
	}
	for src, text := range texts {
		var schema any
		if err := json.Unmarshal([]byte(text), &schema); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		for _, name := range fieldNames(schema) {
			lower := strings.ToLower(name)
			for _, tok := range strings.Split(lower, "_") {
				if forbiddenTokens[tok] {
					t.Errorf("%s: field %q names card data", src, name)
				}
			}
			for _, sub := range forbiddenSubstrings {
				if strings.Contains(lower, sub) {
					t.Errorf("%s: field %q names card data", src, name)
				}
			}
		}
	}
}

// fieldNames lists every record field name in a schema, recursively.
func fieldNames(node any) []string {
	var out []string
	switch n := node.(type) {
	case []any:
		for _, x := range n {
			out = append(out, fieldNames(x)...)
		}
	case map[string]any:
		if fields, ok := n["fields"].([]any); ok {
			for _, f := range fields {
				fm := f.(map[string]any)
				out = append(out, fm["name"].(string))
				out = append(out, fieldNames(fm["type"])...)
			}
		}
		for _, k := range []string{"type", "items", "values"} {
			if child, ok := n[k]; ok {
				out = append(out, fieldNames(child)...)
			}
		}
	}
	return out
}

// No file of this package contains something that looks like a card number:
// tests build theirs at run time.
func TestNoCardNumberLiterals(t *testing.T) {
	for _, pattern := range []string{"*.go", "*.avsc"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(b), "\n") {
				if ContainsPAN(line) {
					t.Errorf("%s:%d looks like it contains a card number", f, i+1)
				}
			}
		}
	}
}
