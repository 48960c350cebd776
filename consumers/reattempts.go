package consumers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
)

// reattemptLedger counts every card's scheduled reattempts over the card
// networks' window (ReattemptWindow), across all instances. A card's
// payments are spread over partitions, so no single owner sees them all:
// each scheduled retry is written to payments.reattempts, keyed by the
// card's fingerprint, in the same transaction as the retry itself, and
// every instance reads the whole topic.
//
// The trade-off: an instance learns of another instance's reattempt only
// once it has read it, a few milliseconds later, so two instances retrying
// the same card in that gap can each go one over the limit. The alternative,
// funnelling every card through one owner by re-keying on the fingerprint,
// would add a topic hop to every declined payment.
type reattemptLedger struct {
	cluster *kafka.Cluster
	topic   string
	log     *slog.Logger

	mu     sync.Mutex
	byCard map[string][]int64 // fingerprint -> reattempt times (ms)

	client *kgo.Client
	done   chan struct{}
}

// reattempt is one record of payments.reattempts.
type reattempt struct {
	PaymentID string `json:"payment_id"`
	AtMs      int64  `json:"at_ms"`
}

func newReattemptLedger(cluster *kafka.Cluster, log *slog.Logger) *reattemptLedger {
	return &reattemptLedger{cluster: cluster, topic: cluster.Topics().Reattempts, log: log, byCard: map[string][]int64{}}
}

// start loads the topic's history, then follows it in a goroutine.
func (l *reattemptLedger) start(ctx context.Context) error {
	next, err := readToEnd(ctx, l.cluster, l.topic, nil, func(r *kgo.Record) error {
		l.add(r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load card reattempts: %w", err)
	}
	offsets := map[int32]kgo.Offset{}
	for part, off := range next {
		offsets[part] = kgo.NewOffset().At(off)
	}
	l.client, err = l.cluster.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{l.topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return err
	}
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		for {
			fetches := l.client.PollFetches(context.Background())
			if fetches.IsClientClosed() {
				return
			}
			fetches.EachError(func(t string, p int32, err error) {
				if !errors.Is(err, context.Canceled) {
					l.log.Warn("reading card reattempts", "partition", p, "err", err)
				}
			})
			fetches.EachRecord(l.add)
		}
	}()
	return nil
}

func (l *reattemptLedger) stop() {
	if l.client != nil {
		l.client.Close()
		<-l.done
	}
}

func (l *reattemptLedger) add(r *kgo.Record) {
	var ra reattempt
	if err := json.Unmarshal(r.Value, &ra); err != nil {
		l.log.Warn("unreadable card reattempt record", "offset", r.Offset, "err", err)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byCard[string(r.Key)] = append(l.byCard[string(r.Key)], ra.AtMs)
}

// count is how many reattempts of the card fall in the window before now,
// forgetting older ones.
func (l *reattemptLedger) count(fingerprint string, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Times are in topic order, which is only roughly time order (clocks of
	// different instances), so every time is checked.
	from := now.Add(-ReattemptWindow).UnixMilli()
	kept := l.byCard[fingerprint][:0]
	for _, at := range l.byCard[fingerprint] {
		if at >= from {
			kept = append(kept, at)
		}
	}
	if len(kept) == 0 {
		delete(l.byCard, fingerprint)
		return 0
	}
	l.byCard[fingerprint] = kept
	return len(kept)
}

// record is the ledger record of a reattempt scheduled now.
func (l *reattemptLedger) record(fingerprint, paymentID string, now time.Time) *kgo.Record {
	b, _ := json.Marshal(reattempt{PaymentID: paymentID, AtMs: now.UnixMilli()})
	return &kgo.Record{Topic: l.topic, Key: []byte(fingerprint), Value: b}
}
