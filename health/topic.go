package health

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// startKafka reads psp.health to its end, then leaves a goroutine following
// it, and makes the client the one transitions are published with.
func (t *Tracker) startKafka(ctx context.Context) error {
	topic := t.cluster.Topics().Health
	cl, err := t.cluster.NewClient(
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DefaultProduceTopic(topic),
	)
	if err != nil {
		return fmt.Errorf("health: kafka client: %w", err)
	}
	want, err := lastOffsets(ctx, cl, topic)
	if err != nil {
		cl.Close()
		return err
	}
	caughtUp := make(chan struct{})
	if len(want) == 0 {
		close(caughtUp)
	}
	t.done.Add(1)
	go func() {
		defer t.done.Done()
		for {
			fetches := cl.PollFetches(context.Background())
			if fetches.IsClientClosed() {
				return
			}
			fetches.EachError(func(topic string, part int32, err error) {
				if !errors.Is(err, context.Canceled) {
					t.log.Warn("reading psp.health", "partition", part, "err", err)
				}
			})
			t.mu.Lock()
			fetches.EachRecord(t.applyRecordLocked)
			t.mu.Unlock()
			if len(want) > 0 {
				fetches.EachRecord(want.reached)
				if len(want) == 0 {
					close(caughtUp)
				}
			}
		}
	}()
	select {
	case <-caughtUp:
	case <-ctx.Done():
		cl.Close()
		t.done.Wait()
		return fmt.Errorf("health: reading %s to its end: %w", topic, ctx.Err())
	}
	t.mu.Lock()
	t.client = cl
	t.mu.Unlock()
	return nil
}

// applyRecordLocked adopts one psp.health record. A tombstone (a key an
// operator deleted) is skipped: the scope keeps its state until a
// transition says otherwise.
func (t *Tracker) applyRecordLocked(r *kgo.Record) {
	if r.Value == nil {
		return
	}
	var ev schemas.PspHealthChanged
	if err := t.serde.Decode(r.Value, &ev); err != nil {
		t.stats.DecodeErrors++
		t.log.Warn("unreadable psp.health record", "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	t.adoptLocked(ev)
}

// queueLocked publishes a record of this instance's, keyed "<psp>|<scope>".
// It produces with the lock held, because records of one key must reach
// the log in the order this instance made its transitions; TryProduce
// never blocks (a full buffer fails the record instead).
func (t *Tracker) queueLocked(m *machine, ev schemas.PspHealthChanged) {
	if t.client == nil {
		return
	}
	b, err := t.serde.Encode(&ev)
	if err != nil {
		t.stats.PublishErrors++
		t.log.Error("encoding psp.health record", "psp", ev.PSP, "scope", ev.Scope, "err", err)
		return
	}
	m.pendingOwn++
	t.client.TryProduce(context.Background(), &kgo.Record{Key: []byte(m.key), Value: b}, func(_ *kgo.Record, err error) {
		if err == nil {
			t.published.Add(1)
			return
		}
		// The promise may run inside TryProduce, with the lock held.
		go t.publishFailed(m, ev, err)
	})
}

// publishFailed accounts for a record that never reached the topic: it
// will not come back, so it is no longer pending.
func (t *Tracker) publishFailed(m *machine, ev schemas.PspHealthChanged, err error) {
	t.mu.Lock()
	if m.pendingOwn > 0 {
		m.pendingOwn--
	}
	t.stats.PublishErrors++
	t.mu.Unlock()
	t.log.Error("publishing psp.health record", "psp", ev.PSP, "scope", ev.Scope, "state", ev.State, "err", err)
}

// offsets maps each partition that has records to the offset of its last
// record; a partition is deleted once a record at or past it is read.
type offsets map[int32]int64

func (o offsets) reached(r *kgo.Record) {
	if last, ok := o[r.Partition]; ok && r.Offset >= last {
		delete(o, r.Partition)
	}
}

// lastOffsets lists, for each partition of topic with records, the offset
// of the last one: reading a topic "to its end" means reading up to these.
func lastOffsets(ctx context.Context, cl *kgo.Client, topic string) (offsets, error) {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("health: end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("health: start offsets of %s: %w", topic, err)
	}
	if _, ok := ends[topic]; !ok {
		return nil, fmt.Errorf("health: topic %s does not exist", topic)
	}
	want := offsets{}
	ends.Each(func(end kadm.ListedOffset) {
		if start, ok := starts.Lookup(topic, end.Partition); ok && end.Offset > start.Offset {
			want[end.Partition] = end.Offset - 1
		}
	})
	return want, nil
}

// Load reads psp.health to its end and returns the latest record of every
// PSP scope, by PSP and scope ("*" first): the state a new instance starts
// from, for `payroute status`. Timed transitions not yet published (a
// cool-off that has just passed) are not in it. Unreadable records are
// skipped and counted in skipped.
func Load(ctx context.Context, cluster *kafka.Cluster, serde *schemas.Serde) (latest []schemas.PspHealthChanged, skipped int, err error) {
	topic := cluster.Topics().Health
	cl, err := cluster.NewClient(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, 0, fmt.Errorf("health: kafka client: %w", err)
	}
	defer cl.Close()
	want, err := lastOffsets(ctx, cl, topic)
	if err != nil {
		return nil, 0, err
	}
	byKey := map[string]schemas.PspHealthChanged{}
	for len(want) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, 0, fmt.Errorf("health: reading %s: %w", topic, err)
		}
		var ferr error
		fetches.EachError(func(t string, part int32, err error) { ferr = fmt.Errorf("health: reading %s/%d: %w", t, part, err) })
		if ferr != nil {
			return nil, 0, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			want.reached(r)
			if r.Value == nil {
				return
			}
			var ev schemas.PspHealthChanged
			if serde.Decode(r.Value, &ev) != nil {
				skipped++
				return
			}
			scope, err := normalizeScope(ev.Scope)
			if err != nil || ev.PSP == "" {
				skipped++
				return
			}
			ev.Scope = scope
			byKey[key(ev.PSP, scope)] = ev
		})
	}
	for _, ev := range byKey {
		latest = append(latest, ev)
	}
	sort.Slice(latest, func(i, j int) bool {
		if latest[i].PSP != latest[j].PSP {
			return latest[i].PSP < latest[j].PSP
		}
		return scopeLess(latest[i].Scope, latest[j].Scope)
	})
	return latest, skipped, nil
}
