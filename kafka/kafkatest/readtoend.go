package kafkatest

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
)

// ReadToEnd reads topics from their start to their current end and calls
// fn for each record. Read committed, it first waits (up to wait) for every
// open transaction on them to end, so that what it reads is final: a
// transaction still open after that is reported as an error. It ends at
// the end offsets it listed, not after some quiet time, so a loaded
// machine reads as much as an idle one.
func ReadToEnd(ctx context.Context, cluster *kafka.Cluster, topics []string, committed bool, wait time.Duration, fn func(*kgo.Record)) error {
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
	// Transaction markers are kept, so every partition's last offset comes
	// back, marker or data, and the read ends exactly at the end offsets
	// listed above. A partition that stops short of its end is an error:
	// a silently short read would make every count after it wrong (a
	// loaded machine once paused fetches long enough for a "nothing came
	// for a second" rule to end the read at half the results).
	rd, err := cluster.NewClient(kgo.ConsumePartitions(parts), kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords())
	if err != nil {
		return err
	}
	defer rd.Close()
	left := 0
	for _, ps := range remaining {
		left += len(ps)
	}
	const maxIdle = 2 * time.Minute
	lastRecord := time.Now()
	for left > 0 {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := rd.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %v: %w", topics, err)
		}
		if fs.NumRecords() == 0 {
			if time.Since(lastRecord) > maxIdle {
				return fmt.Errorf("reading %v: partitions short of their end after %s without a record: %v", topics, maxIdle, remaining)
			}
			continue
		}
		lastRecord = time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Topic][r.Partition]
			if !ok || r.Offset >= end {
				return // done already, or written after the ends were listed
			}
			if !r.Attrs.IsControl() {
				fn(r)
			}
			if r.Offset+1 >= end {
				delete(remaining[r.Topic], r.Partition)
				left--
			}
		})
	}
	return nil
}
