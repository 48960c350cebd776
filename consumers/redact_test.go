package consumers_test

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/schemas"
	"github.com/payroute/payroute/schemas/schemastest"
)

// TestErrorTextIsRedacted: a request the Avro decoder chokes on with an
// error that quotes a card-number-shaped value (a string length decoded
// from the input, as the corpus entry fuzz-negative-string-length does by
// chance) is refused with the number redacted from the REJECTED result's
// reason and the dead letter's headers.
func TestErrorTextIsRedacted(t *testing.T) {
	s := newStack(t, nil)
	topics := s.cluster.Topics()
	pan := schemastest.CardNumber("4" + strings.Repeat("0", 14))
	n, err := strconv.ParseInt(pan, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// The wire format's framing, then payment_id's length: -n.
	value := binary.BigEndian.AppendUint32([]byte{0}, uint32(schemas.SchemaIDPaymentRequested))
	value = binary.AppendVarint(value, -n)
	if _, err := s.serde.DecodePaymentRequested(value); err == nil || !schemas.ContainsPAN(err.Error()) {
		t.Fatalf("the decoder's error does not quote the number: %v", err)
	}
	s.publish(t, &kgo.Record{Topic: topics.Requested, Key: []byte("p-pan-error"), Value: value})

	res := s.results(t, 1)["p-pan-error"]
	if res.Status != schemas.StatusRejected || schemas.ContainsPAN(res.Reason) || !strings.Contains(res.Reason, schemas.Redacted) {
		t.Fatalf("result %s, reason %q", res.Status, res.Reason)
	}
	dlq := s.readTopic(t, topics.DLQ, 1)
	if len(dlq) != 1 {
		t.Fatalf("%d dead letters", len(dlq))
	}
	for _, h := range dlq[0].Headers {
		if schemas.ContainsPAN(string(h.Value)) {
			t.Errorf("dead letter header %s carries the number: %q", h.Key, h.Value)
		}
	}
	if msg := producers.HeaderValue(dlq[0], producers.HeaderDLQError); !strings.Contains(msg, schemas.Redacted) {
		t.Errorf("error header %q", msg)
	}
}
