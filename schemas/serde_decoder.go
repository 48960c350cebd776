package schemas

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strconv"
)

// The decoder of an event reads its Avro binary straight into the Go
// struct: the counterpart of the compiled encoder (serde_encoder.go).
// Through goavro, every input record became a map[string]any per record
// and nested record, every string and number boxed into an interface, and
// then a struct by looking each field up by name: about a hundred
// allocations and ten microseconds per PaymentRequested, on every record
// the processor and the sink read. The decoder is compiled once per event,
// at init, from the event's compiled encoder (so from the same schema
// text, with the struct already checked against it), and walks the struct
// with reflect, allocating only the strings, slices and maps it returns.
//
// It is also payroute's front line for bad input, so it accepts exactly
// what goavro's NativeFromBinary accepts, and decodes it to the same
// struct (the tests compare the two on the committed corpus, fixtures,
// seeded random events and their mutations, and a differential fuzz
// target). In particular, like goavro:
//
//   - a varint may be longer than ten bytes: its bits past the 64th are
//     dropped (an "overlong" varint is not an error), and an int is the
//     low 32 bits of the long;
//   - strings are not checked for UTF-8 (validation judges their content);
//   - an array or map block count may be negative, in which case a block
//     byte size follows and is ignored; a block of more than
//     maxAvroBlockCount items is refused; map keys must be unique;
//   - a boolean is the byte 0 or 1, an enum index must name a symbol.
//
// And it refuses, with an error rather than a panic or an allocation, a
// negative string length or one past the bytes left, a truncated varint,
// double or boolean, a block claiming more items than the bytes left could
// hold (every item takes at least minSize bytes, so such a block would run
// out of input anyway: checking first keeps an attacker's count from
// sizing an allocation), and bytes left after the record.
//
// Its errors name the field and what is wrong. Like goavro's, they quote
// the numbers read (a length, a block count, an enum index), which can be
// card-number shaped: the consumer path redacts those (RedactPAN) before
// an error reaches a result, a log or a dead letter. They never quote a
// string read from the input (goavro quoted a duplicate map key).

// valueDecoder reads one value of one Avro type into a Go value.
type valueDecoder struct {
	kind avroKind
	// int32 is set for an Avro int (avroLong decodes both): the value is
	// the low 32 bits of the long, as goavro's.
	int32 bool
	// symbols are an enum's symbols, in schema order.
	symbols []string
	// fields are a record's fields, in schema order.
	fields []fieldDecoder
	// elem reads an array's items; for a map, the values are strings.
	elem *valueDecoder
	// minSize is the fewest bytes one value takes: a block of n items
	// needs at least n*elem.minSize bytes.
	minSize int
}

// fieldDecoder reads one field of a record into its struct field.
type fieldDecoder struct {
	name  string // the Avro field name
	index int    // the struct field's index
	dec   *valueDecoder
}

// decodeError is a decoding failure: what is wrong, and the dotted path
// of the field it is in (built while unwinding, so only on failure).
type decodeError struct {
	path string
	msg  string
}

func (e *decodeError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return "field " + e.path + ": " + e.msg
}

// decodeFail returns a new error each time: within writes its path.
func decodeFail(msg string) error { return &decodeError{msg: msg} }

// within prefixes the path of err with name (a field or an item index).
func within(err error, name string) error {
	if de, ok := err.(*decodeError); ok {
		switch {
		case de.path == "":
			de.path = name
		case de.path[0] == '[':
			de.path = name + de.path
		default:
			de.path = name + "." + de.path
		}
	}
	return err
}

// decodeRecord decodes payload, the Avro binary of one record, into *p (a
// pointer to the struct the decoder was compiled for). Bytes left after
// the record are an error. On error *p is partly written: the caller
// decodes into a value it discards on error (see event.decodeFn).
func (d *valueDecoder) decodeRecord(payload []byte, p any) error {
	rest, err := d.decode(payload, reflect.ValueOf(p).Elem())
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return decodeFail(strconv.Itoa(len(rest)) + " bytes left after the record")
	}
	return nil
}

