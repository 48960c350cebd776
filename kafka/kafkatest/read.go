// Package kafkatest reads payroute's topics in tests the way a downstream
// consumer does: from the start, read_committed, so a test sees exactly
// what a real consumer would (never a record of an aborted transaction).
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
)

// Timeout bounds how long Read waits for its condition.
const Timeout = 30 * time.Second

// settle is how long Read keeps reading after its condition holds, to catch
// records that should not be there (a second result, a duplicate attempt).
const settle = 300 * time.Millisecond

// Read reads topic until done says the records read so far are enough,
// then a little longer, and returns them all. It fails the test when done
// never holds within Timeout.
func Read(t testing.TB, cluster *kafka.Cluster, topic string, done func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	cl := reader(t, cluster, topic)
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(Timeout)
	var until time.Time
	for time.Now().Before(deadline) && (until.IsZero() || time.Now().Before(until)) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
		cancel()
		if until.IsZero() && done(out) {
			until = time.Now().Add(settle)
		}
	}
	if until.IsZero() {
		t.Fatalf("%s: the %d records read in %s are not what the test waits for", topic, len(out), Timeout)
	}
	return out
}

// AtLeast is a Read condition: n records.
func AtLeast(n int) func([]*kgo.Record) bool {
	return func(recs []*kgo.Record) bool { return len(recs) >= n }
}

// ReadNow returns what topic holds now, read committed: up to its end
// offsets as they are when it is called (ReadToEnd), once the
// transactions open on it have ended.
func ReadNow(t testing.TB, cluster *kafka.Cluster, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var out []*kgo.Record
	if err := ReadToEnd(ctx, cluster, []string{topic}, true, Timeout, func(r *kgo.Record) { out = append(out, r) }); err != nil {
		t.Fatal(err)
	}
	return out
}

func reader(t testing.TB, cluster *kafka.Cluster, topic string) *kgo.Client {
	t.Helper()
	cl, err := cluster.NewClient(kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}
