package consumers

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// TestDispatcherBoundsEachPSP: calls beyond a PSP's limit wait in order,
// while another PSP's calls run at once; a payment is never called twice
// at the same time.
func TestDispatcherBoundsEachPSP(t *testing.T) {
	release := map[string]chan struct{}{}
	for i := 0; i < 5; i++ {
		release[fmt.Sprintf("slow-%d", i)] = make(chan struct{})
	}
	var mu sync.Mutex
	var started []string
	startedN := func() int { mu.Lock(); defer mu.Unlock(); return len(started) }
	d := newDispatcher(100, 2, 0, func(ctx context.Context, c call) completion {
		mu.Lock()
		started = append(started, c.payment)
		mu.Unlock()
		if ch, ok := release[c.payment]; ok {
			<-ch
		}
		return completion{call: c}
	})
	for i := 0; i < 5; i++ {
		d.submit(call{payment: fmt.Sprintf("slow-%d", i), psp: "slow"})
	}
	d.submit(call{payment: "slow-0", psp: "slow"}) // already in flight: ignored
	d.submit(call{payment: "fast-0", psp: "fast"})
	waitUntil(t, func() bool { return len(d.take()) == 1 }) // fast-0 done despite slow's queue
	if got := d.Pending(); got != 6 {
		t.Fatalf("pending %d, want 6 (5 slow, 1 fast finished but not settled)", got)
	}
	if got := d.Calling(); got != 5 {
		t.Fatalf("calling %d, want 5: a finished call frees its slot before it is settled", got)
	}
	if n := startedN(); n != 3 {
		t.Fatalf("%d calls started: want the first 2 slow ones and fast-0", n)
	}
	// Each finished slow call lets exactly the next queued one start, in order.
	var done []completion
	for i := 0; i < 5; i++ {
		close(release[fmt.Sprintf("slow-%d", i)])
		want := min(3+i+1, 6)
		waitUntil(t, func() bool { return startedN() == want })
		done = append(done, d.take()...)
	}
	waitUntil(t, func() bool { done = append(done, d.take()...); return len(done) == 5 })
	mu.Lock()
	queuedOrder := started[3:]
	mu.Unlock()
	for i, p := range queuedOrder {
		if want := fmt.Sprintf("slow-%d", i+2); p != want {
			t.Fatalf("queued calls started %v, want slow-2, slow-3, slow-4 in order", queuedOrder)
		}
	}
	if d.perPSPMax["slow"] != 2 {
		t.Fatalf("slow PSP ran %d calls at once, limit 2", d.perPSPMax["slow"])
	}
	if got := d.Calling(); got != 0 {
		t.Fatalf("calling %d once every call finished, want 0", got)
	}
	d.settled(done)
	if d.Pending() != 1 {
		t.Fatalf("pending %d after settling the slow calls, want 1 (fast-0)", d.Pending())
	}
}

// TestDispatcherBoundsAllCalls: beyond max_in_flight, calls wait; as slots
// free, the PSPs with waiting calls take turns, and a PSP at its own bound
// (hung) is passed over, so its queue never holds back another's calls.
func TestDispatcherBoundsAllCalls(t *testing.T) {
	hung := make(chan struct{})
	var mu sync.Mutex
	release := map[string]chan struct{}{}
	var started []string
	startedN := func() int { mu.Lock(); defer mu.Unlock(); return len(started) }
	d := newDispatcher(4, 2, 0, func(ctx context.Context, c call) completion {
		mu.Lock()
		started = append(started, c.payment)
		ch := release[c.payment]
		mu.Unlock()
		if c.psp == "hung" {
			<-hung
		} else if ch != nil {
			<-ch
		}
		return completion{call: c}
	})
	defer close(hung)
	gate := func(id string) chan struct{} {
		ch := make(chan struct{})
		mu.Lock()
		release[id] = ch
		mu.Unlock()
		return ch
	}
	a0, a1 := gate("a-0"), gate("a-1")
	for i := 0; i < 4; i++ {
		d.submit(call{payment: fmt.Sprintf("hung-%d", i), psp: "hung"})
	}
	d.submit(call{payment: "a-0", psp: "a"})
	d.submit(call{payment: "a-1", psp: "a"})
	for i := 0; i < 3; i++ {
		gate(fmt.Sprintf("b-%d", i))
		d.submit(call{payment: fmt.Sprintf("b-%d", i), psp: "b"})
	}
	// hung-0, hung-1 (its own bound), a-0, a-1 (the global bound of 4).
	waitUntil(t, func() bool { return startedN() == 4 })
	if got := d.Calling(); got != 9 {
		t.Fatalf("calling %d, want 9 (4 running, 5 waiting)", got)
	}
	close(a0)
	// The freed slot goes to a waiting call that can run: hung is at its
	// bound, so b-0 rather than hung-2.
	waitUntil(t, func() bool { return startedN() == 5 })
	close(a1)
	waitUntil(t, func() bool { return startedN() == 6 })
	mu.Lock()
	got := append([]string(nil), started[4:]...)
	mu.Unlock()
	if got[0] != "b-0" || got[1] != "b-1" {
		t.Fatalf("after a's calls ended, started %v; want b-0 and b-1 (hung at its own bound)", got)
	}
	if d.maxTotal != 4 || d.perPSPMax["hung"] != 2 {
		t.Fatalf("ran %d calls at once (bound 4), %d at hung (bound 2)", d.maxTotal, d.perPSPMax["hung"])
	}
	for i := 0; i < 3; i++ {
		close(release[fmt.Sprintf("b-%d", i)])
	}
}

