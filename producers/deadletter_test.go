package producers

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/kafka/kafkatest"
)

// dlqCluster is an embedded broker with payroute's topics, and a client
// with payroute's producing limits.
func dlqCluster(t *testing.T) (*kafka.Cluster, *kgo.Client) {
	t.Helper()
	kcfg := kafka.DefaultConfiguration()
	kcfg.Partitions = 1
	cluster, _ := kafkatest.Cluster(t, kcfg)
	client, err := cluster.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return cluster, client
}

func produce(t *testing.T, client *kgo.Client, rec *kgo.Record) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return client.ProduceSync(ctx, rec).FirstErr()
}

// A 1.5 MB request (a topic can take more than payroute produces) and an
// error quoting a lot of it: the dead letter withholds the value, keeps the
// key, the headers, the reason and the source, bounds the error, and is
// accepted by the broker. Copying the value made it too large to produce,
// which stopped the processor on that record for good.
func TestDeadLetterWithholdsOversizedValue(t *testing.T) {
	cluster, client := dlqCluster(t)
	r := newRecords(t)
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 1_500_000/4)
	src := &kgo.Record{Topic: "payments.requested", Partition: 0, Offset: 7, Key: []byte("p-huge"), Value: garbage,
		Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-abc")}}}
	cause := errors.New("cannot decode: " + strings.Repeat("x", 300_000))
	dl := r.DeadLetter(src, "malformed", "", cause)
	if dl.Value != nil || string(dl.Key) != "p-huge" {
		t.Fatalf("dead letter kept %d value bytes, key %q", len(dl.Value), dl.Key)
	}
	for k, want := range map[string]string{
		HeaderDLQWithheld: WithheldOversized, HeaderDLQReason: "malformed", HeaderSourceTopic: "payments.requested",
		HeaderSourcePart: "0", HeaderSourceOffset: "7", "traceparent": "00-abc",
	} {
		if got := HeaderValue(dl, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if msg := HeaderValue(dl, HeaderDLQError); len(msg) > MaxDLQErrorBytes || !strings.HasPrefix(msg, "cannot decode: xxx") {
		t.Errorf("error header of %d bytes: %.40q", len(msg), msg)
	}
	if err := produce(t, client, dl); err != nil {
		t.Fatalf("the dead letter does not produce: %v", err)
	}
	got := kafkatest.Read(t, cluster, cluster.Topics().DLQ, kafkatest.AtLeast(1))
	if len(got) != 1 || HeaderValue(got[0], HeaderDLQWithheld) != WithheldOversized {
		t.Fatalf("DLQ holds %d records", len(got))
	}
}

// The largest value DeadLetter keeps produces, one byte more is withheld,
// and what is kept is close to the limit: the bound is safe and not
// needlessly strict.
func TestDeadLetterKeepsWhatFits(t *testing.T) {
	_, client := dlqCluster(t)
	r := newRecords(t)
	src := func(n int) *kgo.Record {
		return &kgo.Record{Topic: "payments.requested", Partition: 3, Offset: 123456, Key: []byte("p-edge"),
			Value: bytes.Repeat([]byte{'v'}, n), Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("test")}}}
	}
	kept := func(n int) bool {
		return HeaderValue(r.DeadLetter(src(n), "invalid_field", "merchant_id", errors.New("merchant_id: too long")), HeaderDLQWithheld) == ""
	}
	lo, hi := 0, int(kafka.MaxRecordBatchBytes) // kept(lo), !kept(hi)
	if !kept(lo) || kept(hi) {
		t.Fatalf("kept(0) = %v, kept(limit) = %v", kept(lo), kept(hi))
	}
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; kept(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	dl := r.DeadLetter(src(lo), "invalid_field", "merchant_id", errors.New("merchant_id: too long"))
	if len(dl.Value) != lo {
		t.Fatalf("kept %d bytes of %d", len(dl.Value), lo)
	}
	if err := produce(t, client, dl); err != nil {
		t.Fatalf("the largest dead letter kept whole (value %d bytes) does not produce: %v", lo, err)
	}
	overhead := 0
	for _, h := range dl.Headers {
		overhead += len(h.Key) + len(h.Value)
	}
	slack := int(kafka.MaxRecordBatchBytes) - lo - len(dl.Key) - overhead
	t.Logf("largest value kept: %d bytes, %d bytes of framing", lo, slack)
	if slack > 200 {
		t.Fatalf("a value of %d bytes is withheld with %d bytes to spare", lo+1, slack)
	}
}

// Even a key and headers near the limit leave a dead letter that
// produces, with the reason and the source.
func TestDeadLetterOfOversizedKeyAndHeadersFits(t *testing.T) {
	_, client := dlqCluster(t)
	r := newRecords(t)
	src := &kgo.Record{Topic: "payments.requested", Offset: 9, Key: bytes.Repeat([]byte{'k'}, 700_000), Value: []byte("v"),
		Headers: []kgo.RecordHeader{{Key: "h", Value: bytes.Repeat([]byte{'h'}, 700_000)}}}
	dl := r.DeadLetter(src, "malformed", "", errors.New("bad"))
	if HeaderValue(dl, HeaderDLQWithheld) != WithheldOversized || HeaderValue(dl, HeaderDLQReason) != "malformed" ||
		HeaderValue(dl, HeaderSourceOffset) != "9" {
		t.Fatalf("dead letter headers %d", len(dl.Headers))
	}
	if err := produce(t, client, dl); err != nil {
		t.Fatalf("the dead letter does not produce: %v", err)
	}
}

func TestClipKeepsUTF8(t *testing.T) {
	s := strings.Repeat("é", 1000) // 2 bytes each
	got := clip(s, 101)
	if len(got) > 101 || !strings.HasSuffix(got, "…(truncated)") || !utf8.ValidString(got) {
		t.Fatalf("clip: %d bytes %q", len(got), got)
	}
	if clip("short", 101) != "short" {
		t.Fatal("a short string was cut")
	}
}
