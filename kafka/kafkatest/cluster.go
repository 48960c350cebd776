package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/payroute/payroute/kafka"
)

// Cluster starts an embedded broker (kfake) with cfg for the test's
// lifetime, and returns payroute's cluster on it and the broker itself (for
// its addresses, or to inject faults with its ControlKey). Topics are not
// created: kfake creates them on first use with cfg.Partitions partitions,
// and a test that needs their configuration (compaction, retention) calls
// Cluster.EnsureTopics.
func Cluster(t testing.TB, cfg kafka.Configuration, opts ...kfake.Opt) (*kafka.Cluster, *kafka.Embedded) {
	t.Helper()
	emb, err := kafka.NewEmbedded(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	cluster, err := kafka.NewCluster(cfg, emb)
	if err != nil {
		t.Fatal(err)
	}
	return cluster, emb
}
