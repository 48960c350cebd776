package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"strconv"
	"strings"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// Schema ids of registry-less mode (Configuration.RegistryURLs empty, the
// embedded default). They are fixed forever because they are the contract
// with upstream producers that have no registry to ask: a producer frames a
// PaymentRequested as 0x00 0x00 0x00 0x00 0x01 followed by the Avro binary of
// SchemaText(NamePaymentRequested). An id is never reused: should an event
// ever need an incompatible schema in embedded mode, it gets a new id (7, 8,
// ...) and the old one keeps decoding the old layout.
//
// Retired ids are decoded, never written (retiredSchemas): 3 is
// AttemptRecorded before it had inquiries and in_doubt_ms, now 7; 4 is
// PaymentResult before it had action_url, now 8.
const (
	SchemaIDPaymentRequested = 1
	SchemaIDAttemptFailed    = 2
	SchemaIDCustomerAction   = 5
	SchemaIDPspHealthChanged = 6
	SchemaIDAttemptRecorded  = 7
	SchemaIDPaymentResult    = 8
)

// retiredFiles are the schema texts retired ids meant, one file per id
// (retired/<id>.json): exactly the self-contained text the release that
// wrote them used (SchemaText then), which registry-less mode needs to
// read their records, a backlog left by that release for one. They are
// read through goavro and schema resolution against today's schema, so
// the fields added since take their defaults.
//
//go:embed retired/*.json
var retiredFiles embed.FS

// retiredSchema is one retired id and the event its text is a version of.
type retiredSchema struct {
	id     int
	event  eventCodec
	writer *goavro.Codec
}

// retiredSchemas are the retired ids, loaded at init like the catalog: the
// input is embedded, so a failure is a bug of this package.
var retiredSchemas = mustLoadRetired()

func mustLoadRetired() []retiredSchema {
	names, err := fs.Glob(retiredFiles, "retired/*.json")
	if err != nil {
		panic("schemas: retired schemas: " + err.Error())
	}
	var out []retiredSchema
	for _, name := range names {
		id, err := strconv.Atoi(strings.TrimSuffix(path.Base(name), ".json"))
		if err != nil {
			panic("schemas: retired schema file " + name + ": want <id>.json")
		}
		text, err := retiredFiles.ReadFile(name)
		if err != nil {
			panic("schemas: retired schemas: " + err.Error())
		}
		e := eventByName(recordName(string(text)))
		if e == nil {
			panic("schemas: retired schema " + name + " is not a version of a payroute event")
		}
		writer, err := goavro.NewCodec(string(text))
		if err != nil {
			panic(fmt.Sprintf("schemas: retired schema %s does not compile: %v", name, err))
		}
		for _, live := range catalog {
			if live.fixedID() == id {
				panic(fmt.Sprintf("schemas: retired id %d is in use by %s", id, live.fullName()))
			}
		}
		out = append(out, retiredSchema{id: id, event: e, writer: writer})
	}
	return out
}

// eventCodec is one event type: its schema, its compiled reader codec, and
// the struct conversions. The generic event[T] implements it so that the
// Serde can treat the six types alike without reflection.
type eventCodec interface {
	fullName() string
	fixedID() int
	schemaText() string
	// owns reports whether v is a *T of this event.
	owns(v any) bool
	// register makes id encode and decode this event with its own schema.
	register(s *sr.Serde, id int)
	// registerWriter makes id decode this event from data written with
	// another version of its schema (registry mode only).
	registerWriter(s *sr.Serde, id int, writer *goavro.Codec)
}

type event[T any] struct {
	name  string
	id    int
	text  string
	codec *goavro.Codec
	// enc writes the event (serde_encoder.go); toNative is the reference
	// it is tested against, through codec.
	enc      *valueEncoder
	toNative func(*T) map[string]any
	// dec reads the event written with its own schema
	// (serde_decoder.go). fromNative, through goavro, reads it written
	// with another version of the schema learned from the registry, and
	// is the reference dec is tested against.
	dec        *valueDecoder
	fromNative func(nativeReader) T
}

// catalog lists the six event types in schema id order.
var catalog = []eventCodec{
	newEvent(NamePaymentRequested, SchemaIDPaymentRequested, paymentRequestedToNative, paymentRequestedFromNative),
	newEvent(NameAttemptFailed, SchemaIDAttemptFailed, attemptFailedToNative, attemptFailedFromNative),
	newEvent(NameAttemptRecorded, SchemaIDAttemptRecorded, attemptRecordedToNative, attemptRecordedFromNative),
	newEvent(NamePaymentResult, SchemaIDPaymentResult, paymentResultToNative, paymentResultFromNative),
	newEvent(NameCustomerAction, SchemaIDCustomerAction, customerActionToNative, customerActionFromNative),
	newEvent(NamePspHealthChanged, SchemaIDPspHealthChanged, pspHealthChangedToNative, pspHealthChangedFromNative),
}

func newEvent[T any](name string, id int, to func(*T) map[string]any, from func(nativeReader) T) *event[T] {
	text, ok := composedSchemas[name]
	if !ok {
		panic("schemas: no .avsc defines " + name)
	}
	codec, err := goavro.NewCodec(text)
	if err != nil {
		panic(fmt.Sprintf("schemas: %s does not compile: %v", name, err))
	}
	enc, err := compileEncoder(text, reflect.TypeFor[T]())
	if err != nil {
		panic(fmt.Sprintf("schemas: the encoder of %s does not compile: %v", name, err))
	}
	dec, err := compileDecoder(enc, reflect.TypeFor[T]())
	if err != nil {
		panic(fmt.Sprintf("schemas: the decoder of %s does not compile: %v", name, err))
	}
	return &event[T]{name: name, id: id, text: text, codec: codec, enc: enc, toNative: to, dec: dec, fromNative: from}
}

