package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/kafka/kafkatest"
	"github.com/payroute/payroute/schemas"
)

// TestConsumerSeesOnlyCommittedResults writes results as payroute does, in
// transactions, one of which aborts, and checks the example reads only the
// committed ones.
func TestConsumerSeesOnlyCommittedResults(t *testing.T) {
	cfg := kafka.DefaultConfiguration()
	cfg.Partitions = 2
	cluster, e := kafkatest.Cluster(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cluster.EnsureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	topic := cluster.Topics().Results
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	prod, err := cluster.NewClient(kgo.TransactionalID("example-results"), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	write := func(commit bool, ids ...string) {
		t.Helper()
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			v, err := serde.Encode(&schemas.PaymentResult{PaymentID: id, Status: schemas.StatusApproved,
				Operation: schemas.OpAuthorize, AmountMinor: 100, Currency: "EUR", PSP: "psp-a", AttemptCount: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte(id), Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	write(true, "p-1", "p-2")
	write(false, "p-aborted")
	write(true, "p-3")

	var out lockedBuffer
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, e.Addrs(), topic, "example-test", "", &out) }()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(out.String(), "\n") < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil && runCtx.Err() == nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, id := range []string{"p-1 APPROVED", "p-2 APPROVED", "p-3 APPROVED"} {
		if !strings.Contains(got, id) {
			t.Errorf("missing %s in:\n%s", id, got)
		}
	}
	if strings.Contains(got, "p-aborted") {
		t.Errorf("read the result of an aborted transaction:\n%s", got)
	}
}

// lockedBuffer is written by the consumer and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
