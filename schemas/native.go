package schemas

import "fmt"

// goavro speaks "native" Go values: a record is a map[string]any, an array
// []any, a map map[string]any, int/long/double are int32/int64/float64 and an
// enum is its symbol as a string. The helpers here are the only place that
// knows those shapes; the per-type conversions only name fields.

// nativeReader reads typed fields out of a decoded record. Native maps come
// from the reader schema's codec, so every field is present with its schema
// type; a missing or mistyped field is still reported rather than trusted,
// because a conversion bug must not turn into a silently zeroed amount. The
// first problem is kept in *err, shared with nested readers, so conversions
// read straight through and check once at the end.
type nativeReader struct {
	path string
	m    map[string]any
	err  *error
}

func newNativeReader(m map[string]any) nativeReader {
	return nativeReader{m: m, err: new(error)}
}

func (r nativeReader) field(name string) string {
	if r.path == "" {
		return name
	}
	return r.path + "." + name
}

func (r nativeReader) fail(name, format string, args ...any) {
	if *r.err == nil {
		*r.err = fmt.Errorf("field %s: %s", r.field(name), fmt.Sprintf(format, args...))
	}
}

func (r nativeReader) get(name string) (any, bool) {
	v, ok := r.m[name]
	if !ok {
		r.fail(name, "missing")
	}
	return v, ok
}

// nativeField reads one field of type T.
func nativeField[T any](r nativeReader, name string) T {
	var zero T
	v, ok := r.get(name)
	if !ok {
		return zero
	}
	t, ok := v.(T)
	if !ok {
		r.fail(name, "got %T, want %T", v, zero)
	}
	return t
}

func (r nativeReader) str(name string) string      { return nativeField[string](r, name) }
func (r nativeReader) int32(name string) int32     { return nativeField[int32](r, name) }
func (r nativeReader) int64(name string) int64     { return nativeField[int64](r, name) }
func (r nativeReader) float64(name string) float64 { return nativeField[float64](r, name) }
func (r nativeReader) bool(name string) bool       { return nativeField[bool](r, name) }

// record returns a reader for a nested record field.
func (r nativeReader) record(name string) nativeReader {
	m := nativeField[map[string]any](r, name)
	return nativeReader{path: r.field(name), m: m, err: r.err}
}

// stringMap reads a map<string>. An empty Avro map becomes nil, the zero value
// of the Go field, so that a struct without metadata round-trips exactly.
func (r nativeReader) stringMap(name string) map[string]string {
	m := nativeField[map[string]any](r, name)
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			r.fail(name, "value of %q: got %T, want string", k, v)
			return nil
		}
		out[k] = s
	}
	return out
}

// readRecords reads an array of records with one element conversion. An empty
// array becomes nil, like stringMap.
func readRecords[T any](r nativeReader, name string, conv func(nativeReader) T) []T {
	items := nativeField[[]any](r, name)
	if len(items) == 0 {
		return nil
	}
	out := make([]T, len(items))
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			r.fail(fmt.Sprintf("%s[%d]", name, i), "got %T, want a record", item)
			return nil
		}
		out[i] = conv(nativeReader{path: fmt.Sprintf("%s[%d]", r.field(name), i), m: m, err: r.err})
	}
	return out
}

// writeRecords is the encoding twin of readRecords.
func writeRecords[T any](xs []T, conv func(*T) map[string]any) []any {
	out := make([]any, len(xs))
	for i := range xs {
		out[i] = conv(&xs[i])
	}
	return out
}

// writeStringMap converts a map<string>; nil becomes the empty Avro map.
func writeStringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
