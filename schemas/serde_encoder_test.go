package schemas

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// goavroEncoding is the reference: the event through its *ToNative
// conversion and goavro, as the serde encoded it before the compiled
// encoder.
func goavroEncoding(t *testing.T, v any) []byte {
	t.Helper()
	e := eventOf(v)
	if e == nil {
		t.Fatalf("%T is not an event", v)
	}
	b, err := e.(interface {
		referenceEncode(v any) ([]byte, error)
	}).referenceEncode(v)
	if err != nil {
		t.Fatalf("goavro: %v", err)
	}
	return b
}

func (e *event[T]) referenceEncode(v any) ([]byte, error) {
	return e.codec.BinaryFromNative(nil, e.toNative(v.(*T)))
}

func compiledEncoding(t *testing.T, v any) []byte {
	t.Helper()
	b, err := eventOf(v).(interface {
		appendEncode([]byte, any) ([]byte, error)
	}).appendEncode(nil, v)
	if err != nil {
		t.Fatalf("compiled encoder: %v", err)
	}
	return b
}

// The compiled encoder writes the same bytes as goavro for every event
// with every field set, for minimal events, and for many seeded random
// ones (strings empty, long and multi-byte, numbers at their extremes,
// lists of 0 to 3 items, every enum symbol). Maps hold at most one entry
// here: with more, both write them in Go's random map order (the round
// trip tests cover those).
func TestCompiledEncoderMatchesGoavro(t *testing.T) {
	var events []any
	for _, v := range fullEvents() {
		switch p := v.(type) {
		case *PaymentRequested:
			p.Metadata = map[string]string{"order_id": "ord-981"}
		case *AttemptFailed:
			p.Request.Metadata = map[string]string{"order_id": "ord-981"}
		}
		events = append(events, v)
	}
	events = append(events, &PaymentRequested{Operation: OpVoid}, &AttemptFailed{Request: PaymentRequested{Operation: OpCharge}, Failure: AttemptSummary{Outcome: OutcomeError}},
		&AttemptRecorded{Operation: OpAuthorize, Outcome: OutcomeApproved}, &PaymentResult{Operation: OpAuthorize, Status: StatusRejected},
		&CustomerAction{Action: ActionCancel}, &PspHealthChanged{State: HealthHealthy, PreviousState: HealthHealthy})
	rng := rand.New(rand.NewPCG(8, 8))
	for _, e := range catalog {
		for range 300 {
			v := reflect.New(reflect.TypeOf(eventSample(e)).Elem())
			fillRandom(rng, v.Elem(), e.(interface{ encoder() *valueEncoder }).encoder())
			events = append(events, v.Interface())
		}
	}
	for i, v := range events {
		want, got := goavroEncoding(t, v), compiledEncoding(t, v)
		if !bytes.Equal(want, got) {
			t.Fatalf("event %d (%T %+v):\ngoavro:   %x\ncompiled: %x", i, v, v, want, got)
		}
	}
}

func (e *event[T]) encoder() *valueEncoder { return e.enc }

func eventSample(e eventCodec) any {
	for _, v := range fullEvents() {
		if e.owns(v) {
			return v
		}
	}
	panic("no sample of " + e.fullName())
}

var sampleStrings = []string{"", "a", "stripe-eu", strings.Repeat("x", 200), "Zürich — 東京 ✓", "with\x00nul"}

// fillRandom sets every field of v that enc writes to a random value of
// its Avro type.
func fillRandom(rng *rand.Rand, v reflect.Value, enc *valueEncoder) {
	switch enc.kind {
	case avroString:
		v.SetString(sampleStrings[rng.IntN(len(sampleStrings))])
	case avroLong:
		var extremes []int64
		if v.Kind() == reflect.Int32 {
			extremes = []int64{0, 1, -1, 63, 64, -64, -65, math.MaxInt32, math.MinInt32}
		} else {
			extremes = []int64{0, 1, -1, 1_760_000_000_000, math.MaxInt64, math.MinInt64}
		}
		if rng.IntN(2) == 0 {
			v.SetInt(extremes[rng.IntN(len(extremes))])
		} else if v.Kind() == reflect.Int32 {
			v.SetInt(int64(int32(rng.Uint32())))
		} else {
			v.SetInt(int64(rng.Uint64()))
		}
	case avroBoolean:
		v.SetBool(rng.IntN(2) == 1)
	case avroDouble, avroFloat:
		v.SetFloat([]float64{0, 0.62, -1.5, math.MaxFloat32, math.Inf(1)}[rng.IntN(5)])
	case avroEnum:
		v.SetString(enc.symbols[rng.IntN(len(enc.symbols))])
	case avroRecord:
		for _, f := range enc.fields {
			fillRandom(rng, v.Field(f.index), f.enc)
		}
	case avroArray:
		n := rng.IntN(4)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fillRandom(rng, s.Index(i), enc.elem)
		}
		v.Set(s)
	case avroMap:
		switch rng.IntN(3) {
		case 0:
			v.Set(reflect.Zero(v.Type()))
		case 1:
			v.Set(reflect.ValueOf(map[string]string{}))
		default:
			v.Set(reflect.ValueOf(map[string]string{sampleStrings[rng.IntN(len(sampleStrings))]: sampleStrings[rng.IntN(len(sampleStrings))]}))
		}
	default:
		panic("fillRandom: unhandled kind")
	}
}

