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
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// Header names set on dead-lettered records. They are part of payroute's
// contract with whoever drains the DLQ.
const (
	HeaderDLQReason    = "payroute.dlq.reason"   // short machine code, e.g. "invalid_field"
	HeaderDLQError     = "payroute.dlq.error"    // human-readable error, at most MaxDLQErrorBytes
	HeaderDLQField     = "payroute.dlq.field"    // the offending field, when known
	HeaderSourceTopic  = "payroute.source.topic" // where the record was read
	HeaderSourcePart   = "payroute.source.partition"
	HeaderSourceOffset = "payroute.source.offset"
	HeaderEventType    = "payroute.event.type" // the Avro record name of the value
	// HeaderDLQWithheld is set when the value was not copied: to
	// WithheldCardData or WithheldOversized.
	HeaderDLQWithheld = "payroute.dlq.withheld"
)

// HeaderReplay is set on a result that answers a duplicate request by
// republishing the result already published for that payment (value
// "duplicate_request"): a copy, not a second result. Consumers that count
// results skip it (the analytics sink does).
const HeaderReplay = "payroute.replay"

// Values of HeaderDLQWithheld.
const (
	// WithheldCardData: the value carries what looks like a card number.
	WithheldCardData = "card_data"
	// WithheldOversized: the dead letter would not fit in
	// kafka.MaxRecordBatchBytes with the value.
	WithheldOversized = "oversized"
)

// MaxDLQErrorBytes bounds the payroute.dlq.error and payroute.dlq.field
// headers, and error text in other outputs (ErrorText). Decoder errors can
// quote the input (goavro's messages include the offending value), and a
// header as large as the record it explains could itself push the dead
// letter over the size limit.
const MaxDLQErrorBytes = 1024

// Records builds the Kafka records of payroute's outputs.
type Records struct {
	serde  *schemas.Serde
	topics kafka.Topics
}

// NewRecords builds records with serde on the given topics.
func NewRecords(serde *schemas.Serde, topics kafka.Topics) *Records {
	return &Records{serde: serde, topics: topics}
}

// record builds one output record in three allocations, whatever the
// event:
//
//   - the value, framed, at its exact size (schemas.Serde.Encode encodes
//     into a pooled scratch buffer and copies out);
//   - the key and the event type header's value, in one buffer;
//   - the kgo.Record together with its header array, sized for the event
//     type header and a traceparent, which the processor appends when the
//     input carried one (more headers than that reallocate, correctly).
//
// Nothing is reused across records: kgo holds a record's key, value and
// headers until its produce promise fires, long after record returned,
// so a pooled buffer could not be handed out again safely. The key is
// capped at its own length, so an append to it never writes into the
// header's value.
func (r *Records) record(topic, key, eventType string, v any) (*kgo.Record, error) {
	value, err := r.serde.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s for %s: %w", eventType, topic, err)
	}
	buf := make([]byte, 0, len(key)+len(eventType))
	buf = append(append(buf, key...), eventType...)
	k := len(key)
	blk := &recordBlock{}
	blk.headers[0] = kgo.RecordHeader{Key: HeaderEventType, Value: buf[k:]}
	blk.rec = kgo.Record{Topic: topic, Key: buf[:k:k], Value: value, Headers: blk.headers[:1]}
	return &blk.rec, nil
}

// recordBlock is a record and its headers in one allocation (see record).
type recordBlock struct {
	rec     kgo.Record
	headers [2]kgo.RecordHeader
}

// Free text in outputs (a result's reason, an attempt's message) comes from
// error messages and PSP answers, which can quote a card number: the
// records below carry it through schemas.RedactPAN. The caller's value is
// left as it is.

// Result is the final result of a payment on payments.results.
func (r *Records) Result(res *schemas.PaymentResult) (*kgo.Record, error) {
	if red := schemas.RedactPAN(res.Reason); red != res.Reason {
		c := *res
		c.Reason = red
		res = &c
	}
	return r.record(r.topics.Results, res.PaymentID, "PaymentResult", res)
}

// Attempt is one AttemptRecorded on payments.attempts.
func (r *Records) Attempt(a *schemas.AttemptRecorded) (*kgo.Record, error) {
	if red := schemas.RedactPAN(a.Message); red != a.Message {
		c := *a
		c.Message = red
		a = &c
	}
	return r.record(r.topics.Attempts, a.PaymentID, "AttemptRecorded", a)
}

// Retry is an AttemptFailed on the retry topic of its NextRank.
func (r *Records) Retry(f *schemas.AttemptFailed) (*kgo.Record, error) {
	topic, ok := r.topics.Retry[int(f.NextRank)]
	if !ok {
		return nil, fmt.Errorf("no retry topic for rank %d", f.NextRank)
	}
	return r.record(topic, f.PaymentID, "AttemptFailed", redactFailed(f))
}

// ScheduledRetry is an AttemptFailed on a delay tier topic: a retry that
// must not run before f.DueAtMs.
func (r *Records) ScheduledRetry(topic string, f *schemas.AttemptFailed) (*kgo.Record, error) {
	return r.record(topic, f.PaymentID, "AttemptFailed", redactFailed(f))
}

func redactFailed(f *schemas.AttemptFailed) *schemas.AttemptFailed {
	if red := schemas.RedactPAN(f.Message); red != f.Message {
		c := *f
		c.Message = red
		return &c
	}
	return f
}

