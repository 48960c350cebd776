package consumers

import (
	"context"
	"sync"
	"time"

	"github.com/payroute/payroute/psp"
)

// call is one PSP call to make: a payment's InFlight, ready to send.
type call struct {
	part    int32
	payment string
	psp     string
	req     psp.Request
	// resend marks a call made again from the committed state after a
	// crash, restart or rebalance: the PSP may have processed the first
	// send, so its failure answers prove nothing (see Processor.call).
	resend bool
}

// completion is a finished call, waiting for the loop to act on it in its
// next transaction.
type completion struct {
	call
	out      psp.Outcome
	started  time.Time
	finished time.Time
}

// dispatcher runs PSP calls outside the poll loop, so a payment waiting on
// a slow PSP holds neither a transaction nor its partition: other payments,
// of the same partition too, go on. It bounds the calls under way per PSP
// (so one slow or hung PSP uses only its own slots) and in all (so memory
// is bounded whatever the backlog); calls beyond a PSP's limit wait in that
// PSP's queue, in order.
type dispatcher struct {
	maxPerPSP int
	run       func(ctx context.Context, c call) completion

	mu        sync.Mutex
	running   map[string]int    // PSP -> calls under way
	queued    map[string][]call // PSP -> calls waiting for a slot
	pending   int               // running + queued + finished but not settled
	calling   int               // running + queued
	done      []completion
	inflight  map[string]bool // payment -> a call is running or queued
	wake      chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	perPSPMax map[string]int // observed high-water marks, for tests and metrics
}

func newDispatcher(maxPerPSP int, run func(ctx context.Context, c call) completion) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &dispatcher{
		maxPerPSP: maxPerPSP, run: run,
		running: map[string]int{}, queued: map[string][]call{}, inflight: map[string]bool{},
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, perPSPMax: map[string]int{},
	}
}

// submit starts a call, or queues it behind its PSP's running calls. A
// payment already being called is not called twice by this instance.
func (d *dispatcher) submit(c call) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inflight[c.payment] {
		return
	}
	d.inflight[c.payment] = true
	d.pending++
	d.calling++
	if d.running[c.psp] >= d.maxPerPSP {
		d.queued[c.psp] = append(d.queued[c.psp], c)
		return
	}
	d.startLocked(c)
}

func (d *dispatcher) startLocked(c call) {
	d.running[c.psp]++
	if d.running[c.psp] > d.perPSPMax[c.psp] {
		d.perPSPMax[c.psp] = d.running[c.psp]
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		res := d.run(d.ctx, c)
		d.mu.Lock()
		d.running[c.psp]--
		d.calling--
		d.done = append(d.done, res)
		if q := d.queued[c.psp]; len(q) > 0 {
			next := q[0]
			d.queued[c.psp] = q[1:]
			d.startLocked(next)
		}
		d.mu.Unlock()
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}()
}

// take returns the finished calls. The loop hands them back with requeue
// if its transaction does not commit.
func (d *dispatcher) take() []completion {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.done
	d.done = nil
	return out
}

// settled tells the dispatcher the loop committed what these completions
// led to: their payments may be called again.
func (d *dispatcher) settled(cs []completion) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range cs {
		delete(d.inflight, c.payment)
		d.pending--
	}
}

// requeue puts back completions whose transaction aborted.
func (d *dispatcher) requeue(cs []completion) {
	if len(cs) == 0 {
		return
	}
	d.mu.Lock()
	d.done = append(cs, d.done...)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Pending is the number of calls running, queued or finished but not yet
// settled: the processor's work in flight.
func (d *dispatcher) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pending
}

// Calling is the number of calls running or queued for a PSP slot: what
// processor.max_in_flight bounds. Finished calls waiting for their outcome
// to commit do not count: their slot is free, and holding it through the
// commit would leave the PSPs idle for a batch each time (at 100 ms calls
// and 1,000 in flight, a fifth of the throughput). Those are at most the
// calls that finish during one batch, so the work held stays bounded.
func (d *dispatcher) Calling() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calling
}

// drop forgets finished calls of partitions no longer owned: their next
// owner makes the call again from the committed state.
func (d *dispatcher) drop(keep func(part int32) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	kept := d.done[:0]
	for _, c := range d.done {
		if keep(c.part) {
			kept = append(kept, c)
		} else {
			delete(d.inflight, c.payment)
			d.pending--
		}
	}
	d.done = kept
	for name, q := range d.queued {
		kq := q[:0]
		for _, c := range q {
			if keep(c.part) {
				kq = append(kq, c)
			} else {
				delete(d.inflight, c.payment)
				d.pending--
				d.calling--
			}
		}
		d.queued[name] = kq
	}
}

// stop waits for the calls under way (their outcomes are dropped: the
// committed state has them in flight, and the next owner calls again).
func (d *dispatcher) stop(ctx context.Context) {
	d.mu.Lock()
	d.queued = map[string][]call{}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.cancel()
	}
}
