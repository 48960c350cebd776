package health

import (
	"testing"
	"time"
)

func TestWindowSlidesByBucket(t *testing.T) {
	w := newWindow(10*time.Second, time.Second)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		w.add(t0.Add(time.Duration(i)*time.Second), i%2 == 0, i == 9)
	}
	if c := w.totals(t0.Add(9 * time.Second)); c != (counts{calls: 10, failures: 5, slow: 1}) {
		t.Fatalf("ten buckets: %+v", c)
	}
	if c := w.totals(t0.Add(10 * time.Second)); c != (counts{calls: 9, failures: 4, slow: 1}) {
		t.Fatalf("the first bucket slid out: %+v", c)
	}
	// A call older than the window is dropped, not counted in the bucket
	// its ring slot now holds.
	w.add(t0.Add(-time.Second), true, true)
	if c := w.totals(t0.Add(9 * time.Second)); c != (counts{calls: 10, failures: 5, slow: 1}) {
		t.Fatalf("after a stale call: %+v", c)
	}
	// A slot is reused for a new bucket.
	w.add(t0.Add(10*time.Second), true, false)
	if c := w.totals(t0.Add(10 * time.Second)); c != (counts{calls: 10, failures: 5, slow: 1}) {
		t.Fatalf("after reuse: %+v", c)
	}
	if c := w.totals(t0.Add(time.Hour)); c != (counts{}) {
		t.Fatalf("an hour later: %+v", c)
	}
	w.reset()
	if c := w.totals(t0.Add(10 * time.Second)); c.calls != 0 {
		t.Fatalf("after reset: %+v", c)
	}
	if r := (counts{}).failureRate(); r != 0 {
		t.Fatalf("rate of nothing: %v", r)
	}
}
