package bench

import (
	"bytes"
	"strconv"
	"sync/atomic"
)

// stamps hold one figure per payment, indexed by the payment's number in
// the generated stream (its id is "<prefix>-<number>", see
// producers.Generator): a wall-clock time in Unix nanoseconds, or a
// duration in nanoseconds. Zero means none. Wall-clock times are comparable
// across processes on one machine, which is what lets a child process
// running the system under test stamp commits that the parent compares with
// its own publish acknowledgements. Indexing keeps them at 8 bytes per
// payment: a map keyed by id would weigh more than the processor's own
// state, and the processor's peak memory is one of the figures.
type stamps []int64

// newStamps holds n payments' figures; n == 0 tracks nothing (set ignores
// every payment).
func newStamps(n int) stamps { return make(stamps, n) }

// set stores v for payment i; payments out of range are ignored.
func (s stamps) set(i int, v int64) {
	if i >= 0 && i < len(s) {
		atomic.StoreInt64(&s[i], v)
	}
}

// setFirst stores v for payment i unless it has a figure already.
func (s stamps) setFirst(i int, v int64) {
	if i >= 0 && i < len(s) {
		atomic.CompareAndSwapInt64(&s[i], 0, v)
	}
}

// add adds v to payment i's figure; payments out of range are ignored.
func (s stamps) add(i int, v int64) {
	if i >= 0 && i < len(s) {
		atomic.AddInt64(&s[i], v)
	}
}

// first is the smallest figure set, or 0 when none is.
func (s stamps) first() int64 {
	var min int64
	for i := range s {
		if v := atomic.LoadInt64(&s[i]); v > 0 && (min == 0 || v < min) {
			min = v
		}
	}
	return min
}

// paymentIndex is the number at the end of a generated payment id (or of
// the record key carrying it), or -1 when there is none.
func paymentIndex(id []byte) int {
	dash := bytes.LastIndexByte(id, '-')
	if dash < 0 || dash == len(id)-1 {
		return -1
	}
	n, err := strconv.Atoi(string(id[dash+1:]))
	if err != nil || n < 0 {
		return -1
	}
	return n
}