// readLong reads one zig-zag varint the way goavro does: any number of
// continuation bytes, bits past the 64th dropped.
func readLong(b []byte) (int64, []byte, error) {
	var u uint64
	var shift uint
	for i, c := range b {
		u |= uint64(c&0x7f) << shift // a shift of 64 or more adds nothing
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), b[i+1:], nil
		}
		shift += 7
	}
	return 0, nil, decodeFail("truncated varint")
}

// readLength reads a string's or bytes' length and checks it against the
// bytes left.
func readLength(b []byte) (int, []byte, error) {
	n, b, err := readLong(b)
	switch {
	case err != nil:
		return 0, nil, err
	case n < 0:
		return 0, nil, decodeFail("negative length " + strconv.FormatInt(n, 10))
	case n > int64(len(b)):
		return 0, nil, decodeFail("length " + strconv.FormatInt(n, 10) + " past the " + strconv.Itoa(len(b)) + " bytes left")
	}
	return int(n), b, nil
}

// readBlockCount reads the item count of an array or map block, and the
// byte size that follows a negative count. A count of 0 ends the array or
// map. A count over maxAvroBlockCount, or of more items of minSize bytes
// than the bytes left hold, is an error.
func readBlockCount(b []byte, minSize int) (int, []byte, error) {
	n, b, err := readLong(b)
	if err != nil {
		return 0, nil, err
	}
	if n < 0 {
		if n == math.MinInt64 {
			return 0, nil, decodeFail("invalid block count " + strconv.FormatInt(n, 10))
		}
		n = -n
		if _, b, err = readLong(b); err != nil { // the block's byte size, unused
			return 0, nil, err
		}
	}
	switch {
	case n > maxAvroBlockCount:
		return 0, nil, decodeFail("block of " + strconv.FormatInt(n, 10) + " items, more than the " + strconv.Itoa(maxAvroBlockCount) + " allowed")
	case n*int64(minSize) > int64(len(b)):
		return 0, nil, decodeFail("block of " + strconv.FormatInt(n, 10) + " items, more than the " + strconv.Itoa(len(b)) + " bytes left hold")
	}
	return int(n), b, nil
}

// decode reads one value into v (settable) and returns the bytes after it.
func (d *valueDecoder) decode(b []byte, v reflect.Value) ([]byte, error) {
	switch d.kind {
	case avroString:
		n, b, err := readLength(b)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			v.SetString(string(b[:n]))
		} else {
			v.SetString("")
		}
		return b[n:], nil
	case avroBytes:
		n, b, err := readLength(b)
		if err != nil {
			return nil, err
		}
		v.SetBytes(append([]byte{}, b[:n]...)) // a copy: the input is the caller's
		return b[n:], nil
	case avroLong:
		n, b, err := readLong(b)
		if err != nil {
			return nil, err
		}
		if d.int32 {
			n = int64(int32(n))
		}
		v.SetInt(n)
		return b, nil
	case avroBoolean:
		if len(b) == 0 {
			return nil, decodeFail("truncated boolean")
		}
		switch b[0] {
		case 0:
			v.SetBool(false)
		case 1:
			v.SetBool(true)
		default:
			return nil, decodeFail("boolean byte " + strconv.Itoa(int(b[0])) + " is neither 0 nor 1")
		}
		return b[1:], nil
	case avroFloat:
		if len(b) < 4 {
			return nil, decodeFail("truncated float")
		}
		v.SetFloat(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
		return b[4:], nil
	case avroDouble:
		if len(b) < 8 {
			return nil, decodeFail("truncated double")
		}
		v.SetFloat(math.Float64frombits(binary.LittleEndian.Uint64(b)))
		return b[8:], nil
	case avroEnum:
		i, b, err := readLong(b)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(d.symbols)) {
			return nil, decodeFail("enum index " + strconv.FormatInt(i, 10) + " is not one of the " + strconv.Itoa(len(d.symbols)) + " symbols")
		}
		v.SetString(d.symbols[i])
		return b, nil
	case avroRecord:
		var err error
		for i := range d.fields {
			f := &d.fields[i]
			if b, err = f.dec.decode(b, v.Field(f.index)); err != nil {
				return nil, within(err, f.name)
			}
		}
		return b, nil
	case avroArray:
		return d.decodeArray(b, v)
	case avroMap:
		return d.decodeMap(b, v)
	}
	return nil, fmt.Errorf("unknown decoder kind %d", d.kind)
}

