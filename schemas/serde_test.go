package schemas

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func newEmbedded(t *testing.T) *Serde {
	t.Helper()
	s, err := New(DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newRegistrySerde(t *testing.T, reg *srfake.Registry) *Serde {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.RegistryURLs = []string{reg.URL()}
	cfg.RegistryTimeout = 5 * time.Second
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newOf returns a new zero *T for the event pointer v.
func newOf(v any) any { return reflect.New(reflect.TypeOf(v).Elem()).Interface() }

func eventLabel(v any) string { return reflect.TypeOf(v).Elem().Name() }

func TestRoundTripEveryEvent(t *testing.T) {
	s := newEmbedded(t)
	for _, in := range fullEvents() {
		t.Run(eventLabel(in), func(t *testing.T) {
			assertAllFieldsSet(t, reflect.ValueOf(in).Elem(), eventLabel(in))
			b, err := s.Encode(in)
			if err != nil {
				t.Fatal(err)
			}
			out := newOf(in)
			if err := s.Decode(b, out); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, out) {
				t.Fatalf("round trip changed the event\n in: %+v\nout: %+v", in, out)
			}
			anyOut, err := s.DecodeAny(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, anyOut) {
				t.Fatalf("DecodeAny: %+v", anyOut)
			}
			// A struct value encodes like its pointer. (Compared decoded:
			// Avro maps are written in Go's random map order.)
			b2, err := s.Encode(reflect.ValueOf(in).Elem().Interface())
			if err != nil {
				t.Fatal(err)
			}
			out2 := newOf(in)
			if err := s.Decode(b2, out2); err != nil || !reflect.DeepEqual(in, out2) {
				t.Fatalf("encode by value: %v", err)
			}
		})
	}
}

// A minimal event (only the enums set) round-trips too: empty lists and
// maps come back as nil, the Go zero value.
func TestRoundTripMinimal(t *testing.T) {
	s := newEmbedded(t)
	for _, in := range []any{
		&PaymentRequested{Operation: OpVoid},
		&AttemptFailed{Request: PaymentRequested{Operation: OpCharge}, Failure: AttemptSummary{Outcome: OutcomeError}},
		&AttemptRecorded{Operation: OpAuthorize, Outcome: OutcomeApproved},
		&PaymentResult{Operation: OpAuthorize, Status: StatusRejected},
		&CustomerAction{Action: ActionCancel},
		&PspHealthChanged{State: HealthHealthy, PreviousState: HealthHealthy},
	} {
		b, err := s.Encode(in)
		if err != nil {
			t.Fatalf("%s: %v", eventLabel(in), err)
		}
		out := newOf(in)
		if err := s.Decode(b, out); err != nil {
			t.Fatalf("%s: %v", eventLabel(in), err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("%s: %+v != %+v", eventLabel(in), in, out)
		}
	}
}

// assertAllFieldsSet guards the round-trip fixture itself: a zero field would
// let a dropped field go unnoticed.
func assertAllFieldsSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			assertAllFieldsSet(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Slice:
		if v.Len() == 0 {
			t.Errorf("fixture: %s is empty", path)
		}
		for i := 0; i < v.Len(); i++ {
			assertAllFieldsSet(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		if v.IsZero() {
			t.Errorf("fixture: %s is zero", path)
		}
	}
}

// The registry-less ids are a published contract: the 5-byte header of each
// event must never change.
// TestRetiredIDStillDecodes: a record written by an earlier release with
// a retired id (its own schema text) decodes, the fields added since at
// their defaults, and so does DecodeAny; the id is never written again.
// 3: AttemptRecorded before inquiries and in_doubt_ms; 4: PaymentResult
// before action_url.
func TestRetiredIDStillDecodes(t *testing.T) {
	var attempt *AttemptRecorded
	var result *PaymentResult
	for _, e := range fullEvents() {
		switch v := e.(type) {
		case *AttemptRecorded:
			attempt = v
		case *PaymentResult:
			result = v
		}
	}
	oldAttempt, oldResult := *attempt, *result
	oldAttempt.Inquiries, oldAttempt.InDoubtMs = 0, 0
	oldResult.ActionURL = ""
	s := newEmbedded(t)
	for _, c := range []struct {
		id      byte
		native  map[string]any
		dropped []string
		decoded any // a pointer to a zero event to decode into
		want    any
	}{
		{3, attemptRecordedToNative(attempt), []string{"inquiries", "in_doubt_ms"}, new(AttemptRecorded), &oldAttempt},
		{4, paymentResultToNative(result), []string{"action_url"}, new(PaymentResult), &oldResult},
	} {
		text, err := retiredFiles.ReadFile(fmt.Sprintf("retired/%d.json", c.id))
		if err != nil {
			t.Fatal(err)
		}
		old, err := goavro.NewCodec(string(text))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range c.dropped {
			delete(c.native, f)
		}
		body, err := old.BinaryFromNative(nil, c.native)
		if err != nil {
			t.Fatalf("id %d: %v", c.id, err)
		}
		framed := append([]byte{0, 0, 0, 0, c.id}, body...)
		if err := s.Decode(framed, c.decoded); err != nil {
			t.Fatalf("decode a record of retired id %d: %v", c.id, err)
		}
		if !reflect.DeepEqual(c.decoded, c.want) {
			t.Fatalf("id %d: decoded %+v\nwant    %+v", c.id, c.decoded, c.want)
		}
		if v, err := s.DecodeAny(framed); err != nil || !reflect.DeepEqual(v, c.want) {
			t.Fatalf("id %d: DecodeAny: %+v, %v", c.id, v, err)
		}
		for name, id := range s.SchemaIDs() {
			if id == int(c.id) {
				t.Fatalf("%s is written with retired id %d", name, c.id)
			}
		}
	}
}

func TestEmbeddedIDsAreStable(t *testing.T) {
	want := map[string][]byte{
		"PaymentRequested": {0x00, 0x00, 0x00, 0x00, 0x01},
		"AttemptFailed":    {0x00, 0x00, 0x00, 0x00, 0x02},
		"AttemptRecorded":  {0x00, 0x00, 0x00, 0x00, 0x07}, // 3 until inquiries and in_doubt_ms
		"PaymentResult":    {0x00, 0x00, 0x00, 0x00, 0x08}, // 4 until action_url
		"CustomerAction":   {0x00, 0x00, 0x00, 0x00, 0x05},
		"PspHealthChanged": {0x00, 0x00, 0x00, 0x00, 0x06},
	}
	s := newEmbedded(t)
	for _, in := range fullEvents() {
		b, err := s.Encode(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := b[:5]; !bytes.Equal(got, want[eventLabel(in)]) {
			t.Errorf("%s: header % x, want % x", eventLabel(in), got, want[eventLabel(in)])
		}
	}
	ids := s.SchemaIDs()
	for name, id := range map[string]int{
		NamePaymentRequested: 1, NameAttemptFailed: 2, NameAttemptRecorded: 7,
		NamePaymentResult: 8, NameCustomerAction: 5, NamePspHealthChanged: 6,
	} {
		if ids[name] != id {
			t.Errorf("%s: id %d, want %d", name, ids[name], id)
		}
	}
	// What a producer without this package writes: header + goavro binary of
	// SchemaText. It must decode.
	text, _ := SchemaText(NameCustomerAction)
	codec, err := goavro.NewCodec(text)
	if err != nil {
		t.Fatal(err)
	}
	body, err := codec.BinaryFromNative(nil, map[string]any{"payment_id": "p1", "action": "RETRY"})
	if err != nil {
		t.Fatal(err)
	}
	var got CustomerAction
	if err := s.Decode(append([]byte{0, 0, 0, 0, SchemaIDCustomerAction}, body...), &got); err != nil {
		t.Fatal(err)
	}
	if got != (CustomerAction{PaymentID: "p1", Action: ActionRetry}) {
		t.Fatalf("got %+v", got)
	}
}

func TestEncodeErrors(t *testing.T) {
	s := newEmbedded(t)
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, "nil"},
		{"nil pointer", (*PaymentResult)(nil), "nil"},
		{"not an event", &Candidate{PSP: "x"}, "not a payroute event"},
		{"empty enum", &PspHealthChanged{State: HealthDown}, "previous_state"},
		{"unknown enum", &PaymentResult{Operation: OpCharge, Status: "MAYBE"}, "status"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Encode(c.v)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestDecodeIntoWrongGoType(t *testing.T) {
	s := newEmbedded(t)
	b, _ := s.Encode(&CustomerAction{PaymentID: "p", Action: ActionCancel})
	for _, target := range []any{nil, &Candidate{}, CustomerAction{}, (*CustomerAction)(nil)} {
		err := s.Decode(b, target)
		var de *DecodeError
		if err == nil || errors.As(err, &de) {
			t.Errorf("%T: err %v; a caller bug must not look like bad input", target, err)
		}
	}
}

// Every kind of bad input gives a *DecodeError of the right kind, found with
// errors.As, with the stable reason code.
func TestDecodeErrorKinds(t *testing.T) {
	s := newEmbedded(t)
	mustEncode := func(v any) []byte {
		b, err := s.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := mustEncode(validRequest())
	withRequest := func(mut func(*PaymentRequested)) []byte {
		p := validRequest()
		mut(p)
		return mustEncode(p)
	}
	pan := testPAN(t)

	// A map block claiming 2^30 entries where metadata starts: must fail
	// cleanly instead of allocating gigabytes.
	var hugeBlock []byte
	{
		p := validRequest()
		p.Metadata = nil
		b := mustEncode(p)
		// metadata (empty map: one 0x00 byte) is followed by requested_at_ms.
		tail := binary.AppendVarint(nil, p.RequestedAtMs)
		cut := len(b) - len(tail) - 1
		hugeBlock = append(append([]byte{}, b[:cut]...), binary.AppendVarint(nil, 1<<30)...)
	}

	cases := []struct {
		name   string
		input  []byte
		kind   DecodeErrorKind
		reason string
		field  string
		card   bool
	}{
		{"garbage bytes", []byte("definitely not avro"), KindMalformed, "malformed", "", false},
		{"empty", nil, KindMalformed, "malformed", "", false},
		{"header only, shorter than 5 bytes", []byte{0, 0, 0}, KindMalformed, "malformed", "", false},
		{"wrong magic byte", append([]byte{1}, good[1:]...), KindMalformed, "malformed", "", false},
		{"truncated avro", good[:len(good)/2], KindMalformed, "malformed", "", false},
		{"header without body", good[:5], KindMalformed, "malformed", "", false},
		{"trailing bytes", append(append([]byte{}, good...), 0x02, 0x04), KindMalformed, "malformed", "", false},
		{"huge block count", hugeBlock, KindMalformed, "malformed", "", false},
		{"unknown schema id", append([]byte{0, 0, 0, 0, 99}, good[5:]...), KindUnknownSchema, "unknown_schema", "", false},
		{"customer action as payment requested", mustEncode(&CustomerAction{PaymentID: "p", Action: ActionRetry}), KindWrongSchema, "wrong_schema", "", false},
		{"negative amount", withRequest(func(p *PaymentRequested) { p.AmountMinor = -5 }), KindInvalid, "invalid_field", "amount_minor", false},
		{"zero amount", withRequest(func(p *PaymentRequested) { p.AmountMinor = 0 }), KindInvalid, "invalid_field", "amount_minor", false},
		{"unknown currency", withRequest(func(p *PaymentRequested) { p.Currency = "XYZ" }), KindInvalid, "invalid_field", "currency", false},
		{"missing payment_id", withRequest(func(p *PaymentRequested) { p.PaymentID = "" }), KindInvalid, "invalid_field", "payment_id", false},
		{"card number in metadata", withRequest(func(p *PaymentRequested) { p.Metadata["note"] = "card " + pan }), KindInvalid, "invalid_field", "metadata.note", true},
		{"card number in token", withRequest(func(p *PaymentRequested) { p.PaymentMethod.Token = pan }), KindInvalid, "invalid_field", "payment_method.token", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := s.DecodePaymentRequested(c.input)
			t.Log(err)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %v (%T), want a *DecodeError", err, err)
			}
			if de.Kind != c.kind || de.Reason() != c.reason || de.Field != c.field {
				t.Fatalf("got kind %v reason %q field %q (%v), want %v %q %q", de.Kind, de.Reason(), de.Field, err, c.kind, c.reason, c.field)
			}
			if got := errors.Is(err, ErrCardData); got != c.card {
				t.Fatalf("errors.Is(ErrCardData) = %v", got)
			}
			if strings.Contains(err.Error(), pan) {
				t.Fatal("the error message repeats the card number")
			}
			if !strings.HasPrefix(err.Error(), "schemas: ") {
				t.Fatalf("message %q", err)
			}
			// A request that decoded is returned with its validation error,
			// so the caller can publish REJECTED for its payment_id.
			if (c.kind == KindInvalid) != (p != nil) {
				t.Fatalf("request returned: %v", p != nil)
			}
		})
	}
}

func TestDecodePaymentRequestedValid(t *testing.T) {
	s := newEmbedded(t)
	in := validRequest()
	b, _ := s.Encode(in)
	p, err := s.DecodePaymentRequested(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, in) {
		t.Fatalf("%+v", p)
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	err := error(&DecodeError{Kind: KindInvalid, Field: "amount_minor", Err: errors.New("must be > 0, got -5")})
	if got, want := err.Error(), "schemas: invalid field amount_minor: must be > 0, got -5"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	if got := (&DecodeError{Kind: KindUnknownSchema, Err: errors.New("schema id 99")}).Error(); got != "schemas: unknown schema: schema id 99" {
		t.Fatalf("%q", got)
	}
}

func TestConfigurationValidate(t *testing.T) {
	if err := DefaultConfiguration().Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []Configuration{
		{RegistryURLs: []string{"localhost:8081"}, RegistryTimeout: time.Second},
		{RegistryURLs: []string{""}, RegistryTimeout: time.Second},
		{RegistryPassword: "secret", RegistryTimeout: time.Second},
		{},
	}
	for _, c := range cases {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v): no error", c)
		}
	}
}

func TestRegistryMode(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	// Occupy the low ids so that registry ids cannot equal the fixed ones by
	// accident.
	for i := range 10 {
		schema := fmt.Sprintf(`{"type":"record","name":"Filler%d","namespace":"com.example","fields":[]}`, i)
		if _, _, err := reg.RegisterSchema(fmt.Sprintf("filler-%d", i), sr.Schema{Schema: schema}); err != nil {
			t.Fatal(err)
		}
	}

	a := newRegistrySerde(t, reg)
	ids := a.SchemaIDs()
	for _, name := range eventNames {
		ss, ok := reg.GetSchema(name, 1) // subject = full record name
		if !ok {
			t.Fatalf("subject %s not registered", name)
		}
		if ids[name] != ss.ID || ss.ID <= 10 {
			t.Fatalf("%s: serde id %d, registry id %d", name, ids[name], ss.ID)
		}
		if text, _ := SchemaText(name); recordName(ss.Schema.Schema) != name || !strings.Contains(ss.Schema.Schema, "doc") || len(ss.Schema.Schema) < len(text)/2 {
			t.Fatalf("%s: registered schema %.80s", name, ss.Schema.Schema)
		}
	}

	// A second instance against the same registry gets the same ids and reads
	// what the first wrote.
	b := newRegistrySerde(t, reg)
	if !reflect.DeepEqual(a.SchemaIDs(), b.SchemaIDs()) {
		t.Fatalf("ids differ: %v vs %v", a.SchemaIDs(), b.SchemaIDs())
	}
	for _, in := range fullEvents() {
		enc, err := a.Encode(in)
		if err != nil {
			t.Fatal(err)
		}
		name := eventOf(in).fullName()
		if got := int(binary.BigEndian.Uint32(enc[1:5])); enc[0] != 0 || got != ids[name] {
			t.Fatalf("%s: header % x, want id %d", name, enc[:5], ids[name])
		}
		out := newOf(in)
		if err := b.Decode(enc, out); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("%s changed across instances", name)
		}
	}

	// Register is idempotent.
	if err := a.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.SchemaIDs(), ids) {
		t.Fatal("ids changed on re-registration")
	}

	// Fixed ids mean nothing in registry mode.
	emb := newEmbedded(t)
	fixed, _ := emb.Encode(&CustomerAction{PaymentID: "p", Action: ActionRetry})
	var de *DecodeError
	if err := a.Decode(fixed, new(CustomerAction)); !errors.As(err, &de) || de.Kind != KindUnknownSchema {
		t.Fatalf("fixed id 5 (a filler schema here) decoded in registry mode: %v", err)
	}
}

// Records written with another version of a schema (a producer ahead of or
// behind payroute) are decoded with the writer schema from the registry and
// resolved: added fields are ignored, removed ones take their default.
func TestRegistryWriterSchemaResolution(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	s := newRegistrySerde(t, reg)

	// The producer's version: "recurring" removed, "channel" added.
	text, _ := SchemaText(NamePaymentRequested)
	evolved := strings.Replace(text,
		`{"name":"recurring","type":"boolean","doc":`,
		`{"name":"channel","type":"string","default":"","doc":"sales channel"},{"name":"recurring_unused","type":"boolean","doc":`, 1)
	if evolved == text {
		t.Fatal("fixture did not change the schema")
	}
	writerID, _, err := reg.RegisterSchema(NamePaymentRequested, sr.Schema{Schema: evolved})
	if err != nil {
		t.Fatal(err)
	}
	if writerID == s.SchemaIDs()[NamePaymentRequested] {
		t.Fatal("evolved schema got the same id")
	}
	writer, err := goavro.NewCodec(evolved)
	if err != nil {
		t.Fatal(err)
	}
	in := fullRequest()
	native := paymentRequestedToNative(&in)
	delete(native, "recurring")
	native["recurring_unused"] = true
	native["channel"] = "web"
	body, err := writer.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	framed := append(binary.BigEndian.AppendUint32([]byte{0}, uint32(writerID)), body...)

	var got PaymentRequested
	if err := s.Decode(framed, &got); err != nil {
		t.Fatal(err)
	}
	want := in
	want.Recurring = false // the reader's default for a field the writer lacks
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("resolved %+v", got)
	}
	// Encoding still uses this build's id.
	enc, _ := s.Encode(&in)
	if id := int(binary.BigEndian.Uint32(enc[1:5])); id != s.SchemaIDs()[NamePaymentRequested] {
		t.Fatalf("encode switched to id %d", id)
	}
	// The learned id knows its event type.
	var de *DecodeError
	if err := s.Decode(framed, new(PaymentResult)); !errors.As(err, &de) || de.Kind != KindWrongSchema {
		t.Fatalf("learned id as another type: %v", err)
	}

	// Ids that are not ours: absent from the registry, or another record.
	foreignID, _, err := reg.RegisterSchema("com.example.Other", sr.Schema{Schema: `{"type":"record","name":"Other","namespace":"com.example","fields":[{"name":"x","type":"string"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int{foreignID, 4242} {
		b := append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), 0x02, 'x')
		for range 2 { // the foreign one the second time from the negative cache
			if err := s.Decode(b, new(PaymentRequested)); !errors.As(err, &de) || de.Kind != KindUnknownSchema {
				t.Fatalf("id %d: %v", id, err)
			}
		}
	}
}

// A registry that cannot answer is not bad input: the error is transient and
// not a *DecodeError, so the consumer retries instead of parking the record.
func TestRegistryUnavailable(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	s := newRegistrySerde(t, reg)
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	b := append(binary.BigEndian.AppendUint32([]byte{0}, 777), 0x00)
	err := s.Decode(b, new(PaymentRequested))
	var de *DecodeError
	if !errors.Is(err, ErrRegistryUnavailable) || errors.As(err, &de) {
		t.Fatalf("err %v", err)
	}
	// Once the registry answers, the same id is classified for good.
	reg.ClearInterceptors()
	if err := s.Decode(b, new(PaymentRequested)); !errors.As(err, &de) || de.Kind != KindUnknownSchema {
		t.Fatalf("after recovery: %v", err)
	}

	// No registry at start: New fails rather than encode with ids nobody knows.
	reg.Close()
	cfg := DefaultConfiguration()
	cfg.RegistryURLs = []string{reg.URL()}
	cfg.RegistryTimeout = time.Second
	if _, err := New(cfg); err == nil {
		t.Fatal("New succeeded without a registry")
	}
}

func TestConcurrentUse(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	s := newRegistrySerde(t, reg)
	text, _ := SchemaText(NameCustomerAction)
	evolved := strings.Replace(text, `"fields":[`, `"fields":[{"name":"extra","type":"string","default":""},`, 1)
	writerID, _, err := reg.RegisterSchema(NameCustomerAction, sr.Schema{Schema: evolved})
	if err != nil {
		t.Fatal(err)
	}
	writer, _ := goavro.NewCodec(evolved)
	body, _ := writer.BinaryFromNative(nil, map[string]any{"payment_id": "p", "action": "CANCEL", "extra": "e"})
	framed := append(binary.BigEndian.AppendUint32([]byte{0}, uint32(writerID)), body...)

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, in := range fullEvents() {
				b, err := s.Encode(in)
				if err != nil {
					t.Error(err)
					return
				}
				if err := s.Decode(b, newOf(in)); err != nil {
					t.Error(err)
					return
				}
			}
			var ca CustomerAction
			if err := s.Decode(framed, &ca); err != nil || ca.Action != ActionCancel {
				t.Error(err, ca)
			}
			_ = s.SchemaIDs()
		}()
	}
	wg.Wait()
}
