package bench

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// Latency is the distribution of the time payroute added to payments: from
// the request's publish acknowledgement to its result being visible, minus
// the time its PSP calls took (the round trip to the simulator included,
// HTTP or in-process: from payroute's side that is the PSP's time).
type Latency struct {
	Samples            int
	P50, P90, P99, Max time.Duration
}

// percentiles summarizes durations; it sorts ds.
func percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(ds))+0.5) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return Latency{Samples: len(ds), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ds[len(ds)-1]}
}

// addedLatency is, per payment with all three figures, its commit time
// minus its publish acknowledgement minus its PSP time; all in
// nanoseconds, from one clock.
func addedLatency(acks, commits, psp stamps) Latency {
	ds := make([]time.Duration, 0, len(acks))
	for i, ack := range acks {
		if i >= len(commits) || i >= len(psp) || ack == 0 || commits[i] == 0 {
			continue
		}
		ds = append(ds, time.Duration(commits[i]-ack-psp[i]))
	}
	return percentiles(ds)
}

// whilePublishing is the results per second that became visible between
// from (the first record published) and to (the last), both Unix ns; 0 when
// the window is empty. The window starts with the load, not with
// payroute's first fetch: payroute owns its partitions before publishing
// starts, so a late first fetch is its own delay, and starting there would
// count records that waited in the topic as if drained in a shorter window
// (a CI run reported 2,233/s sustained while publishing at 187/s).
func whilePublishing(commits stamps, from, to int64) float64 {
	if from <= 0 || to <= from {
		return 0
	}
	n := 0
	for _, c := range commits {
		if c > 0 && c <= to {
			n++
		}
	}
	return float64(n) / time.Duration(to-from).Seconds()
}

// Phases split the latency payroute added, per payment, into where it was
// spent.
type Phases struct {
	// Fetch is from the publish acknowledgement to the processor's client
	// fetching the request.
	Fetch Latency
	// BeforeCall is from the fetch to the first PSP call starting: the
	// batch that records the attempt, its transaction's commit, and the
	// dispatch of the call.
	BeforeCall Latency
	// AfterCall is from the last PSP call ending to the result being
	// visible: waiting for the loop to take the outcome into a batch, and
	// that batch's transaction.
	AfterCall Latency
}

// phases computes Phases from per-payment stamps; payments missing a stamp
// are left out of the phase that needs it.
func phases(acks, fetched, started, ended, commits stamps) Phases {
	between := func(from, to stamps) Latency {
		ds := make([]time.Duration, 0, len(from))
		for i, f := range from {
			if i < len(to) && f != 0 && to[i] != 0 {
				ds = append(ds, time.Duration(to[i]-f))
			}
		}
		return percentiles(ds)
	}
	return Phases{Fetch: between(acks, fetched), BeforeCall: between(fetched, started), AfterCall: between(ended, commits)}
}

// topicLatency computes the added latency from what is on the topics
// alone, as any consumer of them could: the result record's timestamp
// minus the request record's, minus the AttemptRecorded latencies. Kafka
// timestamps and latency_ms are milliseconds, so each figure is off by up
// to a millisecond or two, and a result's timestamp is when it was
// produced, before its transaction committed; it is a cross-check of the
// microsecond figure, not a replacement.
func topicLatency(ctx context.Context, cluster *kafka.Cluster, decoder interface{ Decode([]byte, any) error }, payments int) (Latency, error) {
	topics := cluster.Topics()
	requested := newStamps(payments)
	resulted := newStamps(payments)
	spent := newStamps(payments)
	if err := readTopic(ctx, cluster, topics.Requested, func(r *kgo.Record) error {
		requested.set(paymentIndex(r.Key), r.Timestamp.UnixMilli())
		return nil
	}); err != nil {
		return Latency{}, err
	}
	if err := readTopic(ctx, cluster, topics.Results, func(r *kgo.Record) error {
		resulted.set(paymentIndex(r.Key), r.Timestamp.UnixMilli())
		return nil
	}); err != nil {
		return Latency{}, err
	}
	if err := readTopic(ctx, cluster, topics.Attempts, func(r *kgo.Record) error {
		var a schemas.AttemptRecorded
		if err := decoder.Decode(r.Value, &a); err != nil {
			return err
		}
		spent.add(paymentIndex(r.Key), a.LatencyMs)
		return nil
	}); err != nil {
		return Latency{}, err
	}
	ds := make([]time.Duration, 0, payments)
	for i := range payments {
		if requested[i] == 0 || resulted[i] == 0 {
			continue
		}
		ds = append(ds, time.Duration(resulted[i]-requested[i]-spent[i])*time.Millisecond)
	}
	return percentiles(ds), nil
}