// TestDispatcherShedsCallsThatWaitTooLong: a first send of an
// authorization that waited past the queue timeout ends, not sent, as
// rate_limited queue_timeout (the payment fails over), and so does a new one
// while the PSP's oldest waiting call is past it; a re-send and a
// follow-up, which may not fail over, wait on. dropQueued forgets the
// waiting calls, none of which was sent.
func TestDispatcherShedsCallsThatWaitTooLong(t *testing.T) {
	hung := make(chan struct{})
	defer close(hung)
	d := newDispatcher(10, 2, 5*time.Second, func(ctx context.Context, c call) completion {
		<-hung
		return completion{call: c}
	})
	clock := time.Unix(1_760_000_000, 0)
	d.now = func() time.Time { return clock }
	auth := func(id string) call {
		return call{payment: id, psp: "hung", req: psp.Request{PaymentID: id, Operation: schemas.OpAuthorize}}
	}
	for i := 0; i < 4; i++ {
		d.submit(auth(fmt.Sprintf("p-%d", i))) // 2 running, 2 waiting
	}
	resend := auth("p-resend")
	resend.resend = true
	d.submit(resend)
	capture := auth("p-capture")
	capture.req.Operation = schemas.OpCapture
	d.submit(capture)
	clock = clock.Add(5 * time.Second)
	d.expireQueued()
	if done := d.take(); len(done) != 0 {
		t.Fatalf("ended at the timeout, not past it: %+v", done)
	}
	d.submit(auth("p-4")) // not stuck yet: waits
	clock = clock.Add(time.Millisecond)
	d.expireQueued()
	d.submit(auth("p-5")) // the oldest waiting (the re-send) is past the timeout: shed at once
	var shed []string
	done := d.take()
	for _, c := range done {
		shed = append(shed, c.payment)
		if c.out.Class != schemas.ClassRateLimited || c.out.PSPCode != PSPCodeQueueTimeout || c.out.Outcome != schemas.OutcomeError {
			t.Fatalf("%s ended %+v, want ERROR rate_limited %s", c.payment, c.out, PSPCodeQueueTimeout)
		}
	}
	if fmt.Sprint(shed) != "[p-2 p-3 p-5]" {
		t.Fatalf("ended unsent: %v, want the two first sends past the timeout, then p-5", shed)
	}
	if running, queued := d.calls("hung"); running != 2 || queued != 3 {
		t.Fatalf("%d running, %d waiting; want 2 and 3 (the re-send, the capture, p-4)", running, queued)
	}
	if d.Calling() != 5 || d.Pending() != 8 {
		t.Fatalf("calling %d pending %d, want 5 and 8", d.Calling(), d.Pending())
	}
	d.settled(done)
	d.dropQueued()
	if running, queued := d.calls("hung"); running != 2 || queued != 0 || d.Calling() != 2 || d.Pending() != 2 {
		t.Fatalf("after dropQueued: %d running, %d waiting, calling %d, pending %d; want 2, 0, 2, 2", running, queued, d.Calling(), d.Pending())
	}
	d.submit(auth("p-4")) // forgotten: it may be submitted again, and waits
	if _, queued := d.calls("hung"); queued != 1 {
		t.Fatalf("p-4 not queued again after dropQueued (%d waiting)", queued)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
