package consumers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
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
	// confirmKey, for a RETRY after a challenge, is the challenged
	// attempt's idempotency key, asked about first (confirmChallenge).
	confirmKey string
	// queuedAt is when the call started waiting for a slot.
	queuedAt time.Time
}

// completion is a finished call, waiting for the loop to act on it in its
// next transaction.
type completion struct {
	call
	out      psp.Outcome
	doubt    doubt
	started  time.Time
	finished time.Time
	// answeredKey is the idempotency key the outcome is the PSP's answer
	// to, when not the call's own: the challenged attempt's, confirmed.
	answeredKey string
}

// dispatcher runs PSP calls outside the poll loop, so a payment waiting on
// a slow PSP holds neither a transaction nor its partition: other payments,
// of the same partition too, go on. It bounds the calls under way in all
// (maxRunning, processor.max_in_flight) and per PSP (maxPerPSP, so one slow
// or hung PSP uses only its own slots). Calls beyond either bound wait in
// their PSP's queue, in order; when a slot frees, the PSPs with waiting
// calls take turns (round robin), and a PSP at its own bound is passed
// over, so a hung PSP's queue never holds back the others' calls.
//
// The queue is what keeps the PSP slots busy: the loop admits payments
// ahead of the free slots (see Processor.run), their attempts committed and
// their calls queued here, so a call that ends is replaced at once instead
// of after the next batch commits.
//
// A call waits at most queueTimeout (processor.queue_timeout). A hung PSP's
// calls hold its slots until they time out and their status inquiries give
// up (processor.in_doubt_window); were its queue to grow all that time, the
// payments routed to it would fill the loop's intake and stall every other
// PSP. So a first send that waited longer ends, not sent, as rate_limited
// with code queue_timeout, and so does a new one while its PSP's oldest
// waiting call is past the timeout (the PSP is stuck or overloaded): the
// payment fails over like after a PSP's 429, which is safe because the PSP
// never saw it. A PSP that is merely busy takes its queue within the
// timeout (1,000 waiting at 100 ms calls and 500 slots: 200 ms). Calls
// that may not fail over wait whatever the time: follow-ups (they belong
// to the PSP that authorized) and calls made again from the committed
// state (resend: the first send may have reached the PSP).
type dispatcher struct {
	maxRunning   int
	maxPerPSP    int
	queueTimeout time.Duration // 0: calls wait as long as it takes
	run          func(ctx context.Context, c call) completion
	now          func() time.Time

	mu        sync.Mutex
	running   map[string]int    // PSP -> calls under way
	queued    map[string][]call // PSP -> calls waiting for a slot
	turns     []string          // PSPs that have had a queue, in round-robin order
	turn      int               // index in turns of the PSP to try first
	total     int               // calls under way, all PSPs
	pending   int               // running + queued + finished but not settled
	calling   int               // running + queued
	done      []completion
	inflight  map[string]bool // payment -> a call is running or queued
	wake      chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	maxTotal  int            // observed high-water mark of total, for tests and metrics
	perPSPMax map[string]int // observed high-water marks, for tests and metrics
}

// PSPCodeQueueTimeout is the psp_code of an attempt that was never sent:
// it waited processor.queue_timeout on this instance for a slot at its PSP
// (class rate_limited, so the payment fails over).
const PSPCodeQueueTimeout = "queue_timeout"

// sheddable reports whether a call may end unsent after waiting too long:
// a first send of an authorization or charge, which may fail over.
func sheddable(c call) bool {
	return !c.resend && (c.req.Operation == schemas.OpAuthorize || c.req.Operation == schemas.OpCharge)
}

