// Package producers owns everything payroute writes to Kafka: the records a
// processed payment emits (results, attempts, retries, dead letters), and the
// load generator that plays an upstream service in the demo and benchmarks.
//
// Building a record and producing it are separate on purpose: the processor
// collects every output of one input record first and produces them together,
// so that it can commit the input's offset only after all of them are
// acknowledged (and, later, inside one Kafka transaction).
package producers

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// Header names set on dead-lettered records. They are part of payroute's
// contract with whoever drains the DLQ.
const (
	HeaderDLQReason    = "payroute.dlq.reason"   // short machine code, e.g. "invalid_field"
	HeaderDLQError     = "payroute.dlq.error"    // human-readable error
	HeaderDLQField     = "payroute.dlq.field"    // the offending field, when known
	HeaderSourceTopic  = "payroute.source.topic" // where the record was read
	HeaderSourcePart   = "payroute.source.partition"
	HeaderSourceOffset = "payroute.source.offset"
	HeaderEventType    = "payroute.event.type" // the Avro record name of the value
	// HeaderDLQWithheld is set, to "card_data", when the value was not copied
	// because it carries what looks like a card number.
	HeaderDLQWithheld = "payroute.dlq.withheld"
)

// Records builds the Kafka records of payroute's outputs.
type Records struct {
	serde  *schemas.Serde
	topics kafka.Topics
}

// NewRecords builds records with serde on the given topics.
func NewRecords(serde *schemas.Serde, topics kafka.Topics) *Records {
	return &Records{serde: serde, topics: topics}
}

func (r *Records) record(topic, key, eventType string, v any) (*kgo.Record, error) {
	b, err := r.serde.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s for %s: %w", eventType, topic, err)
	}
	return &kgo.Record{
		Topic:   topic,
		Key:     []byte(key),
		Value:   b,
		Headers: []kgo.RecordHeader{{Key: HeaderEventType, Value: []byte(eventType)}},
	}, nil
}

// Result is the final result of a payment on payments.results.
func (r *Records) Result(res *schemas.PaymentResult) (*kgo.Record, error) {
	return r.record(r.topics.Results, res.PaymentID, "PaymentResult", res)
}

// Attempt is one AttemptRecorded on payments.attempts.
func (r *Records) Attempt(a *schemas.AttemptRecorded) (*kgo.Record, error) {
	return r.record(r.topics.Attempts, a.PaymentID, "AttemptRecorded", a)
}

// Retry is an AttemptFailed on the retry topic of its NextRank.
func (r *Records) Retry(f *schemas.AttemptFailed) (*kgo.Record, error) {
	topic, ok := r.topics.Retry[int(f.NextRank)]
	if !ok {
		return nil, fmt.Errorf("no retry topic for rank %d", f.NextRank)
	}
	return r.record(topic, f.PaymentID, "AttemptFailed", f)
}

// ScheduledRetry is an AttemptFailed on a delay tier topic: a retry that
// must not run before f.DueAtMs.
func (r *Records) ScheduledRetry(topic string, f *schemas.AttemptFailed) (*kgo.Record, error) {
	return r.record(topic, f.PaymentID, "AttemptFailed", f)
}

// Requested is a PaymentRequested on payments.requested, as an upstream
// service publishes it.
func (r *Records) Requested(p *schemas.PaymentRequested) (*kgo.Record, error) {
	return r.record(r.topics.Requested, p.PaymentID, "PaymentRequested", p)
}

// DeadLetter copies a bad input record, key, value and headers untouched, to
// payments.dlq with why it was refused. The raw bytes are kept so the record
// can be inspected or replayed once the producer is fixed. The one exception
// is a value refused because it carries what looks like a card number
// (schemas.ErrCardData): copying it would spread the card number to the DLQ,
// so the value is withheld and only the reason and source offsets are kept.
func (r *Records) DeadLetter(src *kgo.Record, reason, field string, cause error) *kgo.Record {
	headers := append([]kgo.RecordHeader(nil), src.Headers...)
	value := src.Value
	if errors.Is(cause, schemas.ErrCardData) {
		value = nil
		headers = append(headers, kgo.RecordHeader{Key: HeaderDLQWithheld, Value: []byte("card_data")})
	}
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(src.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePart, Value: []byte(strconv.Itoa(int(src.Partition)))},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(src.Offset, 10))},
	)
	if cause != nil {
		headers = append(headers, kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(cause.Error())})
	}
	if field != "" {
		headers = append(headers, kgo.RecordHeader{Key: HeaderDLQField, Value: []byte(field)})
	}
	return &kgo.Record{Topic: r.topics.DLQ, Key: src.Key, Value: value, Headers: headers}
}

// HeaderValue returns the value of the last header named key, or "".
func HeaderValue(rec *kgo.Record, key string) string {
	for i := len(rec.Headers) - 1; i >= 0; i-- {
		if rec.Headers[i].Key == key {
			return string(rec.Headers[i].Value)
		}
	}
	return ""
}
