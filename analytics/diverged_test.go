package analytics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A topic deleted and created again under the same name restarts its
// offsets at zero, while ClickHouse remembers how far the old one was
// loaded. The sink stops at the assignment instead of skipping the new
// records; once the topic is forgotten (ForgetTopic) it loads them from the
// start, and the rows of the old topic stay.
func TestSinkStopsOnARecreatedTopic(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.FlushInterval = 50 * time.Millisecond
	e := newEnv(t)
	c := openTest(t, cfg)
	ctx := context.Background()
	topic := e.cluster.Topics().Attempts
	attempts, results, events := dataset("m-1", "old", 30, base)
	e.publish(t, events...)
	s := e.startSink(t, cfg)
	waitFor(t, 30*time.Second, "the old topic loaded", func() bool { return s.Stats().Committed == int64(len(events)) })
	if err := stopSink(s); err != nil {
		t.Fatal(err)
	}

	adm := kadm.NewClient(e.producer)
	if _, err := adm.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the topic to be created again", func() bool {
		r, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
		return err == nil && r.Err == nil
	})
	newAttempts, _, _ := dataset("m-1", "new", 2, base.Add(time.Hour))
	// A new producer: the old one keeps the deleted topic's id.
	producer, err := e.cluster.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for _, a := range newAttempts {
		rec, err := e.records.Attempt(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	again := e.startSink(t, cfg)
	waitFor(t, 30*time.Second, "the sink to stop", func() bool { return again.Stats().Stopped != "" })
	var div *DivergedError
	if err := stopSink(again); !errors.As(err, &div) || div.Topic != topic || div.End > div.Loaded {
		t.Fatalf("Stop() = %v, want a *DivergedError of %s", err, topic)
	}
	if why := again.Stats().Stopped; !strings.Contains(why, "--forget-topic "+topic) {
		t.Errorf("stopped because %q: want the remedy named", why)
	}
	if n := count(t, c, "SELECT count() FROM "+c.table("attempts")+" WHERE startsWith(payment_id, 'new-')"); n != 0 {
		t.Fatalf("%d attempts of the new topic loaded by a stopped sink", n)
	}

	// Forgetting refuses while the group has a member.
	member, err := e.cluster.NewClient(kgo.ConsumerGroup(cfg.Group), kgo.ConsumeTopics(e.cluster.Topics().Results))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "a member in the group", func() bool {
		pollCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		member.PollFetches(pollCtx)
		g, err := adm.DescribeGroups(ctx, cfg.Group)
		return err == nil && len(g[cfg.Group].Members) > 0
	})
	if _, err := ForgetTopic(ctx, c, adm, cfg.Group, topic); err == nil || !strings.Contains(err.Error(), "stop every payroute instance") {
		t.Fatalf("ForgetTopic with a member in the group: %v, want a refusal", err)
	}
	member.Close()
	forgot, err := ForgetTopic(ctx, c, adm, cfg.Group, topic)
	if err != nil || forgot != 3 {
		t.Fatalf("ForgetTopic = %d, %v; want the 3 partitions held", forgot, err)
	}
	loaded := e.startSink(t, cfg)
	waitFor(t, 30*time.Second, "the new topic loaded", func() bool {
		return count(t, c, "SELECT count() FROM "+c.table("attempts")) == uint64(len(attempts)+len(newAttempts))
	})
	if st := loaded.Stats(); st.Stopped != "" || st.Duplicates != 0 {
		t.Fatalf("after forgetting: stats %+v", st)
	}
	if n := count(t, c, "SELECT count() FROM "+c.table("payments")); n != uint64(len(results)) {
		t.Errorf("payments: %d rows, want the %d of the old results topic, untouched", n, len(results))
	}
}