func eventByName(name string) eventCodec {
	for _, e := range catalog {
		if e.fullName() == name {
			return e
		}
	}
	return nil
}

func eventOf(v any) eventCodec {
	for _, e := range catalog {
		if e.owns(v) {
			return e
		}
	}
	return nil
}

func (e *event[T]) fullName() string   { return e.name }
func (e *event[T]) fixedID() int       { return e.id }
func (e *event[T]) schemaText() string { return e.text }

func (e *event[T]) owns(v any) bool {
	_, ok := v.(*T)
	return ok
}

func (e *event[T]) register(s *sr.Serde, id int) {
	s.Register(id, new(T),
		sr.AppendEncodeFn(e.appendEncode),
		sr.DecodeFn(e.decodeFn(id, e.codec)),
		sr.GenerateFn(func() any { return new(T) }),
	)
}

// writerOnly is the value type of decode-only registrations. sr.Serde maps
// each value type to the id Encode uses, so registering an older writer id
// under *T would make Encode write the old id.
type writerOnly struct{}

func (e *event[T]) registerWriter(s *sr.Serde, id int, writer *goavro.Codec) {
	s.Register(id, new(writerOnly),
		sr.DecodeFn(e.decodeFn(id, writer)),
		sr.GenerateFn(func() any { return new(T) }),
	)
}

func (e *event[T]) appendEncode(b []byte, v any) ([]byte, error) {
	p := v.(*T) // sr.Serde dispatches on the type registered for this id
	out, err := e.enc.encodeRecord(b, p)
	if err != nil {
		return nil, fmt.Errorf("schemas: encode %s: %w", e.name, err)
	}
	return out, nil
}

// decodeFn decodes data written with writer, which is this event's own codec
// except for older or newer schema versions learned from the registry. Its
// own schema's data goes through the compiled decoder; other versions
// through goavro and schema resolution (goavroDecode).
func (e *event[T]) decodeFn(id int, writer *goavro.Codec) func([]byte, any) error {
	return func(payload []byte, v any) error {
		dst, ok := v.(*T)
		if !ok {
			want := fmt.Sprintf("%T", v)
			if other := eventOf(v); other != nil {
				want = other.fullName()
			}
			return &DecodeError{Kind: KindWrongSchema, Err: fmt.Errorf("schema id %d is %s, expected %s", id, e.name, want)}
		}
		if writer != e.codec {
			return e.goavroDecode(id, writer, payload, dst)
		}
		// Decoded in place, and put back as it was on error: a failed
		// Decode leaves the caller's value untouched, as it always has.
		old := *dst
		var zero T
		*dst = zero
		if err := e.dec.decodeRecord(payload, dst); err != nil {
			*dst = old
			return malformed(fmt.Errorf("schema id %d (%s): %w", id, e.name, err))
		}
		return nil
	}
}

// goavroDecode decodes data written with writer through goavro's native
// values and the *FromNative conversions: the path of schema versions
// learned from the registry, and the reference the compiled decoder is
// tested against (with writer = e.codec). *dst is written only on success.
func (e *event[T]) goavroDecode(id int, writer *goavro.Codec, payload []byte, dst *T) error {
	native, rest, err := writer.NativeFromBinary(payload)
	if err != nil {
		return malformed(fmt.Errorf("schema id %d (%s): %w", id, e.name, err))
	}
	if len(rest) > 0 {
		return malformed(fmt.Errorf("schema id %d (%s): %d bytes left after the record", id, e.name, len(rest)))
	}
	if writer != e.codec {
		if native, err = e.resolve(native); err != nil {
			return &DecodeError{Kind: KindUnknownSchema, Err: fmt.Errorf("schema id %d (a version of %s) cannot be read with this build's schema: %w", id, e.name, err)}
		}
	}
	m, ok := native.(map[string]any)
	if !ok {
		return malformed(fmt.Errorf("schema id %d (%s): decoded %T, want a record", id, e.name, native))
	}
	r := newNativeReader(m)
	val := e.fromNative(r)
	if *r.err != nil {
		return malformed(fmt.Errorf("schema id %d (%s): %w", id, e.name, *r.err))
	}
	*dst = val
	return nil
}

// resolve turns a record decoded with another version of the schema into one
// of this build's schema. goavro has no Avro schema resolution, but its
// encoder fills fields the native map lacks from the reader schema's defaults
// and ignores fields the reader schema lacks, which is resolution for the
// changes our compatibility rules allow (fields added or removed with
// defaults). A symbol this build does not know is an error.
func (e *event[T]) resolve(native any) (any, error) {
	b, err := e.codec.BinaryFromNative(nil, native)
	if err != nil {
		return nil, err
	}
	out, _, err := e.codec.NativeFromBinary(b)
	return out, err
}

// maxAvroBlockCount caps how many items goavro accepts in one array or map
// block. goavro preallocates a block's items before reading them, with a
// default cap of 2^31-1, so five garbage bytes claiming a two-billion-item
// block would allocate tens of gigabytes and crash the consumer: exactly the
// "invalid input crashes a partition" failure payroute must not have. No
// payroute record comes near 65536 items (metadata and candidates are capped
// at 64), and a Kafka record is a megabyte by default.
//
// The compiled decoder (serde_decoder.go) refuses the same blocks, so that
// both accept the same records; it also checks a count against the bytes
// left before allocating for it. The cap is goavro's package variable, so
// it applies process-wide; it is only ever lowered here, never raised over
// a stricter setting.
const maxAvroBlockCount = 1 << 16

func init() {
	if goavro.MaxBlockCount > maxAvroBlockCount {
		goavro.MaxBlockCount = maxAvroBlockCount
	}
}