// Requested is a PaymentRequested on payments.requested, as an upstream
// service publishes it.
func (r *Records) Requested(p *schemas.PaymentRequested) (*kgo.Record, error) {
	return r.record(r.topics.Requested, p.PaymentID, "PaymentRequested", p)
}

// DeadLetter copies a bad input record, key, value and headers untouched, to
// payments.dlq with why it was refused. The raw bytes are kept so the record
// can be inspected or replayed once the producer is fixed. The exceptions:
//
//   - A value refused because it carries what looks like a card number
//     (schemas.ErrCardData) is withheld (WithheldCardData): copying it
//     would spread the card number to the DLQ.
//   - A value that would make the dead letter larger than
//     kafka.MaxRecordBatchBytes is withheld (WithheldOversized). A topic
//     may accept larger records than payroute produces, and the reason
//     headers add to the record's size: a dead letter that cannot be
//     produced fails the processor's batch, which then reads the same
//     record again, forever. If even without the value it would not fit
//     (a key or headers near the limit), the source's headers are dropped
//     too, then its key; the reason and the source offsets always stay.
//
// The error and the field are cut to MaxDLQErrorBytes, and any card number
// in them is redacted (schemas.RedactPAN): errors can quote the input.
func (r *Records) DeadLetter(src *kgo.Record, reason, field string, cause error) *kgo.Record {
	dl := &kgo.Record{Topic: r.topics.DLQ, Key: src.Key, Value: src.Value}
	copied := src.Headers
	withheld := ""
	if errors.Is(cause, schemas.ErrCardData) {
		dl.Value, withheld = nil, WithheldCardData
	}
	ours := []kgo.RecordHeader{
		{Key: HeaderDLQReason, Value: []byte(reason)},
		{Key: HeaderSourceTopic, Value: []byte(src.Topic)},
		{Key: HeaderSourcePart, Value: []byte(strconv.Itoa(int(src.Partition)))},
		{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(src.Offset, 10))},
	}
	if cause != nil {
		ours = append(ours, kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(ErrorText(cause))})
	}
	if field != "" {
		ours = append(ours, kgo.RecordHeader{Key: HeaderDLQField, Value: []byte(safeText(field))})
	}
	build := func() {
		dl.Headers = make([]kgo.RecordHeader, 0, len(copied)+1+len(ours))
		dl.Headers = append(dl.Headers, copied...)
		if withheld != "" {
			dl.Headers = append(dl.Headers, kgo.RecordHeader{Key: HeaderDLQWithheld, Value: []byte(withheld)})
		}
		dl.Headers = append(dl.Headers, ours...)
	}
	build()
	if fits(dl) {
		return dl
	}
	if withheld == "" {
		withheld = WithheldOversized
	}
	dl.Value = nil
	build()
	if !fits(dl) {
		copied = nil
		build()
	}
	if !fits(dl) {
		dl.Key = nil
	}
	return dl
}

// fits says whether rec, alone in a record batch, stays within
// kafka.MaxRecordBatchBytes as franz-go counts it before producing.
func fits(rec *kgo.Record) bool {
	return batchBytesBound(rec) <= int(kafka.MaxRecordBatchBytes)
}

// batchBytesBound is an upper bound of the size of a record batch holding
// rec alone (Kafka's record batch v2, which franz-go compares with
// kgo.ProducerBatchMaxBytes): the batch header, then the record's fields
// with every length and delta varint counted at its widest, so that any
// timestamp or position in the batch is covered.
func batchBytesBound(rec *kgo.Record) int {
	const (
		// array length 4, base offset 8, batch length 4, leader epoch 4,
		// magic 1, CRC 4, attributes 2, last offset delta 4, first and max
		// timestamps 8+8, producer id 8, producer epoch 2, base sequence 4,
		// record count 4
		batchHeader = 65
		varint      = 5  // widest zig-zag varint of an int32
		varlong     = 10 // widest zig-zag varint of an int64
		attributes  = 1
	)
	n := batchHeader + varint + attributes + varlong + varint + // length, attributes, timestamp and offset deltas
		varint + len(rec.Key) + varint + len(rec.Value) + varint // key, value, header count
	for _, h := range rec.Headers {
		n += varint + len(h.Key) + varint + len(h.Value)
	}
	return n
}

// ErrorText is how payroute writes an error's text into its outputs (a
// dead letter's headers, a REJECTED result's reason, logs): at most
// MaxDLQErrorBytes, card numbers redacted. Errors can quote their input
// (a decoder the bytes it choked on, a key check the key), so the raw text
// can be as large as a record and hold a card number.
func ErrorText(err error) string { return safeText(err.Error()) }

// safeText is s cut to MaxDLQErrorBytes with its card numbers redacted:
// before the cut, so that no number is cut to a prefix that no longer
// looks like one, and after it, since a cut through a longer digit run
// can leave one that does.
func safeText(s string) string {
	return schemas.RedactPAN(clip(schemas.RedactPAN(s), MaxDLQErrorBytes))
}

// clip cuts s to at most n bytes, on a UTF-8 boundary, marking the cut.
func clip(s string, n int) string {
	const mark = "…(truncated)"
	if len(s) <= n {
		return s
	}
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
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
