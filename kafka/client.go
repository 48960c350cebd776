package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is where payroute's Kafka clients connect: the configured brokers,
// or the embedded broker's address.
type Cluster struct {
	cfg      Configuration
	seeds    []string
	security []kgo.Opt // TLS and SASL, see Configuration.securityOpts
	embedded bool

	hooksMu sync.Mutex
	hooks   []func() []kgo.Hook // see AddClientHooks
}

// NewCluster resolves the seed brokers. With no brokers configured, embedded
// must be the running embedded broker. It reads the TLS files and checks the
// SASL keys now, so that a missing certificate or password file fails at
// start rather than at the first connection.
func NewCluster(cfg Configuration, embedded *Embedded) (*Cluster, error) {
	seeds := cfg.Brokers
	if len(seeds) == 0 {
		if embedded == nil {
			return nil, errors.New("kafka: no brokers configured and no embedded broker")
		}
		seeds = embedded.Addrs()
	}
	security, err := cfg.securityOpts()
	if err != nil {
		return nil, err
	}
	return &Cluster{cfg: cfg, seeds: seeds, security: security, embedded: len(cfg.Brokers) == 0}, nil
}

// Embedded is true when the brokers are an embedded broker (no brokers
// configured): in memory, so its topics start empty, at offset 0, when it
// starts.
func (c *Cluster) Embedded() bool { return c.embedded }

// Seeds are the seed broker addresses.
func (c *Cluster) Seeds() []string { return c.seeds }

// Topics are the topic names.
func (c *Cluster) Topics() Topics { return c.cfg.Topics() }

// Config is the Kafka configuration in force.
func (c *Cluster) Config() Configuration { return c.cfg }

// NewClient builds a franz-go client on the cluster. Producing defaults are
// the safe ones: acks from all in-sync replicas and idempotent writes (franz-go's
// defaults, stated here so that nobody weakens them by accident), so an
// acknowledged output is durable and a retried produce is never duplicated.
func (c *Cluster) NewClient(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(c.Opts(opts...)...)
}

// NewGroupTransactSession is NewClient for a consume-transform-produce loop
// with exactly-once semantics (see kgo.GroupTransactSession).
func (c *Cluster) NewGroupTransactSession(opts ...kgo.Opt) (*kgo.GroupTransactSession, error) {
	return kgo.NewGroupTransactSession(c.Opts(opts...)...)
}

// MaxRecordBatchBytes is the largest record batch payroute's clients
// produce (kgo.ProducerBatchMaxBytes, set by Opts): franz-go's default and
// Kafka's former max.message.bytes default (current brokers and kfake
// accept 1048588 by default). A record that does not fit in a batch
// of this size on its own fails with kerr.MessageTooLarge before it reaches
// a broker, so anything payroute writes, dead letters of oversized input
// included, must stay within it (see producers.Records.DeadLetter).
const MaxRecordBatchBytes int32 = 1_000_012

// Opts are the cluster's client options followed by opts.
func (c *Cluster) Opts(opts ...kgo.Opt) []kgo.Opt {
	base := []kgo.Opt{
		kgo.SeedBrokers(c.seeds...),
		kgo.ClientID(c.cfg.ClientID),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(MaxRecordBatchBytes),
		kgo.RequestTimeoutOverhead(c.cfg.RequestTimeout),
		kgo.ProduceRequestTimeout(c.cfg.RequestTimeout),
		kgo.WithHooks(TraceHook{}),
	}
	base = append(base, c.security...)
	c.hooksMu.Lock()
	for _, f := range c.hooks {
		base = append(base, kgo.WithHooks(f()...))
	}
	c.hooksMu.Unlock()
	return append(base, opts...)
}

// AddClientHooks makes every client built from the cluster afterwards (by
// NewClient, NewGroupTransactSession or Opts) carry the hooks f returns. f
// is called once per client, so hooks that hold per-client state (kprom's
// metrics register one set of collectors per client) are never shared.
// Clients built before the call are unaffected: add hooks while the fx
// application is being built, before any component starts.
func (c *Cluster) AddClientHooks(f func() []kgo.Hook) {
	c.hooksMu.Lock()
	defer c.hooksMu.Unlock()
	c.hooks = append(c.hooks, f)
}

// EnsureTopics creates every payroute topic that does not exist yet, with the
// configured partition count; psp.health is compacted. Existing topics are
// left alone, but a partition count that differs from the configuration is an
// error: co-partitioning by payment_id depends on it.
func (c *Cluster) EnsureTopics(ctx context.Context) error {
	cl, err := c.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var errs []error
	for topic, compacted := range c.Topics().All() {
		configs := map[string]*string{}
		if compacted {
			policy := "compact"
			configs["cleanup.policy"] = &policy
		}
		if r := c.Topics().Retention(topic); r > 0 {
			ms := strconv.FormatInt(r.Milliseconds(), 10)
			configs["retention.ms"] = &ms
		}
		resp, err := adm.CreateTopic(ctx, c.cfg.Partitions, c.cfg.ReplicationFactor, configs, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", topic, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	details, err := adm.ListTopics(ctx, c.Topics().Processing()...)
	if err != nil {
		return fmt.Errorf("describe topics: %w", err)
	}
	for _, d := range details {
		if d.Err != nil {
			return fmt.Errorf("describe topic %s: %w", d.Topic, d.Err)
		}
		if n := int32(len(d.Partitions)); n != c.cfg.Partitions {
			return fmt.Errorf("topic %s has %d partitions, kafka.partitions says %d: payment topics must be co-partitioned", d.Topic, n, c.cfg.Partitions)
		}
	}
	return nil
}
