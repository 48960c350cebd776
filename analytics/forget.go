package analytics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ForgetTopic makes ClickHouse and the sink's consumer group forget how far
// topic was loaded, so that the sink loads it from its start: the remedy for
// a DivergedError after a topic was deleted and created again. The rows
// already loaded stay (they are payments that happened); only the
// bookkeeping of offsets goes: ingest_offsets' rows of the topic, and the
// group's committed offsets of it.
//
// It refuses while the group has members: a running sink would record the
// old offsets again with its next insert, or resume from the committed
// ones. On a topic that was not recreated it would load every record again,
// so it is a deliberate operator step, never done automatically.
//
// ClickHouse deletes with a mutation (ALTER TABLE ... DELETE, which 18.16
// has); ForgetTopic waits until the server reports it done, or ctx ends.
// It returns the partitions whose offsets ClickHouse held.
func ForgetTopic(ctx context.Context, c *Conn, adm *kadm.Client, group, topic string) (int, error) {
	groups, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("describe consumer group %s: %w", group, err)
	}
	if g, ok := groups[group]; ok {
		if g.Err != nil && !errors.Is(g.Err, kerr.GroupIDNotFound) {
			return 0, fmt.Errorf("describe consumer group %s: %w", group, g.Err)
		}
		if len(g.Members) > 0 {
			return 0, fmt.Errorf("consumer group %s has %d members: stop every payroute instance that runs the analytics sink first", group, len(g.Members))
		}
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return 0, fmt.Errorf("read the committed offsets of %s: %w", group, err)
	}
	if parts, ok := committed[topic]; ok && len(parts) > 0 {
		set := kadm.TopicsSet{}
		for id := range parts {
			set.Add(topic, id)
		}
		resps, err := adm.DeleteOffsets(ctx, group, set)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			return 0, fmt.Errorf("delete the committed offsets of %s in %s: %w", topic, group, err)
		}
	}

	return forgetLoaded(ctx, c, topic)
}

// mutationWait is how long forgetLoaded waits for ClickHouse to apply its
// delete before reporting it.
const mutationWait = 30 * time.Second

// forgetLoaded deletes ingest_offsets' rows of topics (one mutation),
// waits for it to be done, and returns how many partitions they held.
func forgetLoaded(ctx context.Context, c *Conn, topics ...string) (int, error) {
	var held uint64
	if err := c.QueryRow(ctx, "SELECT uniqExact(source_topic, source_partition) FROM "+c.table("ingest_offsets")+" WHERE has(?, source_topic)", topics).Scan(&held); err != nil {
		return 0, fmt.Errorf("read %s: %w", c.table("ingest_offsets"), err)
	}
	if held == 0 {
		return 0, nil
	}
	if err := c.Exec(ctx, "ALTER TABLE "+c.table("ingest_offsets")+" DELETE WHERE has(?, source_topic)", topics); err != nil {
		return 0, fmt.Errorf("delete %s's rows of %v: %w", c.table("ingest_offsets"), topics, err)
	}
	// A mutation that does not finish is reported rather than waited on in
	// silence: the caller's retries log it.
	give := time.Now().Add(mutationWait)
	for {
		var pending uint64
		if err := c.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE database = ? AND table = 'ingest_offsets' AND is_done = 0", c.Database).Scan(&pending); err != nil {
			return 0, fmt.Errorf("read system.mutations: %w", err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(give) {
			return 0, fmt.Errorf("%d mutations of %s not done after %s (see system.mutations)", pending, c.table("ingest_offsets"), mutationWait)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for ClickHouse to delete %s's rows of %v: %w", c.table("ingest_offsets"), topics, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return int(held), nil
}

// forgetEmbedded forgets how far the sink's topics were loaded when the
// brokers are this process's embedded one: it started empty, so offsets
// ClickHouse holds are of an earlier run's topics, and resuming after them
// would skip this run's first records (and DivergedError would stop the
// sink). The rows of the earlier runs stay.
//
// It first waits, as an assignment does (adjust), for the sink inserts
// still executing on the server: an earlier run that died in the middle of
// one leaves it running, and offsets it recorded after the delete would be
// taken for this run's.
func (s *Sink) forgetEmbedded(ctx context.Context) error {
	var running insertsRunning
	if err := s.retry(ctx, "wait for an earlier run's inserts", func() error { return running.wait(ctx, s.conn) }); err != nil {
		return err
	}
	var n int
	if err := s.retry(ctx, "forget an earlier run's offsets", func() error {
		var err error
		n, err = forgetLoaded(ctx, s.conn, s.topics.Attempts, s.topics.Results, s.topics.Requested)
		return err
	}); err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("analytics: the embedded Kafka starts empty; forgot how far an earlier run loaded its topics (their rows stay)", "partitions", n)
	}
	return nil
}
