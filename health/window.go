package health

import "time"

// window counts one PSP scope's calls over a rolling period, in fixed
// buckets: a bucket is the unit the window slides by, so the totals cover
// between Window-Bucket and Window of history. Memory is constant whatever
// the traffic, which matters at thousands of payments per second.
//
// Calls are placed by their own time (Observation.At), not by when they are
// reported, so a call that took three seconds counts where it started.
// A call older than the window is dropped; a call timed in the future (a
// skewed clock) counts in the bucket it names.
type window struct {
	bucket  time.Duration
	buckets []bucket
}

type bucket struct {
	index                 int64 // time / bucket length; 0 for a bucket never used
	calls, failures, slow int64
}

// counts are a window's totals.
type counts struct {
	calls, failures, slow int64
}

// failureRate is the share of PSP-caused failures, 0 without calls.
func (c counts) failureRate() float64 {
	if c.calls == 0 {
		return 0
	}
	return float64(c.failures) / float64(c.calls)
}

// slowRate is the share of slow calls, 0 without calls.
func (c counts) slowRate() float64 {
	if c.calls == 0 {
		return 0
	}
	return float64(c.slow) / float64(c.calls)
}

func newWindow(length, bucketLen time.Duration) window {
	return window{bucket: bucketLen, buckets: make([]bucket, int(length/bucketLen))}
}

func (w *window) indexOf(t time.Time) int64 { return t.UnixNano() / int64(w.bucket) }

// add counts one call made at at.
func (w *window) add(at time.Time, failure, slow bool) {
	idx := w.indexOf(at)
	b := &w.buckets[int(idx%int64(len(w.buckets)))]
	switch {
	case b.index == idx:
	case b.index < idx:
		*b = bucket{index: idx}
	default:
		return // older than the window
	}
	b.calls++
	if failure {
		b.failures++
	}
	if slow {
		b.slow++
	}
}

// totals are the counts of the window ending at now.
func (w *window) totals(now time.Time) counts {
	oldest := w.indexOf(now) - int64(len(w.buckets)) + 1
	var c counts
	for _, b := range w.buckets {
		if b.index >= oldest && b.calls > 0 {
			c.calls += b.calls
			c.failures += b.failures
			c.slow += b.slow
		}
	}
	return c
}

// reset forgets every call.
func (w *window) reset() { clear(w.buckets) }
