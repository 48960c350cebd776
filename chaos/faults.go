package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// faultState is what healAll must undo.
type faultState struct {
	mu      sync.Mutex
	timers  map[*time.Timer]func() // pending heals, run early by healAll
	handles []brokerFault
	armed   atomic.Bool // connection-drop controls act only while armed
	bg      sync.WaitGroup
}

type brokerFault struct {
	kind Kind
	h    *kfake.FaultHandle
}

// after runs heal after d, or at healAll, whichever comes first.
func (f *faultState) after(d time.Duration, heal func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timers == nil {
		f.timers = map[*time.Timer]func(){}
	}
	var t *time.Timer
	once := sync.OnceFunc(heal)
	t = time.AfterFunc(d, func() {
		f.mu.Lock()
		delete(f.timers, t)
		f.mu.Unlock()
		once()
	})
	f.timers[t] = once
}

// pick draws a fault kind by weight.
func (h *harness) pick() Kind {
	h.faultMu.Lock()
	defer h.faultMu.Unlock()
	total := 0
	for _, k := range Kinds {
		total += h.p.Weights[k]
	}
	w := h.faultRNG.IntN(total)
	for _, k := range Kinds {
		if w < h.p.Weights[k] {
			return k
		}
		w -= h.p.Weights[k]
	}
	return KillProcessor
}

// intn draws from the fault schedule's generator.
func (h *harness) intn(n int) int {
	h.faultMu.Lock()
	defer h.faultMu.Unlock()
	return h.faultRNG.IntN(n)
}

// between draws a duration in [lo, hi).
func (h *harness) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(h.intn(int(hi-lo)))
}

func (h *harness) applicable(k Kind) bool {
	switch k {
	case ClickHouseDown, SinkRestart:
		return h.p.ClickHouse != ""
	case AddInstance:
		return h.instances() < h.p.MaxInstances
	case RemoveInstance:
		return h.instances() > 1
	case KillProcessor, KillProcessorNewID:
		return h.instances() > 0
	}
	return true
}

// inject applies one fault: each kind with a weight once first, in an
// order drawn from the seed, so that every run covers them all; then kinds
// drawn by weight.
func (h *harness) inject(ctx context.Context) {
	k, ok := h.firstOfKind()
	if !ok {
		k = h.pick()
		for i := 0; i < 10 && !h.applicable(k); i++ {
			k = h.pick()
		}
		if !h.applicable(k) {
			return
		}
	}
	detail := h.apply(ctx, k)
	h.rep.fault(k, detail)
}

// firstOfKind takes the next applicable kind not injected yet.
func (h *harness) firstOfKind() (Kind, bool) {
	h.faultMu.Lock()
	if h.uncovered == nil {
		for _, k := range Kinds {
			if h.p.Weights[k] > 0 {
				h.uncovered = append(h.uncovered, k)
			}
		}
		h.faultRNG.Shuffle(len(h.uncovered), func(i, j int) { h.uncovered[i], h.uncovered[j] = h.uncovered[j], h.uncovered[i] })
	}
	pending := append([]Kind(nil), h.uncovered...)
	h.faultMu.Unlock()
	for _, k := range pending {
		// applicable takes the processors' lock: never under faultMu.
		if h.applicable(k) {
			h.faultMu.Lock()
			h.uncovered = slices.DeleteFunc(h.uncovered, func(u Kind) bool { return u == k })
			h.faultMu.Unlock()
			return k, true
		}
	}
	return "", false
}

var errDropped = errors.New("chaos: connection dropped")

