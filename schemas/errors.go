package schemas

import (
	"errors"
	"fmt"
)

// DecodeErrorKind says why a record could not be turned into a valid event.
// Every kind is permanent: decoding the same bytes again gives the same
// error, so the consumer's job is to park the record (payments.dlq), not to
// retry it.
type DecodeErrorKind int

const (
	// KindMalformed: no Confluent framing (missing magic byte, shorter than
	// the 5-byte header), or Avro that does not decode with the schema the
	// header names (truncated, garbage, trailing bytes).
	KindMalformed DecodeErrorKind = iota + 1
	// KindUnknownSchema: the schema id in the header is not one of ours (in
	// registry mode: the registry does not know it, or it is not a payroute
	// event, or it cannot be read with this build's schema).
	KindUnknownSchema
	// KindWrongSchema: a payroute schema, but of another event type than the
	// caller expected (a CustomerAction on payments.requested).
	KindWrongSchema
	// KindInvalid: decoded fine but failed validation; Field names the field.
	KindInvalid
)

// String is the same stable code as DecodeError.Reason.
func (k DecodeErrorKind) String() string {
	switch k {
	case KindMalformed:
		return "malformed"
	case KindUnknownSchema:
		return "unknown_schema"
	case KindWrongSchema:
		return "wrong_schema"
	case KindInvalid:
		return "invalid_field"
	default:
		return fmt.Sprintf("DecodeErrorKind(%d)", int(k))
	}
}

// DecodeError is every error Decode, DecodePaymentRequested and Validate
// return because of the input. Callers branch with errors.As:
//
//	var de *schemas.DecodeError
//	if errors.As(err, &de) {
//		// park the record with header reason=de.Reason(), field=de.Field
//	}
//
// Error texts never contain field values that could be card data, so both
// Error() and Field are safe to put in logs and Kafka headers.
type DecodeError struct {
	Kind DecodeErrorKind
	// Field is the dotted path of the offending field for KindInvalid
	// ("amount_minor", "payment_method.token", "metadata.order_ref"); empty
	// for the other kinds.
	Field string
	// Err is the underlying cause.
	Err error
}

// Error describes the problem in one line.
func (e *DecodeError) Error() string {
	var b []byte
	b = append(b, "schemas: "...)
	switch e.Kind {
	case KindMalformed:
		b = append(b, "malformed record"...)
	case KindUnknownSchema:
		b = append(b, "unknown schema"...)
	case KindWrongSchema:
		b = append(b, "wrong schema"...)
	case KindInvalid:
		b = append(b, "invalid"...)
	default:
		b = append(b, e.Kind.String()...)
	}
	if e.Field != "" {
		b = append(b, " field "...)
		b = append(b, e.Field...)
	}
	if e.Err != nil {
		b = append(b, ": "...)
		b = append(b, e.Err.Error()...)
	}
	return string(b)
}

// Unwrap exposes the cause (e.g. ErrCardData).
func (e *DecodeError) Unwrap() error { return e.Err }

// Reason is a short stable machine code for a Kafka header or a metric label:
// "malformed", "unknown_schema", "wrong_schema" or "invalid_field".
func (e *DecodeError) Reason() string { return e.Kind.String() }

// ErrCardData is the cause (errors.Is) of a KindInvalid error for a value that
// looks like a card number. The raw record then holds card data: do not copy
// it into the DLQ or logs as it is, whatever other invalid input gets.
var ErrCardData = errors.New("looks like a card number (13-19 digits passing the Luhn check)")

// ErrRegistryUnavailable is wrapped by decode errors that are NOT about the
// input: in registry mode a record names a schema id this process has not
// seen, and the registry could not be asked about it. Such an error is
// transient, so it is deliberately not a *DecodeError: retry the record
// later, do not park it.
var ErrRegistryUnavailable = errors.New("schema registry unavailable")

func malformed(err error) *DecodeError {
	return &DecodeError{Kind: KindMalformed, Err: err}
}

func invalid(field string, format string, args ...any) *DecodeError {
	return &DecodeError{Kind: KindInvalid, Field: field, Err: fmt.Errorf(format, args...)}
}
