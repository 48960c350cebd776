package analytics

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Which partitions the sink owns, under which assignment, and how far
// ClickHouse holds each: the bookkeeping that keeps a record from being
// inserted twice across restarts, rebalances and failed inserts (the
// package documentation, "Exactly once").

// partition is one partition of one topic.
type partition struct {
	topic string
	id    int32
}

// assignment is what the sink owns and how far ClickHouse has loaded it. It
// is shared by the loading goroutine and franz-go's group callbacks.
type assignment struct {
	mu sync.Mutex
	// owned maps each partition this sink consumes to the epoch of its
	// current assignment. A record polled under an older epoch (before the
	// partition was revoked and assigned again) is never inserted: the new
	// assignment delivers it again from the position ClickHouse gives.
	owned map[partition]uint64
	epoch uint64
	// loaded is the highest offset ClickHouse holds per owned partition
	// (-1: none). Rows at or below it are never inserted.
	loaded map[partition]int64
	// cancel aborts the insert in flight; inflight are its partitions.
	cancel   context.CancelFunc
	inflight map[partition]bool
	// diverged is set when an assigned partition ends before what
	// ClickHouse holds of it; the sink then stops.
	diverged *DivergedError
	// behind are partitions assigned with a Kafka commit behind what
	// ClickHouse holds, and the offset to commit (a crash came between an
	// insert and its commit): committed by the loading goroutine, so that
	// the group's lag is right even when nothing more arrives.
	behind map[partition]behindCommit
}

// behindCommit is an offset to commit for a partition under an epoch.
type behindCommit struct {
	epoch  uint64
	offset int64
}

// adjust is called by franz-go when partitions are assigned, with the
// offsets committed in Kafka, before fetching starts. It waits for every
// sink insert running on the server to end (a previous owner's last insert
// may still be executing after it died), reads how far ClickHouse has
// loaded each partition, and starts each partition after that: Kafka's
// commit lags behind ClickHouse after a crash between an insert and its
// commit, and ClickHouse is what must not get the rows twice. When the
// committed offset is further (records after the last row were skipped as
// undecodable), it is kept. ClickHouse being down blocks here, retrying,
// until it answers or the group session ends; fetching waits meanwhile. A
// partition that ends before what ClickHouse holds of it stops the sink
// (DivergedError).
func (s *Sink) adjust(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	var held map[partition]int64
	var running insertsRunning
	var div *DivergedError
	assigned := map[string][]int32{}
	for topic, parts := range offsets {
		for id := range parts {
			assigned[topic] = append(assigned[topic], id)
		}
	}
	err := s.retry(ctx, "read loaded offsets", func() error {
		if err := running.wait(ctx, s.conn); err != nil {
			return err
		}
		var err error
		if held, err = loadedOffsets(ctx, s.conn); err != nil {
			return err
		}
		div, err = diverged(ctx, s.admin, assigned, held)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.asg.mu.Lock()
	defer s.asg.mu.Unlock()
	if div != nil && s.asg.diverged == nil {
		// The loading goroutine stops at its next poll, before taking any
		// record: nothing of this assignment is loaded.
		s.asg.diverged = div
	}
	for topic, parts := range offsets {
		for id, committed := range parts {
			p := partition{topic, id}
			s.asg.epoch++
			s.asg.owned[p] = s.asg.epoch
			at, ok := held[p]
			if !ok {
				at = -1
			}
			s.asg.loaded[p] = at
			if at >= 0 && at+1 > committed.EpochOffset().Offset {
				parts[id] = kgo.NewOffset().At(at + 1)
				s.asg.behind[p] = behindCommit{epoch: s.asg.epoch, offset: at + 1}
			}
			s.log.Debug("analytics partition assigned", "topic", topic, "partition", id,
				"committed", committed.EpochOffset().Offset, "loaded", at)
		}
	}
	return offsets, nil
}

// revoke is called by franz-go when partitions are revoked or lost. The
// partitions stop being owned at once, the insert in flight is aborted if
// it carries any of them, and revoke returns only once that insert has
// returned: from then on this sink writes nothing for them, and the next
// owner (whose adjust waits for inserts still executing on the server)
// starts from what ClickHouse holds.
func (s *Sink) revoke(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	s.asg.mu.Lock()
	hit := false
	for topic, ids := range parts {
		for _, id := range ids {
			p := partition{topic, id}
			delete(s.asg.owned, p)
			delete(s.asg.loaded, p)
			delete(s.asg.behind, p)
			hit = hit || s.asg.inflight[p]
		}
	}
	if !hit {
		// The insert in flight (if any) carries none of them, and no later
		// one will.
		s.asg.mu.Unlock()
		return
	}
	s.asg.cancel()
	s.asg.mu.Unlock()
	// Taking the lock is waiting for the aborted insert to return.
	s.insertMu.Lock()
	defer s.insertMu.Unlock()
}

// commitBehind commits, for partitions assigned with a Kafka commit behind
// ClickHouse, the position ClickHouse gives. A failure is only logged: the
// next assignment computes the position again.
func (s *Sink) commitBehind(ctx context.Context) {
	s.asg.mu.Lock()
	if len(s.asg.behind) == 0 {
		s.asg.mu.Unlock()
		return
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for p, b := range s.asg.behind {
		if s.asg.owned[p] == b.epoch {
			if offsets[p.topic] == nil {
				offsets[p.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[p.topic][p.id] = kgo.EpochOffset{Epoch: -1, Offset: b.offset}
		}
	}
	s.asg.behind = map[partition]behindCommit{}
	s.asg.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	s.client.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err == nil {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err = kerr.ErrorForCode(p.ErrorCode); err != nil {
						break
					}
				}
			}
		}
		if err != nil {
			s.stats.commitErrors.Add(1)
			s.log.Warn("analytics: committing the position ClickHouse gives failed", "err", err)
		}
	})
}

// stillOwned is, for each partition of the batch still owned under the
// epoch of its last records, the last record taken (what CommitRecords
// needs), and how many records of the batch that covers.
func (s *Sink) stillOwned(b *batch) (recs []*kgo.Record, n int) {
	s.asg.mu.Lock()
	defer s.asg.mu.Unlock()
	recs = make([]*kgo.Record, 0, len(b.commit))
	for p, t := range b.commit {
		if s.asg.owned[p] == t.epoch {
			recs = append(recs, t.rec)
			n += t.n
		}
	}
	return recs, n
}

// refreshLoaded re-reads how far ClickHouse holds every owned partition.
func (s *Sink) refreshLoaded(ctx context.Context) error {
	held, err := loadedOffsets(ctx, s.conn)
	if err != nil {
		return err
	}
	s.asg.mu.Lock()
	defer s.asg.mu.Unlock()
	for p := range s.asg.owned {
		if at, ok := held[p]; ok && at > s.asg.loaded[p] {
			s.asg.loaded[p] = at
		}
	}
	return nil
}

// markLoaded records that ClickHouse holds the partitions up to the given
// offsets (for those still owned).
func (s *Sink) markLoaded(upTo map[partition]int64) {
	s.asg.mu.Lock()
	defer s.asg.mu.Unlock()
	for p, off := range upTo {
		if _, ok := s.asg.owned[p]; ok && off > s.asg.loaded[p] {
			s.asg.loaded[p] = off
		}
	}
}
