package bench

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
)

// readTopic reads every committed record of topic, from the start to the
// last stable offset as of the call, and calls fn for each data record.
// It runs after the systems under test stopped, so nothing is in flight
// and "the end" is well defined. Control records (transaction markers)
// are kept while reading, because a partition whose log ends in a marker
// has no data record at its last offset: the marker is how the reader
// knows it got there.
func readTopic(ctx context.Context, cluster *kafka.Cluster, topic string, fn func(*kgo.Record) error) error {
	cl, err := cluster.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	last := map[int32]int64{}
	consume := map[int32]kgo.Offset{}
	var lerr error
	ends.Each(func(end kadm.ListedOffset) {
		start, ok := starts.Lookup(topic, end.Partition)
		if end.Err != nil || !ok || start.Err != nil {
			lerr = fmt.Errorf("offsets of %s/%d: %v %v", topic, end.Partition, end.Err, start.Err)
			return
		}
		if end.Offset > start.Offset {
			last[end.Partition] = end.Offset - 1
			consume[end.Partition] = kgo.NewOffset().At(start.Offset)
		}
	})
	if lerr != nil {
		return lerr
	}
	if len(last) == 0 {
		return nil
	}
	reader, err := cluster.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: consume}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return err
	}
	defer reader.Close()
	for len(last) > 0 {
		fs := reader.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("reading %s/%d: %w", t, p, err) })
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if ferr != nil {
				return
			}
			if r.Attrs.IsControl() {
				if want, ok := last[r.Partition]; ok && r.Offset >= want {
					delete(last, r.Partition)
				}
				return
			}
			ferr = fn(r)
			if want, ok := last[r.Partition]; ok && r.Offset >= want {
				delete(last, r.Partition)
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}
