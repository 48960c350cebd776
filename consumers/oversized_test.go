package consumers_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/schemas"
)

// TestOversizedRequestIsDeadLettered: a request bigger than payroute may
// produce (a topic whose max.message.bytes an operator raised lets it in)
// is refused like any bad input: its dead letter withholds the value,
// which would not fit, keeps the key, the reason and the source, and the
// payment behind it is processed. Copying the value made the dead letter
// too large to produce, so the processor aborted the batch and read the
// same record again, forever.
func TestOversizedRequestIsDeadLettered(t *testing.T) {
	s := newStack(t, nil)
	topics := s.cluster.Topics()
	big := int32(4 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	limit := strconv.Itoa(int(big))
	resp, err := kadm.NewClient(s.client).AlterTopicConfigs(ctx,
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &limit}}, topics.Requested)
	if err == nil {
		_, err = resp.On(topics.Requested, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	upstream, err := s.cluster.NewClient(kgo.ProducerBatchMaxBytes(big))
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 1_500_000/4)
	bad := &kgo.Record{Topic: topics.Requested, Key: []byte("p-oversized"), Value: garbage,
		Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("upstream")}}}
	if err := upstream.ProduceSync(ctx, bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The next payment on the same partition: a poisoned partition would
	// never reach it.
	var next *kgo.Record
	for i := 0; next == nil; i++ {
		if id := "p-oversized-next-" + strconv.Itoa(i); s.partitionOf(id) == bad.Partition {
			next = s.request(t, payment(id, "tok_approve", "psp-a", "psp-b"))
		}
	}
	s.publish(t, next)
	if next.Partition != bad.Partition {
		t.Fatalf("the next payment went to partition %d, not %d", next.Partition, bad.Partition)
	}

	dlq := s.readTopic(t, topics.DLQ, 1)
	if len(dlq) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dlq))
	}
	dl := dlq[0]
	if dl.Value != nil || string(dl.Key) != "p-oversized" ||
		producers.HeaderValue(dl, producers.HeaderDLQWithheld) != "oversized" ||
		producers.HeaderValue(dl, producers.HeaderDLQReason) == "" ||
		producers.HeaderValue(dl, producers.HeaderSourceTopic) != topics.Requested ||
		producers.HeaderValue(dl, producers.HeaderSourcePart) != strconv.Itoa(int(bad.Partition)) ||
		producers.HeaderValue(dl, producers.HeaderSourceOffset) != strconv.FormatInt(bad.Offset, 10) ||
		producers.HeaderValue(dl, "origin") != "upstream" {
		t.Fatalf("dead letter: key %q, %d value bytes, headers %v", dl.Key, len(dl.Value), dl.Headers)
	}
	if n := len(producers.HeaderValue(dl, producers.HeaderDLQError)); n == 0 || n > 1024 {
		t.Fatalf("error header of %d bytes", n)
	}
	results := s.results(t, 2)
	if res := results[string(next.Key)]; res.Status != schemas.StatusApproved {
		t.Fatalf("the payment behind the oversized record: %s (%s)", res.Status, res.Reason)
	}
	if res := results["p-oversized"]; res.Status != schemas.StatusRejected || res.Reason == "" {
		t.Fatalf("the oversized record: %s (%q), want REJECTED with a reason", res.Status, res.Reason)
	}
}

// TestHugeMismatchedKeyIsRejected: a request whose key is not its
// payment_id is refused with an error that quotes the key. A key of
// control bytes, which quoting quadruples, made the REJECTED result's
// reason larger than a record may be: the result could not be produced
// and the partition stopped there. The reason is bounded now.
func TestHugeMismatchedKeyIsRejected(t *testing.T) {
	s := newStack(t, nil)
	rec := s.request(t, payment("p-key-mismatch", "tok_approve", "psp-a", "psp-b"))
	rec.Key = bytes.Repeat([]byte{1}, 300_000)
	s.publish(t, rec)
	var next *kgo.Record
	for i := 0; next == nil; i++ {
		if id := "p-after-mismatch-" + strconv.Itoa(i); s.partitionOf(id) == rec.Partition {
			next = s.request(t, payment(id, "tok_approve", "psp-a", "psp-b"))
		}
	}
	s.publish(t, next)

	results := s.results(t, 2)
	if res := results[string(next.Key)]; res.Status != schemas.StatusApproved {
		t.Fatalf("the payment behind the mismatched key: %s (%s)", res.Status, res.Reason)
	}
	res := results["p-key-mismatch"]
	if res.Status != schemas.StatusRejected || !strings.HasPrefix(res.Reason, "key_mismatch: ") || len(res.Reason) > 2*producers.MaxDLQErrorBytes {
		t.Fatalf("the mismatched key: %s, reason of %d bytes", res.Status, len(res.Reason))
	}
	if dlq := s.readTopic(t, s.cluster.Topics().DLQ, 1); len(dlq) != 1 || !bytes.Equal(dlq[0].Key, rec.Key) {
		t.Fatalf("%d dead letters", len(dlq))
	}
}
