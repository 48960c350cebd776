package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestTopicsNamesAndRanks(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.TopicPrefix = "acme."
	cfg.MaxRanks = 3
	cfg.RetryDelayTiers = []time.Duration{90 * time.Second, time.Hour}
	topics := cfg.Topics()
	if topics.Requested != "acme.payments.requested" || topics.Health != "acme.psp.health" {
		t.Fatalf("prefix not applied: %+v", topics)
	}
	want := []string{"acme.payments.requested", "acme.payments.followups", "acme.payments.actions",
		"acme.payments.retry.rank-2", "acme.payments.retry.rank-3",
		"acme.payments.retry.delay-90s", "acme.payments.retry.delay-1h"}
	got := topics.Processing()
	if len(got) != len(want) {
		t.Fatalf("processing topics %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("processing topics %v, want %v", got, want)
		}
	}
	if r, ok := topics.RankOf("acme.payments.retry.rank-3"); !ok || r != 3 {
		t.Fatalf("RankOf rank-3 = %d, %v", r, ok)
	}
	if _, ok := topics.RankOf("acme.payments.requested"); ok {
		t.Fatal("requested topic has no rank")
	}
	all := topics.All()
	if !all["acme.psp.health"] || !all["acme.payments.state"] || all["acme.payments.results"] {
		t.Fatal("psp.health and payments.state are compacted, the others are not")
	}
	for _, c := range []struct {
		due  time.Duration
		tier string
	}{{time.Second, "acme.payments.retry.delay-90s"}, {90 * time.Second, "acme.payments.retry.delay-90s"},
		{2 * time.Minute, "acme.payments.retry.delay-1h"}, {48 * time.Hour, "acme.payments.retry.delay-1h"}} {
		if tier, _ := topics.DelayFor(c.due); tier.Topic != c.tier {
			t.Errorf("DelayFor(%s) = %s, want %s", c.due, tier.Topic, c.tier)
		}
	}
	if d, ok := topics.DelayOf("acme.payments.retry.delay-1h"); !ok || d.Delay != time.Hour {
		t.Errorf("DelayOf 1h tier = %v, %v", d, ok)
	}
}

func TestEmbeddedClusterCreatesCoPartitionedTopics(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Partitions = 4
	e, err := NewEmbedded(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := NewCluster(cfg, e)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Twice: topics that exist are fine.
	for i := 0; i < 2; i++ {
		if err := c.EnsureTopics(ctx); err != nil {
			t.Fatalf("EnsureTopics #%d: %v", i+1, err)
		}
	}
	cl, err := c.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for topic := range cfg.Topics().All() {
		d, ok := details[topic]
		if !ok {
			t.Errorf("topic %s missing", topic)
			continue
		}
		if len(d.Partitions) != 4 {
			t.Errorf("topic %s has %d partitions, want 4", topic, len(d.Partitions))
		}
	}
}

func TestEnsureTopicsRefusesWrongPartitionCount(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Partitions = 2
	e, err := NewEmbedded(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg.Partitions = 3 // the cluster's topics have 2
	c, err := NewCluster(cfg, e)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.EnsureTopics(ctx); err == nil {
		t.Fatal("EnsureTopics accepted topics with 2 partitions when 3 are configured")
	}
}

func TestNoBrokersNeedsEmbedded(t *testing.T) {
	if _, err := NewCluster(DefaultConfiguration(), nil); err == nil {
		t.Fatal("NewCluster without brokers or embedded broker should fail")
	}
}

func TestValidateNamesKeys(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Partitions = 0
	cfg.MaxRanks = 0
	err := cfg.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, key := range []string{"partitions:", "max_ranks:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}