// shedLocked ends a call unsent; d.mu must be held and the call counted in
// calling, not queued.
func (d *dispatcher) shedLocked(c call, now time.Time) {
	d.calling--
	out := psp.Outcome{Outcome: schemas.OutcomeError, Class: schemas.ClassRateLimited, PSPCode: PSPCodeQueueTimeout,
		Message: fmt.Sprintf("not sent: no slot at %s on this instance within %s (processor.queue_timeout)", c.psp, d.queueTimeout)}
	d.done = append(d.done, completion{call: c, out: out, started: now, finished: now})
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// stuckLocked reports whether the PSP's oldest waiting call has waited past
// the timeout: new calls would wait at least as long.
func (d *dispatcher) stuckLocked(name string, now time.Time) bool {
	q := d.queued[name]
	return d.queueTimeout > 0 && len(q) > 0 && now.Sub(q[0].queuedAt) > d.queueTimeout
}

// expireQueued ends unsent the sheddable calls that have waited past the
// timeout. The loop calls it on every turn.
func (d *dispatcher) expireQueued() {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	for name, q := range d.queued {
		if !d.stuckLocked(name, now) {
			continue // the oldest has not waited that long, nor has any other
		}
		kept := q[:0]
		for _, c := range q {
			if sheddable(c) && now.Sub(c.queuedAt) > d.queueTimeout {
				d.shedLocked(c, now)
			} else {
				kept = append(kept, c)
			}
		}
		d.queued[name] = kept
	}
}

func newDispatcher(maxRunning, maxPerPSP int, queueTimeout time.Duration, run func(ctx context.Context, c call) completion) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &dispatcher{
		maxRunning: maxRunning, maxPerPSP: maxPerPSP, queueTimeout: queueTimeout, run: run, now: time.Now,
		running: map[string]int{}, queued: map[string][]call{}, inflight: map[string]bool{},
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, perPSPMax: map[string]int{},
	}
}

// submit starts a call, or queues it behind the calls under way. A
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
	if d.total < d.maxRunning && d.running[c.psp] < d.maxPerPSP && len(d.queued[c.psp]) == 0 {
		d.startLocked(c)
		return
	}
	now := d.now()
	if sheddable(c) && d.stuckLocked(c.psp, now) {
		d.shedLocked(c, now)
		return
	}
	c.queuedAt = now
	if !slices.Contains(d.turns, c.psp) {
		d.turns = append(d.turns, c.psp)
	}
	d.queued[c.psp] = append(d.queued[c.psp], c)
	d.startQueuedLocked()
}

// startQueuedLocked starts waiting calls while there are free slots, the
// PSPs taking turns.
func (d *dispatcher) startQueuedLocked() {
	for d.total < d.maxRunning {
		started := false
		for i := range d.turns {
			name := d.turns[(d.turn+i)%len(d.turns)]
			q := d.queued[name]
			if len(q) == 0 || d.running[name] >= d.maxPerPSP {
				continue
			}
			d.queued[name] = q[1:]
			d.turn = (d.turn + i + 1) % len(d.turns)
			d.startLocked(q[0])
			started = true
			break
		}
		if !started {
			return
		}
	}
}

func (d *dispatcher) startLocked(c call) {
	d.running[c.psp]++
	d.total++
	d.perPSPMax[c.psp] = max(d.perPSPMax[c.psp], d.running[c.psp])
	d.maxTotal = max(d.maxTotal, d.total)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		res := d.run(d.ctx, c)
		d.mu.Lock()
		d.running[c.psp]--
		d.total--
		d.calling--
		d.done = append(d.done, res)
		d.startQueuedLocked()
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

// Calling is the number of calls running or queued for a slot: what the
// loop bounds its intake by (twice max_in_flight, see Processor.run). Finished
// calls waiting for their outcome to commit do not count: their slot is
// free, and holding it through the commit would leave the PSPs idle for a
// batch each time (at 100 ms calls and 1,000 in flight, a fifth of the
// throughput). Those are at most the calls that finish during one batch,
// so the work held stays bounded.
func (d *dispatcher) Calling() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calling
}

// calls is the number of calls to one PSP under way, and waiting for a
// slot.
func (d *dispatcher) calls(name string) (running, queued int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running[name], len(d.queued[name])
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
	d.dropQueuedLocked(keep)
}

// dropQueued forgets every call waiting for a slot. None was sent, and
// their payments' committed state has them attempting, so whoever loads
// that state next makes them (as re-sends: it cannot know they were not).
// On an assignment, the reload makes them again from the state that was
// committed, which a queued call of an earlier owner may not match; on
// Stop, nothing new should start.
func (d *dispatcher) dropQueued() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropQueuedLocked(func(int32) bool { return false })
}

// dropQueuedLocked forgets the waiting calls of the partitions keep
// rejects; d.mu must be held.
func (d *dispatcher) dropQueuedLocked(keep func(part int32) bool) {
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
	d.dropQueued()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.cancel()
	}
}

// answeredIdempotencyKey is the idempotency key the outcome answers: answeredKey,
// or the call's own.
func (c completion) answeredIdempotencyKey() string {
	if c.answeredKey != "" {
		return c.answeredKey
	}
	return c.req.IdempotencyKey
}
