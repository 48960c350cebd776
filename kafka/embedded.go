package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is an in-process Kafka-protocol broker (franz-go's kfake) on a
// loopback port. It speaks the real wire protocol, with transactions and
// consumer groups, so payroute's clients and outside tools such as kcat use
// it exactly as they would a real cluster. Data lives in memory and is gone
// when it stops: it is for the demo, tests and local runs, never production.
type Embedded struct {
	cluster *kfake.Cluster
}

// NewEmbedded starts the broker with every payroute topic created.
func NewEmbedded(cfg Configuration, opts ...kfake.Opt) (*Embedded, error) {
	base := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(int(cfg.Partitions))}
	if cfg.Embedded.Port != 0 {
		base = append(base, kfake.Ports(cfg.Embedded.Port))
	}
	for topic := range cfg.Topics().All() {
		base = append(base, kfake.SeedTopics(cfg.Partitions, topic))
	}
	c, err := kfake.NewCluster(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka: %w", err)
	}
	return &Embedded{cluster: c}, nil
}

// Addrs are the loopback addresses the broker listens on.
func (e *Embedded) Addrs() []string { return e.cluster.ListenAddrs() }

// Cluster exposes kfake for fault injection in tests (ControlKey).
func (e *Embedded) Cluster() *kfake.Cluster { return e.cluster }

// Close stops the broker.
func (e *Embedded) Close() { e.cluster.Close() }
