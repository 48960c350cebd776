package consumers

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
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
	d := newDispatcher(2, func(ctx context.Context, c call) completion {
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
