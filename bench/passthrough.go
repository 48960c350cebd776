package bench

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
)

// passThroughSystem is the ceiling payroute is compared with: a plain
// franz-go consumer group that reads the payment requests and produces
// the same bytes (key, value, headers) to another topic, with no decoding,
// routing, PSP call or state. Plain: an idempotent producer and automatic
// offset commits, the least a consume→produce pass can do on this broker.
// Transactional: each poll is one transaction with its offsets
// (kgo.GroupTransactSession, as payroute's processor does), which shows
// what exactly-once alone costs.
type passThroughSystem struct {
	transactional bool
	client        *kgo.Client
	sess          *kgo.GroupTransactSession

	outputs    atomic.Int64
	firstFetch atomic.Int64
	last       atomic.Int64
	txns       atomic.Int64
	aborted    atomic.Int64

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// firstFetchClock notes when the first input record was fetched.
type firstFetchClock struct {
	input string
	first *atomic.Int64
}

func (f firstFetchClock) OnFetchRecordBuffered(r *kgo.Record) {
	if r.Topic == f.input {
		f.first.CompareAndSwap(0, time.Now().UnixNano())
	}
}

// startPassThrough starts a pass-through for spec and waits until it owns
// every partition of its input.
func startPassThrough(ctx context.Context, s spec, transactional bool) (*passThroughSystem, error) {
	kcfg := kafka.DefaultConfiguration()
	kcfg.Brokers = s.Brokers
	kcfg.Partitions = s.Partitions
	kcfg.ClientID = "payroute-bench-passthrough"
	cluster, err := kafka.NewCluster(kcfg, nil)
	if err != nil {
		return nil, err
	}
	p := &passThroughSystem{transactional: transactional, done: make(chan struct{})}
	assigned := make(chan struct{})
	var once sync.Once
	opts := []kgo.Opt{
		kgo.ConsumerGroup(s.Group),
		kgo.ConsumeTopics(s.Input),
		kgo.DefaultProduceTopic(s.Output),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithHooks(firstFetchClock{input: s.Input, first: &p.firstFetch}),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if int32(len(m[s.Input])) == s.Partitions {
				once.Do(func() { close(assigned) })
			}
		}),
	}
	if transactional {
		opts = append(opts,
			kgo.TransactionalID(s.Group+"-bench"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
		)
		if p.sess, err = cluster.NewGroupTransactSession(opts...); err != nil {
			return nil, err
		}
		p.client = p.sess.Client()
	} else if p.client, err = cluster.NewClient(opts...); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		defer close(p.done)
		if transactional {
			p.err = p.runTransactional(runCtx, s.MaxPollRecords)
		} else {
			p.err = p.runPlain(runCtx, s.MaxPollRecords)
		}
		if errors.Is(p.err, context.Canceled) {
			p.err = nil
		}
	}()
	select {
	case <-assigned:
		return p, nil
	case <-p.done:
		p.close()
		return nil, errorf("pass-through stopped before joining its group: %v", p.err)
	case <-ctx.Done():
		p.close()
		return nil, errorf("pass-through did not join its group: %w", ctx.Err())
	}
}

// runPlain copies until ctx ends.
func (p *passThroughSystem) runPlain(ctx context.Context, maxPoll int) error {
	var (
		mu       sync.Mutex
		firstErr error
	)
	for ctx.Err() == nil {
		fs := p.client.PollRecords(ctx, maxPoll)
		if fs.IsClientClosed() {
			return nil
		}
		fs.EachRecord(func(r *kgo.Record) {
			out := &kgo.Record{Key: r.Key, Value: r.Value, Headers: r.Headers}
			p.client.Produce(ctx, out, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					if firstErr == nil && ctx.Err() == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				p.outputs.Add(1)
				p.last.Store(time.Now().UnixNano())
			})
		})
		mu.Lock()
		err := firstErr
		mu.Unlock()
		if err != nil {
			return errorf("pass-through produce: %w", err)
		}
	}
	return ctx.Err()
}

// runTransactional copies one poll per transaction until ctx ends.
func (p *passThroughSystem) runTransactional(ctx context.Context, maxPoll int) error {
	work := context.WithoutCancel(ctx)
	for ctx.Err() == nil {
		fs := p.sess.PollRecords(ctx, maxPoll)
		if fs.IsClientClosed() {
			return nil
		}
		if fs.NumRecords() == 0 {
			continue
		}
		if err := p.sess.Begin(); err != nil {
			return errorf("pass-through begin: %w", err)
		}
		var failed atomic.Bool
		fs.EachRecord(func(r *kgo.Record) {
			p.sess.Produce(work, &kgo.Record{Key: r.Key, Value: r.Value, Headers: r.Headers}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Store(true)
				}
			})
		})
		try := kgo.TryCommit
		if failed.Load() {
			try = kgo.TryAbort
		}
		committed, err := p.sess.End(work, try)
		if err != nil {
			return errorf("pass-through end transaction: %w", err)
		}
		p.txns.Add(1)
		if !committed {
			p.aborted.Add(1)
			continue
		}
		p.outputs.Add(int64(fs.NumRecords()))
		p.last.Store(time.Now().UnixNano())
	}
	return ctx.Err()
}

// Outputs is the count of records copied (acknowledged, or committed).
func (p *passThroughSystem) Outputs() int64 { return p.outputs.Load() }

// Err is what stopped the pass-through, if it stopped on its own.
func (p *passThroughSystem) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

func (p *passThroughSystem) close() {
	if p.sess != nil {
		p.sess.Close()
	} else {
		p.client.Close()
	}
}

// Stop stops copying and returns the measurements.
func (p *passThroughSystem) Stop(ctx context.Context) (outcome, error) {
	p.cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
	p.close()
	return outcome{
		Outputs:      p.outputs.Load(),
		FirstFetch:   p.firstFetch.Load(),
		LastOutput:   p.last.Load(),
		Transactions: p.txns.Load(),
		Aborted:      p.aborted.Load(),
	}, p.err
}
