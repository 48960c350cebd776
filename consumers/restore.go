package consumers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
)

// restore rebuilds the state of the given partitions from the payments.state
// changelog: every committed change, in order, the last one per payment
// winning, up to the partition's end (see readToEnd). Final states go
// straight to disk as they are read (partitionLoader). The caller installs
// the loaders, or discards them.
func (p *Processor) restore(ctx context.Context, parts []int32) (map[int32]*partitionLoader, error) {
	out := make(map[int32]*partitionLoader, len(parts))
	discard := func() {
		for _, l := range out {
			l.discard()
		}
	}
	for _, part := range parts {
		l, err := p.store.loader(part)
		if err != nil {
			discard()
			return nil, err
		}
		out[part] = l
	}
	if len(parts) == 0 {
		return out, nil
	}
	started := time.Now()
	n := 0
	_, err := readToEnd(ctx, p.cluster, p.topics.State, parts, func(r *kgo.Record) error {
		n++
		if err := out[r.Partition].add(string(r.Key), r.Value); err != nil {
			return fmt.Errorf("offset %d: %w", r.Offset, err)
		}
		return nil
	})
	if err != nil {
		discard()
		return nil, err
	}
	p.log.Info("restored payment state", "partitions", parts, "changes", n, "took", time.Since(started))
	return out, nil
}

// readToEnd reads the given partitions of a topic (all of them when parts is
// nil) from their start to their end as it was when the read began, once
// every transaction open then has ended (stableEnds), calling fn for every
// committed data record in order, and returns the offset after the last
// record of each partition, where a reader tailing the topic continues.
//
// It reads read_committed, so records of transactions that aborted (a batch
// cut short by a crash or a rebalance) are never seen, and it keeps control
// records: a partition whose log ends in a commit marker has no data record
// at its end offset, and the marker is how the reader knows it got there;
// where the last record is one of an aborted transaction, never delivered,
// the first record past it (its abort marker at the latest) tells.
// Compaction may leave offset gaps; they are harmless since the reader stops
// on offsets, not counts.
func readToEnd(ctx context.Context, cluster *kafka.Cluster, topic string, parts []int32, fn func(*kgo.Record) error) (map[int32]int64, error) {
	cl, err := cluster.NewClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := stableEnds(ctx, adm, topic, parts)
	if err != nil {
		return nil, err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	if parts == nil {
		ends.Each(func(o kadm.ListedOffset) { parts = append(parts, o.Partition) })
	}
	next := map[int32]int64{}
	want := map[int32]int64{} // partition -> last offset to read
	consume := map[int32]kgo.Offset{}
	for _, part := range parts {
		end, ok := ends.Lookup(topic, part)
		if !ok || end.Err != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %v", topic, part, end.Err)
		}
		start, ok := starts.Lookup(topic, part)
		if !ok || start.Err != nil {
			return nil, fmt.Errorf("start offset of %s/%d: %v", topic, part, start.Err)
		}
		next[part] = end.Offset
		if end.Offset > start.Offset {
			want[part] = end.Offset - 1
			consume[part] = kgo.NewOffset().At(start.Offset)
		}
	}
	if len(want) == 0 {
		return next, nil
	}
	reader, err := cluster.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: consume}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return nil, err
	}
	defer reader.Close()
	for len(want) > 0 {
		fetches := reader.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w (still reading partitions %v)", topic, err, keys(want))
		}
		var ferr error
		fetches.EachError(func(t string, part int32, err error) {
			ferr = fmt.Errorf("read %s/%d: %w", t, part, err)
		})
		if ferr != nil {
			return nil, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			last, ok := want[r.Partition]
			if !ok || ferr != nil || r.Offset > last {
				// Beyond the end the caller was promised (written after
				// the read began), or of a partition already read: the
				// caller's tailing reader, starting at the returned end,
				// has it.
				delete(want, r.Partition)
				return
			}
			if !r.Attrs.IsControl() {
				if err := fn(r); err != nil {
					ferr = fmt.Errorf("read %s/%d: %w", topic, r.Partition, err)
					return
				}
			}
			if r.Offset >= last {
				delete(want, r.Partition)
			}
		})
		if ferr != nil {
			return nil, ferr
		}
	}
	return next, nil
}

// stableEnds returns, for each partition, its high watermark once every
// transaction open on it when the call began has ended (the last stable
// offset reached that high watermark). A transaction the previous owner
// committed may still be writing its markers when the new owner starts;
// reading only to the last stable offset then would miss its changes while
// the group offsets it committed already count, and the new owner would
// skip inputs whose state it never saw. So it waits: for markers that is
// milliseconds; for a crashed owner's open transaction, until the broker
// aborts it (processor.transaction_timeout).
//
// Transactions that begin after the call began are not waited for: on a
// topic every instance writes to (payments.reattempts), some transaction
// is open at almost any moment, and waiting for none at all could take
// as long as the instances keep working. What they write lies beyond the
// returned offsets, for a tailing reader to pick up.
func stableEnds(ctx context.Context, adm *kadm.Client, topic string, parts []int32) (kadm.ListedOffsets, error) {
	high, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	if err := high.Error(); err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("list stable offsets of %s: %w", topic, err)
		}
		open := false
		stable.Each(func(o kadm.ListedOffset) {
			if parts != nil && !slices.Contains(parts, o.Partition) {
				return
			}
			if h, ok := high.Lookup(topic, o.Partition); ok && h.Offset > o.Offset {
				open = true
			}
		})
		if !open {
			return high, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for open transactions on %s to end: %w", topic, ctx.Err())
		case <-time.After(wait):
		}
	}
}

func keys[V any](m map[int32]V) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
