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
