package kafka

import (
	"errors"
	"fmt"
	"time"

	"github.com/payroute/payroute/config"
)

// Configuration says how payroute reaches Kafka and how its topics are named.
type Configuration struct {
	// Brokers are the seed brokers of a real cluster. Empty means embedded:
	// payroute starts an in-process Kafka-protocol broker (franz-go kfake) on
	// Embedded.Listen, which any Kafka client (kcat included) can reach.
	Brokers []string `yaml:"brokers"`
	// ClientID identifies this instance to the brokers.
	ClientID string `yaml:"client_id"`
	// TopicPrefix is prepended to every topic name ("" gives payments.requested,
	// "acme." gives acme.payments.requested).
	TopicPrefix string `yaml:"topic_prefix"`
	// Partitions is the partition count for topics payroute creates. Every topic
	// carrying one payment must have the same count, so that keying by
	// payment_id co-partitions them and one instance owns a payment.
	Partitions int32 `yaml:"partitions"`
	// ReplicationFactor for topics payroute creates on a real cluster (-1: the
	// broker default).
	ReplicationFactor int16 `yaml:"replication_factor"`
	// MaxRanks is the deepest failover rank: retry topics
	// payments.retry.rank-2 .. payments.retry.rank-<MaxRanks> exist.
	MaxRanks int `yaml:"max_ranks"`
	// RetryDelayTiers are the fixed delays of the scheduled-retry topics
	// payments.retry.delay-<tier>: a retry due in d waits on the smallest tier
	// >= d (or the largest), so each topic holds records in due order and only
	// its head needs watching.
	RetryDelayTiers []time.Duration `yaml:"retry_delay_tiers"`
	// CreateTopics creates missing topics at start (compacted where needed).
	// Turn off where topics are managed by deploy/ scripts or an operator.
	CreateTopics bool `yaml:"create_topics"`
	// Embedded configures the in-process broker used when Brokers is empty.
	Embedded EmbeddedConfiguration `yaml:"embedded"`
	// RequestTimeout bounds a produce or commit round trip before it is retried.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// TLS protects the connections to the brokers (off by default). Every
	// payroute client uses it: processors, the sink, admin and tools.
	TLS config.TLSConfiguration `yaml:"tls"`
	// SASL authenticates to the brokers (off by default).
	SASL SASLConfiguration `yaml:"sasl"`
}

// EmbeddedConfiguration is the in-process broker.
type EmbeddedConfiguration struct {
	// Port on 127.0.0.1 to listen on; 0 picks a free port (printed at start).
	Port int `yaml:"port"`
}

// DefaultConfiguration is an embedded broker with six partitions per topic
// and failover up to rank 5.
func DefaultConfiguration() Configuration {
	return Configuration{
		ClientID:          "payroute",
		Partitions:        6,
		ReplicationFactor: -1,
		MaxRanks:          5,
		RetryDelayTiers:   []time.Duration{time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour},
		CreateTopics:      true,
		RequestTimeout:    10 * time.Second,
	}
}

// Validate checks the configuration.
func (c Configuration) Validate() error {
	var errs []error
	if c.Partitions <= 0 {
		errs = append(errs, config.Errorf("partitions", "must be > 0, got %d", c.Partitions))
	}
	if c.MaxRanks < 1 || c.MaxRanks > 20 {
		errs = append(errs, config.Errorf("max_ranks", "must be within [1,20], got %d", c.MaxRanks))
	}
	if c.Embedded.Port < 0 || c.Embedded.Port > 65535 {
		errs = append(errs, config.Errorf("embedded.port", "must be within [0,65535], got %d", c.Embedded.Port))
	}
	for i, b := range c.Brokers {
		if b == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("brokers[%d]", i), "must not be empty"))
		}
	}
	for i, d := range c.RetryDelayTiers {
		if d <= 0 {
			errs = append(errs, config.Errorf(fmt.Sprintf("retry_delay_tiers[%d]", i), "must be > 0"))
		}
		if i > 0 && d <= c.RetryDelayTiers[i-1] {
			errs = append(errs, config.Errorf(fmt.Sprintf("retry_delay_tiers[%d]", i), "must be larger than the tier before it"))
		}
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, config.Errorf("request_timeout", "must be > 0"))
	}
	return errors.Join(errs...)
}
