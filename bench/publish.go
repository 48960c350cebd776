package bench

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/producers"
)

// published is what publishing the load took.
type published struct {
	Payments int
	// Start is when the first record was acknowledged, not when the
	// publisher was created: its connection and producer set-up are not
	// the load, and on a busy machine they took most of a small run.
	Start time.Time
	End   time.Time // when the last record was acknowledged
	// Acks are when each payment's record was acknowledged by the broker:
	// from then on the system under test can read it.
	Acks stamps
}

// Rate is the records acknowledged per second, from the first to the last.
func (p published) Rate() float64 { return perSecond(p.Payments, p.End.Sub(p.Start)) }

// ackClock stamps each produced record with the time its produce was
// acknowledged, and counts them.
type ackClock struct {
	acks  stamps
	acked *atomic.Int64
}

var _ kgo.HookProduceRecordUnbuffered = (*ackClock)(nil)

func (a *ackClock) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if err == nil {
		a.acks.set(paymentIndex(r.Key), time.Now().UnixNano())
		a.acked.Add(1)
	}
}

// publish publishes n payments to topic the way an upstream service does
// (producers.Generator: Avro PaymentRequested keyed by payment id, every
// one approvable and naming the benchmark's route), at rate per second or
// as fast as the broker takes them (rate 0). acked, when not nil, counts
// the records acknowledged so far, for progress lines.
func (w *world) publish(ctx context.Context, topic string, n int, rate float64, idPrefix string, acked *atomic.Int64) (published, error) {
	if acked == nil {
		acked = new(atomic.Int64)
	}
	acks := &ackClock{acks: newStamps(n), acked: acked}
	// No linger: each record is sent at once (batched only behind produce
	// requests in flight), so its Kafka timestamp, set when it is
	// produced, is close to its acknowledgement, and the latency computed
	// from topic timestamps is comparable with the one from the stamps.
	client, err := w.cluster.NewClient(kgo.WithHooks(acks), kgo.ProducerLinger(0))
	if err != nil {
		return published{}, err
	}
	defer client.Close()
	topics := w.cluster.Topics()
	topics.Requested = topic
	gcfg := producers.DefaultGeneratorConfiguration()
	gcfg.Payments = n
	gcfg.Rate = rate
	gcfg.RouteRef = routeName
	gcfg.Tokens = map[string]float64{"tok_approve": 1}
	gcfg.IDPrefix = idPrefix
	gen, err := producers.NewGenerator(gcfg, producers.NewRecords(w.serde, topics), client)
	if err != nil {
		return published{}, err
	}
	sent, err := gen.Run(ctx, nil)
	end := time.Now()
	if err != nil {
		return published{}, errorf("publishing to %s: %w", topic, err)
	}
	if sent != n {
		return published{}, errorf("published %d of %d payments to %s", sent, n, topic)
	}
	return published{Payments: n, Start: time.Unix(0, acks.acks.first()), End: end, Acks: acks.acks}, nil
}

// perSecond is n per d, or 0 when d is not positive.
func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
