package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
)

// readTopics reads topics from their start to their current end and calls
// fn for each record. Read committed, it first waits (up to wait) for every
// open transaction on them to end, so that what it reads is final: a
// transaction still open after that is reported as an error.
//
// Transaction markers are never returned, so a partition whose last offsets
// are markers, or that holds only aborted data, is done once nothing more
// comes (see below); on an idle broker that is the end.
func readTopics(ctx context.Context, cluster *kafka.Cluster, topics []string, committed bool, wait time.Duration, fn func(*kgo.Record)) error {
	cl, err := cluster.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var ends kadm.ListedOffsets
	deadline := time.Now().Add(wait)
	for {
		if ends, err = adm.ListEndOffsets(ctx, topics...); err == nil {
			err = ends.Error()
		}
		if err != nil {
			return fmt.Errorf("end offsets of %v: %w", topics, err)
		}
		if !committed {
			break
		}
		stable, err := adm.ListCommittedOffsets(ctx, topics...)
		if err == nil {
			err = stable.Error()
		}
		if err != nil {
			return fmt.Errorf("stable offsets of %v: %w", topics, err)
		}
		open := ""
		ends.Each(func(o kadm.ListedOffset) {
			if s, ok := stable.Lookup(o.Topic, o.Partition); ok && s.Offset < o.Offset {
				open = fmt.Sprintf("%s partition %d (stable offset %d, end %d)", o.Topic, o.Partition, s.Offset, o.Offset)
			}
		})
		if open == "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("a transaction is still open after %s on %s", wait, open)
		}
		time.Sleep(200 * time.Millisecond)
	}
	parts := map[string]map[int32]kgo.Offset{}
	remaining := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset <= 0 {
			return
		}
		if parts[o.Topic] == nil {
			parts[o.Topic], remaining[o.Topic] = map[int32]kgo.Offset{}, map[int32]int64{}
		}
		parts[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
		remaining[o.Topic][o.Partition] = o.Offset
	})
	if len(parts) == 0 {
		return nil
	}
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	rd, err := cluster.NewClient(kgo.ConsumePartitions(parts), kgo.FetchIsolationLevel(iso))
	if err != nil {
		return err
	}
	defer rd.Close()
	left := 0
	for _, ps := range remaining {
		left += len(ps)
	}
	// A partition counts as seen once it returned a record. The read ends
	// when every partition reached its end offset, or when every partition
	// was seen and nothing came for a second (markers at the end), or after
	// ten seconds of nothing at all (partitions holding only aborted data,
	// read committed).
	seen := map[string]map[int32]bool{}
	unseen := left
	for idle := 0; left > 0 && (unseen > 0 || idle < 2) && idle < 20; {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := rd.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %v: %w", topics, err)
		}
		if fs.NumRecords() == 0 {
			idle++
			continue
		}
		idle = 0
		fs.EachRecord(func(r *kgo.Record) {
			fn(r)
			if seen[r.Topic] == nil {
				seen[r.Topic] = map[int32]bool{}
			}
			if _, ok := remaining[r.Topic][r.Partition]; ok && !seen[r.Topic][r.Partition] {
				seen[r.Topic][r.Partition] = true
				unseen--
			}
			if end, ok := remaining[r.Topic][r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining[r.Topic], r.Partition)
				left--
			}
		})
	}
	return nil
}
