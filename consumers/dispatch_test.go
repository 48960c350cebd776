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
	release := make(chan struct{})
	var mu sync.Mutex
	var started []string
	d := newDispatcher(2, func(ctx context.Context, c call) completion {
		mu.Lock()
		started = append(started, c.payment)
		mu.Unlock()
		if c.psp == "slow" {
			<-release
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
	mu.Lock()
	if len(started) != 3 {
		t.Fatalf("started %v: want 2 slow calls running and fast-0", started)
	}
	mu.Unlock()
	close(release)
	var done []completion
	waitUntil(t, func() bool { done = append(done, d.take()...); return len(done) == 5 })
	mu.Lock()
	defer mu.Unlock()
	var slowOrder []string
	for _, p := range started {
		if p != "fast-0" {
			slowOrder = append(slowOrder, p)
		}
	}
	for i, p := range slowOrder {
		if p != fmt.Sprintf("slow-%d", i) && i >= 2 { // the first two start together
			t.Fatalf("queued calls started out of order: %v", slowOrder)
		}
	}
	if d.perPSPMax["slow"] != 2 {
		t.Fatalf("slow PSP ran %d calls at once, limit 2", d.perPSPMax["slow"])
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