// A map with several entries, in whatever order it is written, decodes to
// the same map.
func TestCompiledEncoderMapRoundTrip(t *testing.T) {
	s := newEmbedded(t)
	in := fullRequest()
	in.Metadata = map[string]string{}
	for _, k := range sampleStrings {
		in.Metadata["k-"+k] = k
	}
	b, err := s.Encode(&in)
	if err != nil {
		t.Fatal(err)
	}
	var out PaymentRequested
	if err := s.Decode(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %+v", out)
	}
}

// An enum value outside the symbols is an error naming the field, as
// goavro's was.
func TestCompiledEncoderRejectsUnknownSymbols(t *testing.T) {
	for _, v := range []any{
		&PaymentResult{Operation: OpAuthorize, Status: "MAYBE"},
		&PaymentResult{Operation: OpAuthorize, Status: StatusApproved, Path: []AttemptSummary{{Outcome: ""}}},
		&AttemptFailed{Request: PaymentRequested{Operation: "TELEPORT"}, Failure: AttemptSummary{Outcome: OutcomeError}},
	} {
		if _, err := eventOf(v).(interface {
			appendEncode([]byte, any) ([]byte, error)
		}).appendEncode(nil, v); err == nil {
			t.Errorf("%+v encoded", v)
		} else if !strings.Contains(err.Error(), "is not a symbol of enum") {
			t.Errorf("%+v: %v", v, err)
		}
	}
}

// A struct that does not match its schema does not compile, so a field
// added on one side only is caught when the package loads.
func TestCompileEncoderMismatches(t *testing.T) {
	const record = `{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"string"},{"name":"b","type":%s}]}`
	type ok struct {
		A string `json:"a"`
		B int64  `json:"b"`
	}
	if _, err := compileEncoder(strings.Replace(record, "%s", `"long"`, 1), reflect.TypeFor[ok]()); err != nil {
		t.Fatalf("a matching struct: %v", err)
	}
	type missing struct {
		A string `json:"a"`
	}
	type extra struct {
		A string `json:"a"`
		B int64  `json:"b"`
		C string `json:"c"`
	}
	type untagged struct {
		A string `json:"a"`
		B int64
	}
	type strMap struct {
		A string         `json:"a"`
		B map[string]int `json:"b"`
	}
	for name, tc := range map[string]struct {
		bType string
		t     reflect.Type
		want  string
	}{
		"schema field without struct field": {`"long"`, reflect.TypeFor[missing](), `no field tagged json:"b"`},
		"struct field without schema field": {`"long"`, reflect.TypeFor[extra](), `the schema has no field "c"`},
		"untagged field":                    {`"long"`, reflect.TypeFor[untagged](), "has no json tag"},
		"wrong kind":                        {`"int"`, reflect.TypeFor[ok](), "Avro int cannot be written from Go int64"},
		"union":                             {`["null","long"]`, reflect.TypeFor[ok](), "unions are not supported"},
		"fixed":                             {`{"type":"fixed","name":"F","size":8}`, reflect.TypeFor[ok](), "not supported"},
		"map of non-strings":                {`{"type":"map","values":"long"}`, reflect.TypeFor[strMap](), "only a map of strings"},
		"enum as a number":                  {`{"type":"enum","name":"E","symbols":["X"]}`, reflect.TypeFor[ok](), "needs a Go string type"},
		"unknown named type":                {`"n.Nope"`, reflect.TypeFor[ok](), `unknown type "n.Nope"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := compileEncoder(strings.Replace(record, "%s", tc.bType, 1), tc.t)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
