package schemas

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The compiled decoder is checked against goavro, the decoder it replaced:
// NativeFromBinary and the *FromNative conversions (event.goavroDecode with
// the event's own codec). For every input and every event type, both must
// accept or both refuse, with the same DecodeError kind, reason and field,
// and what they accept must be the same struct, exactly (nil and empty
// lists and maps told apart, floats compared bit for bit).

// differential decodes payload (an Avro body, without the Confluent
// header) as one event type with the compiled decoder and with goavro.
type differential interface {
	decodeBoth(payload []byte) (got, want any, gotErr, wantErr error, untouched bool)
}

func (e *event[T]) decodeBoth(payload []byte) (got, want any, gotErr, wantErr error, untouched bool) {
	g, w := new(T), new(T)
	// The compiled decoder's target starts non-zero: on error it must be
	// left as it was, and on success fully overwritten.
	sentinel := e.sentinel()
	*g = sentinel
	gotErr = e.decodeFn(e.id, e.codec)(payload, g)
	wantErr = e.goavroDecode(e.id, e.codec, payload, w)
	untouched = gotErr == nil || sameValue(reflect.ValueOf(g).Elem(), reflect.ValueOf(&sentinel).Elem())
	return g, w, gotErr, wantErr, untouched
}

// sentinel is a T with every field set, from fullEvents.
func (e *event[T]) sentinel() T {
	for _, v := range fullEvents() {
		if p, ok := v.(*T); ok {
			return *p
		}
	}
	panic("no full event of " + e.name)
}

// checkDifferential runs payload through both decoders as every event type.
func checkDifferential(t testing.TB, label string, payload []byte) (accepted int) {
	t.Helper()
	for _, e := range catalog {
		got, want, gotErr, wantErr, untouched := e.(differential).decodeBoth(payload)
		switch {
		case (gotErr == nil) != (wantErr == nil):
			t.Fatalf("%s as %s (% .200x): compiled err %v, goavro err %.300v", label, e.fullName(), payload, gotErr, wantErr)
		case gotErr != nil:
			var g, w *DecodeError
			if !errors.As(gotErr, &g) || !errors.As(wantErr, &w) {
				t.Fatalf("%s as %s: not DecodeErrors: %v / %v", label, e.fullName(), gotErr, wantErr)
			}
			if g.Kind != w.Kind || g.Reason() != w.Reason() || g.Field != w.Field {
				t.Fatalf("%s as %s: compiled %v %q %q, goavro %v %q %q", label, e.fullName(), g.Kind, g.Reason(), g.Field, w.Kind, w.Reason(), w.Field)
			}
			if !untouched {
				t.Fatalf("%s as %s: a failed decode changed the target", label, e.fullName())
			}
		default:
			if !sameValue(reflect.ValueOf(got), reflect.ValueOf(want)) {
				t.Fatalf("%s as %s (% .200x):\ncompiled: %.2000v\ngoavro:   %.2000v", label, e.fullName(), payload, fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want))
			}
			accepted++
		}
	}
	return accepted
}

