package chaos

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp/simulator"
	"github.com/payroute/payroute/schemas"
)

// watcher follows payments.results while the run goes on, as a downstream
// service would (read_committed): it tells when every payment has its final
// result, and plays the customer, answering each ACTION_REQUIRED with a
// CANCEL or a RETRY (with a token that approves).
type watcher struct {
	h      *harness
	client *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	want    map[string]bool // planned payments
	final   map[string]int
	nFinal  int
	actions chan *kgo.Record
}

func newWatcher(h *harness) *watcher {
	w := &watcher{h: h, want: map[string]bool{}, final: map[string]int{}, actions: make(chan *kgo.Record, 1024)}
	for _, it := range h.planned {
		if it.payment != nil {
			w.want[it.payment.PaymentID] = true
		}
	}
	return w
}

func (w *watcher) start(ctx context.Context) error {
	cl, err := w.h.cluster.NewClient(kgo.ConsumeTopics(w.h.cluster.Topics().Results),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	w.client = cl
	rctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.done = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.sendActions(rctx)
	}()
	go func() {
		defer close(w.done)
		defer wg.Wait()
		for {
			fs := cl.PollFetches(rctx)
			if rctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			fs.EachRecord(w.record)
		}
	}()
	return nil
}

func (w *watcher) record(r *kgo.Record) {
	var res schemas.PaymentResult
	if err := w.h.serde.Decode(r.Value, &res); err != nil {
		return // verify reports it
	}
	if producers.HeaderValue(r, consumers.HeaderReplay) != "" {
		return
	}
	if res.Status == schemas.StatusActionRequired {
		if !w.want[res.PaymentID] {
			return
		}
		a := &schemas.CustomerAction{PaymentID: res.PaymentID, Action: schemas.ActionCancel, RequestedAtMs: time.Now().UnixMilli()}
		h := fnv.New32a()
		h.Write([]byte(res.PaymentID))
		if h.Sum32()%2 == 0 {
			a.Action, a.Token = schemas.ActionRetry, simulator.TokenApprove
		}
		v, err := w.h.serde.Encode(a)
		if err != nil {
			return
		}
		w.actions <- &kgo.Record{Topic: w.h.cluster.Topics().Actions, Key: []byte(res.PaymentID), Value: v}
		return
	}
	w.mu.Lock()
	if w.final[res.PaymentID] == 0 && w.want[res.PaymentID] {
		w.nFinal++
	}
	w.final[res.PaymentID]++
	w.mu.Unlock()
}

// sendActions publishes the customer's actions, each until acknowledged.
func (w *watcher) sendActions(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case rec := <-w.actions:
			for ctx.Err() == nil {
				pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := w.h.producer.ProduceSync(pctx, rec).FirstErr()
				cancel()
				if err == nil {
					w.h.rep.actions.Add(1)
					break
				}
				rec = &kgo.Record{Topic: rec.Topic, Key: rec.Key, Value: rec.Value}
			}
		}
	}
}

// finals is the number of planned payments with a final result so far.
func (w *watcher) finals() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nFinal
}

func (w *watcher) complete() bool { return w.missing() == 0 }

func (w *watcher) missing() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.want) - w.nFinal
}

func (w *watcher) stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	w.client.Close()
	<-w.done
	w.cancel = nil
}