// apply injects a fault of kind k and returns what it did.
func (h *harness) apply(ctx context.Context, k Kind) string {
	f := &h.faults
	kc := h.emb.Cluster()
	fail := func(keys []kmsg.Key, topLevel bool, errs ...*kerr.Error) string {
		e := errs[h.intn(len(errs))]
		n := 1 + h.intn(4)
		fh := kc.Fault(kfake.Fault{Keys: keys, TopLevel: topLevel, Err: e, Count: n})
		f.mu.Lock()
		f.handles = append(f.handles, brokerFault{kind: k, h: fh})
		f.mu.Unlock()
		names := ""
		for _, key := range keys {
			names += key.Name() + " "
		}
		return fmt.Sprintf("%s×%d %s", names, n, e.Message)
	}
	switch k {
	case KillProcessor, KillProcessorNewID:
		inst := h.takeInstance(0)
		if inst == nil {
			return "no instance"
		}
		inst.proc.Kill()
		id := inst.id
		if k == KillProcessorNewID {
			id = ""
		}
		f.bg.Add(1)
		go func() {
			defer f.bg.Done()
			if err := h.addInstance(ctx, id); err != nil {
				h.o.Logf("chaos: restart after kill: %v", err)
			}
		}()
		return inst.id
	case AddInstance:
		f.bg.Add(1)
		go func() {
			defer f.bg.Done()
			if err := h.addInstance(ctx, ""); err != nil {
				h.o.Logf("chaos: add instance: %v", err)
			}
		}()
		return ""
	case RemoveInstance:
		inst := h.takeInstance(1)
		if inst == nil {
			return "no instance"
		}
		f.bg.Add(1)
		go func() {
			defer f.bg.Done()
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := inst.proc.Stop(sctx); err != nil {
				h.rep.processorExit(err)
				inst.proc.Kill()
			}
		}()
		return inst.id
	case BrokerProduceError:
		return fail([]kmsg.Key{kmsg.Produce}, false, kerr.NotLeaderForPartition, kerr.UnknownTopicOrPartition)
	case BrokerProduceLostAnswer:
		return fail([]kmsg.Key{kmsg.Produce}, false, kerr.RequestTimedOut, kerr.NotEnoughReplicasAfterAppend)
	case BrokerFetchError:
		return fail([]kmsg.Key{kmsg.Fetch}, false, kerr.NotLeaderForPartition, kerr.UnknownLeaderEpoch, kerr.UnknownServerError)
	case BrokerOffsetCommitError:
		return fail([]kmsg.Key{kmsg.TxnOffsetCommit, kmsg.OffsetCommit}, false,
			kerr.CoordinatorLoadInProgress, kerr.NotCoordinator, kerr.RequestTimedOut)
	case BrokerTxnError:
		switch h.intn(3) {
		case 0:
			return fail([]kmsg.Key{kmsg.AddPartitionsToTxn}, false, kerr.ConcurrentTransactions, kerr.CoordinatorNotAvailable, kerr.NotCoordinator)
		case 1:
			return fail([]kmsg.Key{kmsg.EndTxn, kmsg.AddOffsetsToTxn}, true, kerr.ConcurrentTransactions, kerr.CoordinatorNotAvailable, kerr.NotCoordinator)
		default:
			return fail([]kmsg.Key{kmsg.InitProducerID}, true, kerr.CoordinatorLoadInProgress, kerr.ConcurrentTransactions)
		}
	case BrokerCoordinatorError:
		switch h.intn(3) {
		case 0:
			return fail([]kmsg.Key{kmsg.FindCoordinator}, false, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress)
		case 1:
			return fail([]kmsg.Key{kmsg.Heartbeat}, true, kerr.RebalanceInProgress, kerr.NotCoordinator)
		default:
			return fail([]kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup}, true, kerr.CoordinatorLoadInProgress, kerr.RebalanceInProgress)
		}
	case BrokerConnectionDrop:
		keys := []kmsg.Key{kmsg.Produce, kmsg.Fetch, kmsg.EndTxn, kmsg.TxnOffsetCommit, kmsg.AddPartitionsToTxn, kmsg.Heartbeat, kmsg.Metadata}
		key := keys[h.intn(len(keys))]
		f.armed.Store(true)
		var fired atomic.Bool
		kc.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
			if !f.armed.Load() || !fired.CompareAndSwap(false, true) {
				kc.DropControl()
				return nil, nil, false
			}
			h.rep.connDrops.Add(1)
			return nil, errDropped, true // handled with an error: the connection is closed
		})
		return key.Name()
	case ClickHouseDown:
		h.relay.Set(false)
		d := h.between(500*time.Millisecond, 5*time.Second)
		f.after(d, func() { h.relay.Set(true) })
		return d.Round(100 * time.Millisecond).String()
	case SinkRestart:
		f.bg.Add(1)
		go func() {
			defer f.bg.Done()
			if err := h.restartSink(ctx); err != nil {
				h.o.Logf("chaos: sink restart: %v", err)
			}
		}()
		return ""
	case PSPTimeout:
		name := pspNames[h.intn(len(pspNames))]
		h.gate.stall(name, true)
		d := h.between(300*time.Millisecond, 2*time.Second)
		f.after(d, func() { h.gate.stall(name, false) })
		return fmt.Sprintf("%s for %s", name, d.Round(100*time.Millisecond))
	case PSPDown:
		name := pspNames[h.intn(len(pspNames))]
		_ = h.sim.SetDown(name, true)
		d := h.between(300*time.Millisecond, 3*time.Second)
		f.after(d, func() { _ = h.sim.SetDown(name, false) })
		return fmt.Sprintf("%s for %s", name, d.Round(100*time.Millisecond))
	}
	return "unknown"
}

// healAll ends every fault in force: broker faults removed (their hits
// counted), drops disarmed, outages and stalls ended, restarts finished,
// and at least one processor running.
func (h *harness) healAll(ctx context.Context) {
	f := &h.faults
	f.armed.Store(false)
	f.mu.Lock()
	handles := f.handles
	f.handles = nil
	var heals []func()
	for t, heal := range f.timers {
		t.Stop()
		heals = append(heals, heal)
	}
	f.timers = nil
	f.mu.Unlock()
	for _, bf := range handles {
		h.rep.brokerHits(bf.kind, bf.h.Hits())
		bf.h.Remove()
	}
	for _, heal := range heals {
		heal()
	}
	f.bg.Wait()
	if h.instances() == 0 {
		if err := h.addInstance(ctx, ""); err != nil {
			h.o.Logf("chaos: no processor left and none starts: %v", err)
		}
	}
}