// decodeArray reads the blocks of an array into the slice v. No items
// leave v nil, as goavro's empty array became.
func (d *valueDecoder) decodeArray(b []byte, v reflect.Value) ([]byte, error) {
	v.SetZero()
	total := 0
	for {
		n, rest, err := readBlockCount(b, d.elem.minSize)
		if err != nil {
			return nil, err
		}
		b = rest
		if n == 0 {
			return b, nil
		}
		if total == 0 {
			v.Set(reflect.MakeSlice(v.Type(), n, n))
		} else {
			v.Grow(n)
			v.SetLen(total + n)
		}
		for i := total; i < total+n; i++ {
			if b, err = d.elem.decode(b, v.Index(i)); err != nil {
				return nil, within(err, "["+strconv.Itoa(i)+"]")
			}
		}
		total += n
	}
}

// decodeMap reads the blocks of a map of strings into the
// map[string]string v. No entries leave v nil, as goavro's empty map
// became; a key seen twice is an error.
func (d *valueDecoder) decodeMap(b []byte, v reflect.Value) ([]byte, error) {
	v.SetZero()
	var m map[string]string
	for {
		n, rest, err := readBlockCount(b, mapEntryMinSize)
		if err != nil {
			return nil, err
		}
		b = rest
		if n == 0 {
			if m != nil {
				v.Set(reflect.ValueOf(m))
			}
			return b, nil
		}
		if m == nil {
			m = make(map[string]string, n)
		}
		for range n {
			kn, rest, err := readLength(b)
			if err != nil {
				return nil, within(err, "key")
			}
			key := rest[:kn]
			if _, dup := m[string(key)]; dup {
				return nil, decodeFail("a key appears twice") // not quoted: it is input
			}
			vn, rest, err := readLength(rest[kn:])
			if err != nil {
				return nil, within(err, "value")
			}
			m[string(key)] = string(rest[:vn])
			b = rest[vn:]
		}
	}
}

// mapEntryMinSize is the fewest bytes of a map entry: a key length and a
// value length.
const mapEntryMinSize = 2

// compileDecoder compiles the decoder of the values enc writes, for Go
// type t (the type enc was compiled for).
func compileDecoder(enc *valueEncoder, t reflect.Type) (*valueDecoder, error) {
	d := &valueDecoder{kind: enc.kind, minSize: 1}
	switch enc.kind {
	case avroString, avroBytes, avroBoolean, avroEnum:
		d.symbols = enc.symbols
	case avroLong:
		d.int32 = t.Kind() == reflect.Int32
	case avroFloat:
		d.minSize = 4
	case avroDouble:
		d.minSize = 8
	case avroRecord:
		d.minSize = 0
		for _, f := range enc.fields {
			fd, err := compileDecoder(f.enc, t.Field(f.index).Type)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
			d.fields = append(d.fields, fieldDecoder{name: f.name, index: f.index, dec: fd})
			d.minSize += fd.minSize
		}
		if d.minSize == 0 {
			// A record without fields takes no bytes, so a block count
			// could not be checked against the bytes left.
			return nil, fmt.Errorf("record %s has no fields", enc.name)
		}
	case avroArray:
		elem, err := compileDecoder(enc.elem, t.Elem())
		if err != nil {
			return nil, fmt.Errorf("items: %w", err)
		}
		d.elem = elem
	case avroMap:
		if t != mapOfStrings {
			return nil, fmt.Errorf("a map decodes into map[string]string only, not %s", t)
		}
	default:
		return nil, fmt.Errorf("unknown encoder kind %d", enc.kind)
	}
	return d, nil
}