// sameValue is reflect.DeepEqual with floats compared by their bits (a
// NaN read from the input equals itself).
func sameValue(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer:
		return a.IsNil() == b.IsNil() && (a.IsNil() || sameValue(a.Elem(), b.Elem()))
	case reflect.Struct:
		for i := range a.NumField() {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Float32, reflect.Float64:
		return math.Float64bits(a.Float()) == math.Float64bits(b.Float())
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// fixtureBodies are the Avro bodies of the fixtures: every full and minimal
// event, the valid request, written by goavro (maps of several entries in
// its order) and by the compiled encoder.
func fixtureBodies(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	events := append(fullEvents(), validRequest(),
		&PaymentRequested{Operation: OpVoid},
		&AttemptFailed{Request: PaymentRequested{Operation: OpCharge}, Failure: AttemptSummary{Outcome: OutcomeError}},
		&AttemptRecorded{Operation: OpAuthorize, Outcome: OutcomeApproved},
		&PaymentResult{Operation: OpAuthorize, Status: StatusRejected},
		&CustomerAction{Action: ActionCancel},
		&PspHealthChanged{State: HealthHealthy, PreviousState: HealthHealthy})
	for i, v := range events {
		e := eventOf(v)
		ref, err := e.(interface {
			referenceEncode(v any) ([]byte, error)
		}).referenceEncode(v)
		if err != nil {
			t.Fatal(err)
		}
		out["fixture "+strconv.Itoa(i)+" "+e.fullName()+" goavro"] = ref
		enc, err := e.(interface {
			appendEncode([]byte, any) ([]byte, error)
		}).appendEncode(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		out["fixture "+strconv.Itoa(i)+" "+e.fullName()+" compiled"] = enc
	}
	return out
}

// corpusBodies are the Avro bodies of the committed fuzz corpora: the
// consumer path's (bad input of every kind, Confluent-framed) and this
// package's differential one.
func corpusBodies(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, dir := range []string{
		filepath.Join("..", "consumers", "testdata", "fuzz", "FuzzConsumerInput"),
		filepath.Join("testdata", "fuzz", "FuzzDecodeMatchesGoavro"),
	} {
		files, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("%s is empty: the corpus is committed", dir)
		}
		for _, f := range files {
			args := readFuzzFile(t, filepath.Join(dir, f.Name()))
			value := args[len(args)-1] // the record value is the last argument
			name := filepath.Base(dir) + "/" + f.Name()
			out[name] = value
			if len(value) >= 5 && value[0] == 0 {
				out[name+" body"] = value[5:] // past the Confluent header
			}
		}
	}
	return out
}

// readFuzzFile parses a "go test fuzz v1" file whose arguments are []byte.
func readFuzzFile(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 4<<20)
	var args [][]byte
	for sc.Scan() {
		line := sc.Text()
		if line == "go test fuzz v1" {
			continue
		}
		q, ok := strings.CutPrefix(line, "[]byte(")
		q, ok2 := strings.CutSuffix(q, ")")
		if !ok || !ok2 {
			t.Fatalf("%s: unexpected line %.40q", path, line)
		}
		s, err := strconv.Unquote(q)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		args = append(args, []byte(s))
	}
	if err := sc.Err(); err != nil || len(args) == 0 {
		t.Fatalf("%s: %v, %d arguments", path, err, len(args))
	}
	return args
}

// beforeMetadata is the body of PaymentRequested{} up to its metadata: 22
// fields of zero length or value (six top-level fields, the ten of
// payment_method, the two of customer, recurring at index 18, and
// routing's route_ref, empty candidates at index 20 and
// provider_override).
var beforeMetadata = make([]byte, 22)

// requestWithMetadata is a PaymentRequested body whose metadata is raw.
func requestWithMetadata(raw ...byte) []byte {
	return append(append(append([]byte{}, beforeMetadata...), raw...), 0) // then requested_at_ms 0
}

// requestWithCandidates is a PaymentRequested body whose
// routing.candidates is raw.
func requestWithCandidates(raw ...byte) []byte {
	b := append([]byte{}, beforeMetadata[:20]...)
	b = append(b, raw...)
	return append(b, 0, 0, 0) // provider_override, metadata, requested_at_ms
}

func varint(v int64) []byte { return binary.AppendVarint(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// craftedBodies are hand-made edge cases of the Avro binary encoding.
func craftedBodies() map[string][]byte {
	action := func(tail ...byte) []byte { return append([]byte{2, 'p'}, tail...) } // payment_id "p", then the rest
	overlong := func(n int, last byte) []byte { return append(bytes.Repeat([]byte{0xff}, n), last) }
	bigMap := func(n int, blockCount int64) []byte {
		b := varint(blockCount)
		for i := range n {
			k := strconv.Itoa(i)
			b = append(append(append(b, varint(int64(len(k)))...), k...), 0)
		}
		return requestWithMetadata(append(b, 0)...)
	}
	return map[string][]byte{
		"empty":                             {},
		"one zero byte":                     {0},
		"action valid":                      action(0, 0, 0),
		"action enum index past symbols":    action(4, 0, 0),
		"action enum index negative":        action(1, 0, 0),
		"action enum index overlong":        action(0x80, 0x80, 0x80, 0, 0, 0),
		"action long overlong zero":         action(0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0),
		"action long overlong high bits":    cat(action(0, 0), overlong(12, 0x7f)),
		"action long 10 bytes":              cat(action(0, 0), overlong(9, 0x01)),
		"action long 10th byte 0x7f":        cat(action(0, 0), overlong(9, 0x7f)),
		"action long truncated":             action(0, 0, 0x80),
		"action string negative length":     {1, 'p', 0, 0, 0},
		"action string length past end":     {0x7e, 'p', 0, 0, 0},
		"action string length huge":         cat(varint(math.MaxInt64), []byte("p"), []byte{0, 0, 0}),
		"action string length min":          cat(varint(math.MinInt64), []byte{0, 0, 0}),
		"action invalid utf-8":              {4, 0xff, 0xfe, 0, 0, 0},
		"action trailing byte":              action(0, 0, 0, 0),
		"request minimal":                   requestWithMetadata(0),
		"request recurring 2":               append(append(append([]byte{}, beforeMetadata[:18]...), 2), beforeMetadata[19:]...),
		"metadata one entry":                requestWithMetadata(2, 2, 'k', 2, 'v', 0),
		"metadata negative count":           requestWithMetadata(3, 16, 2, 'k', 2, 'v', 2, 'j', 2, 'w', 0),
		"metadata negative count, bad size": requestWithMetadata(3, 0x80),
		"metadata two blocks":               requestWithMetadata(2, 2, 'k', 2, 'v', 2, 2, 'j', 2, 'w', 0),
		"metadata duplicate key":            requestWithMetadata(4, 2, 'k', 2, 'v', 2, 'k', 2, 'w', 0),
		"metadata duplicate across blocks":  requestWithMetadata(2, 2, 'k', 2, 'v', 2, 2, 'k', 2, 'w', 0),
		"metadata empty key and value":      requestWithMetadata(2, 0, 0, 0),
		"metadata count min int64":          requestWithMetadata(cat(varint(math.MinInt64), []byte{0})...),
		"metadata count huge":               requestWithMetadata(cat(varint(1<<40), []byte{2, 'k', 2, 'v', 0})...),
		"metadata count past the bytes":     requestWithMetadata(cat(varint(20), []byte{2, 'k', 2, 'v', 0})...),
		"metadata negative count huge":      requestWithMetadata(cat(varint(-(1 << 40)), []byte{0, 2, 'k', 2, 'v', 0})...),
		"metadata max block":                bigMap(maxAvroBlockCount, maxAvroBlockCount),
		"metadata max block + 1":            bigMap(maxAvroBlockCount+1, maxAvroBlockCount+1),
		"metadata max block, negative":      bigMap(maxAvroBlockCount, -maxAvroBlockCount),
		"candidates two":                    requestWithCandidates(4, 2, 'a', 0, 2, 2, 'b', 0, 4, 0),
		"candidates rank past int32":        requestWithCandidates(cat([]byte{2, 2, 'a', 0}, varint(1<<40+3), []byte{0})...),
		"candidates rank overlong":          requestWithCandidates(cat([]byte{2, 2, 'a', 0}, overlong(11, 0x03), []byte{0})...),
		"candidates negative count":         requestWithCandidates(3, 0x7f, 2, 'a', 0, 2, 2, 'b', 0, 4, 0),
		"candidates count past the bytes":   requestWithCandidates(cat(varint(1000), []byte{2, 'a', 0, 2, 0})...),
		"candidates count min int64":        requestWithCandidates(cat(varint(math.MinInt64), []byte{0})...),
		"candidates truncated item":         requestWithCandidates(2, 2, 'a'),
		"candidates no terminator":          append(append([]byte{}, beforeMetadata[:20]...), 2, 2, 'a', 0, 2),
		"health double":                     cat([]byte{0, 0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}, []byte{0, 0, 0}),
		"health double truncated":           []byte{0, 0, 0, 0, 0, 1, 2, 3},
	}
}

// mutations of body: every prefix, every byte replaced by values that
// matter to varints and booleans, a byte inserted, bytes appended.
func mutations(body []byte, each func(label string, b []byte)) {
	for i := range len(body) {
		each("prefix "+strconv.Itoa(i), body[:i])
	}
	for i := range len(body) {
		for _, c := range []byte{0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0x81, 0xff} {
			if body[i] == c {
				continue
			}
			b := append([]byte{}, body...)
			b[i] = c
			each("byte "+strconv.Itoa(i)+"="+strconv.Itoa(int(c)), b)
		}
		each("insert at "+strconv.Itoa(i), cat(body[:i], []byte{0x80}, body[i:]))
	}
	each("trailing", cat(body, []byte{0}))
}

// TestCompiledDecoderMatchesGoavro is the differential test over the
// committed corpora, the fixtures and their mutations, hand-made edge
// cases, and seeded random events.
func TestCompiledDecoderMatchesGoavro(t *testing.T) {
	accepted, total := 0, 0
	run := func(label string, b []byte) int {
		n := checkDifferential(t, label, b)
		accepted += n
		total += len(catalog)
		return n
	}
	for name, b := range corpusBodies(t) {
		run(name, b)
	}
	for name, b := range craftedBodies() {
		run(name, b)
	}
	for name, b := range fixtureBodies(t) {
		if run(name, b) == 0 {
			t.Fatalf("%s: refused", name)
		}
		if strings.HasSuffix(name, "compiled") {
			continue // the goavro body's mutations are enough
		}
		mutations(b, func(label string, m []byte) { run(name+" "+label, m) })
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, e := range catalog {
		for i := range 300 {
			v := reflect.New(reflect.TypeOf(eventSample(e)).Elem())
			fillRandom(rng, v.Elem(), e.(interface{ encoder() *valueEncoder }).encoder())
			if m := v.Elem().FieldByName("Metadata"); m.IsValid() && rng.IntN(2) == 0 {
				md := map[string]string{}
				for j := range rng.IntN(8) {
					md["k"+strconv.Itoa(j)] = sampleStrings[rng.IntN(len(sampleStrings))]
				}
				m.Set(reflect.ValueOf(md))
			}
			label := "random " + e.fullName() + " " + strconv.Itoa(i)
			if run(label, compiledEncoding(t, v.Interface())) == 0 {
				t.Fatalf("%s: a valid event refused", label)
			}
		}
	}
	t.Logf("%d decodes compared, %d accepted by both", total, accepted)
	if accepted == 0 || accepted == total {
		t.Fatal("the inputs must hold both accepted and refused records")
	}
}

// FuzzDecodeMatchesGoavro feeds arbitrary bytes to both decoders as every
// event type and fails on any difference (see checkDifferential). Seeded
// with the fixtures and the committed corpora; inputs it finds worth
// keeping are committed in testdata/fuzz/FuzzDecodeMatchesGoavro:
//
//	go test ./schemas -run '^$' -fuzz FuzzDecodeMatchesGoavro -fuzztime 5m
func FuzzDecodeMatchesGoavro(f *testing.F) {
	for _, b := range fixtureBodies(f) {
		f.Add(b)
	}
	for _, b := range craftedBodies() {
		if len(b) < 1024 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkDifferential(t, "fuzz input", payload)
	})
}

// A block count or string length the input cannot back allocates nothing
// in proportion to it: the decoder checks it against the bytes left first.
func TestCompiledDecoderBoundsAllocation(t *testing.T) {
	e := catalog[0].(*event[PaymentRequested])
	for name, b := range map[string][]byte{
		"map block of 65536 in 30 bytes":        requestWithMetadata(cat(varint(maxAvroBlockCount), []byte{2, 'k', 2, 'v', 0})...),
		"array block of 65536 in 30 bytes":      requestWithCandidates(cat(varint(maxAvroBlockCount), []byte{2, 'a', 0, 0})...),
		"negative map block of 65536":           requestWithMetadata(cat(varint(-maxAvroBlockCount), []byte{0, 2, 'k', 2, 'v', 0})...),
		"string of 2^62 bytes in 3":             cat(varint(1<<62), []byte("abc")),
		"map block of 2^31 (past goavro's cap)": requestWithMetadata(cat(varint(1<<31), []byte{0})...),
	} {
		var p PaymentRequested
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := e.dec.decodeRecord(b, &p)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 4096 {
			t.Errorf("%s: allocated %d bytes", name, n)
		}
	}
}

// Decode errors name the field, and never quote a string read from the
// input (a map key can be card data). Numbers they quote, as goavro's did:
// the consumer path redacts card-shaped ones (RedactPAN), and its test
// relies on a negative length being quoted.
func TestCompiledDecoderErrors(t *testing.T) {
	s := newEmbedded(t)
	pan := testPAN(t)
	n, _ := strconv.ParseInt(pan, 10, 64)
	frame := func(body []byte) []byte { return cat([]byte{0, 0, 0, 0, SchemaIDPaymentRequested}, body) }
	if _, err := s.DecodePaymentRequested(frame(cat(varint(-n), []byte("x")))); err == nil || !strings.Contains(err.Error(), "negative length -"+pan) {
		t.Fatalf("negative length: %v", err)
	}
	for _, c := range []struct {
		name, field string
		body        []byte
	}{
		{"negative length", "payment_id", cat(varint(-n), []byte("x"))},
		{"length past the end", "payment_id", cat(varint(n), []byte("x"))},
		{"duplicate key", "metadata", requestWithMetadata(cat([]byte{4, 32}, []byte(pan), []byte{0, 32}, []byte(pan), []byte{0, 0})...)},
		{"block count", "metadata", requestWithMetadata(cat(varint(n), []byte{0})...)},
		{"enum index", "operation", cat([]byte{0, 0, 0}, varint(n), beforeMetadata[4:])},
		{"rank", "routing.candidates[1].rank", cat(beforeMetadata[:20], []byte{4, 2, 'a', 0, 2, 2, 'b', 0})},
	} {
		_, err := s.DecodePaymentRequested(frame(c.body))
		var de *DecodeError
		if !errors.As(err, &de) || de.Kind != KindMalformed {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.name == "duplicate key" && strings.Contains(err.Error(), pan[:8]) {
			t.Errorf("%s: %q quotes the key", c.name, err)
		}
		if !strings.Contains(err.Error(), "field "+c.field+":") {
			t.Errorf("%s: %q does not name the field %s", c.name, err, c.field)
		}
	}
}
