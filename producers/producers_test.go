package producers

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

func newRecords(t *testing.T) *Records {
	t.Helper()
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	return NewRecords(serde, kafka.DefaultConfiguration().Topics())
}

func TestGeneratedStreamIsReproducibleAndValid(t *testing.T) {
	cfg := DefaultGeneratorConfiguration()
	g1, err := NewGenerator(cfg, newRecords(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	g2, _ := NewGenerator(cfg, newRecords(t), nil)
	r1 := rand.New(rand.NewPCG(cfg.Seed, 0x9a7))
	r2 := rand.New(rand.NewPCG(cfg.Seed, 0x9a7))
	counts := map[string]int{}
	const n = 20000
	for i := 0; i < n; i++ {
		a, b := g1.Payment(r1, i), g2.Payment(r2, i)
		if a.PaymentID != b.PaymentID || a.PaymentMethod.Token != b.PaymentMethod.Token || a.AmountMinor != b.AmountMinor {
			t.Fatalf("payment %d differs between two generators with one seed", i)
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("generated payment %d is invalid: %v", i, err)
		}
		counts[a.PaymentMethod.Token]++
	}
	for tok, share := range cfg.Tokens {
		got := float64(counts[tok]) / n
		if got < share-0.01 || got > share+0.01 {
			t.Errorf("token %s share %.3f, want %.3f ± 0.01", tok, got, share)
		}
	}
}

func TestGeneratorConfigurationNeedsABound(t *testing.T) {
	cfg := DefaultGeneratorConfiguration()
	cfg.Payments = 0
	if err := cfg.Validate(); err == nil {
		t.Fatal("a generator with neither payments nor duration never ends")
	}
}

func TestDeadLetterKeepsRecordAndSaysWhy(t *testing.T) {
	r := newRecords(t)
	src := &kgo.Record{Topic: "payments.requested", Partition: 2, Offset: 41, Key: []byte("p-1"), Value: []byte("raw"),
		Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-abc")}}}
	dl := r.DeadLetter(src, "invalid_field", "amount_minor", errors.New("amount_minor: must be > 0"))
	if dl.Topic != "payments.dlq" || string(dl.Key) != "p-1" || string(dl.Value) != "raw" {
		t.Fatalf("dead letter %s %q %q", dl.Topic, dl.Key, dl.Value)
	}
	for k, want := range map[string]string{
		HeaderDLQReason: "invalid_field", HeaderDLQField: "amount_minor", HeaderSourceTopic: "payments.requested",
		HeaderSourcePart: "2", HeaderSourceOffset: "41", "traceparent": "00-abc",
	} {
		if got := HeaderValue(dl, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
}

func TestDeadLetterWithholdsCardData(t *testing.T) {
	r := newRecords(t)
	src := &kgo.Record{Topic: "payments.requested", Key: []byte("p-2"), Value: []byte("value with a card number")}
	cause := fmt.Errorf("metadata: %w", schemas.ErrCardData)
	dl := r.DeadLetter(src, "invalid_field", "metadata", cause)
	if dl.Value != nil {
		t.Fatalf("value carrying card data was copied to the DLQ")
	}
	if HeaderValue(dl, HeaderDLQWithheld) != "card_data" {
		t.Fatalf("withheld header missing: %v", dl.Headers)
	}
}

// An output record carries its event, keyed by payment id, with the event
// type header; its key, value and headers are its own: changing or
// appending to one record's leaves the other fields and other records as
// they were (kgo keeps them until the record is produced).
func TestOutputRecordsAreSelfContained(t *testing.T) {
	r := newRecords(t)
	res := &schemas.PaymentResult{PaymentID: "pay-1", Operation: schemas.OpCharge, Status: schemas.StatusApproved, PSP: "psp-a"}
	a, err := r.Result(res)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Result(res)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, rec *kgo.Record) {
		t.Helper()
		var got schemas.PaymentResult
		if err := r.serde.Decode(rec.Value, &got); err != nil || got.PaymentID != "pay-1" || got.Status != schemas.StatusApproved {
			t.Errorf("%s: value decodes to %+v, %v", what, got, err)
		}
		if rec.Topic != "payments.results" || string(rec.Key) != "pay-1" || HeaderValue(rec, HeaderEventType) != "PaymentResult" {
			t.Errorf("%s: topic %s, key %q, event type %q", what, rec.Topic, rec.Key, HeaderValue(rec, HeaderEventType))
		}
	}
	check("a", a)
	// What the processor does to outputs: a longer key would be a bug, but
	// must not corrupt the header; trace and replay headers are appended.
	a.Key = append(a.Key, "-XXXXXXXXXXXXXXXXXXXX"...)
	a.Key = a.Key[:len("pay-1")]
	a.Headers = append(a.Headers, kgo.RecordHeader{Key: kafka.TraceParentHeader, Value: []byte("00-abc")},
		kgo.RecordHeader{Key: HeaderReplay, Value: []byte("duplicate_request")})
	a.Value[len(a.Value)-1] ^= 0xff
	check("b after changes to a", b)
	if HeaderValue(a, HeaderEventType) != "PaymentResult" || HeaderValue(a, kafka.TraceParentHeader) != "00-abc" || HeaderValue(a, HeaderReplay) != "duplicate_request" {
		t.Errorf("a's headers after appends: %v", a.Headers)
	}
}
