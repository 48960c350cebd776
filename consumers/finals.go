package consumers

import (
	"bufio"
	"fmt"
	"os"

	"github.com/payroute/payroute/schemas"
)

// finalStates keeps the states of one partition's final payments out of
// the heap. They are the bulk of what a partition holds (a payment is final
// within seconds, and its state is kept for state_retention to answer
// duplicates, and for approval_retention when follow-ups may come), yet
// they are read only for a duplicate request, a follow-up or an expiry. So
// each is appended, encoded as on the changelog, to a file of the
// instance's state directory, and memory holds only an index entry: where
// it is, when it changed, and whether it is an approval kept longer.
//
// The file is a cache of the changelog, never the truth: it is written
// without fsync, built anew from the changelog each time the partition is
// assigned, and removed when the partition goes. A write or read error
// makes the state unusable, and the processor restarts its session, which
// rebuilds it.
//
// Replaced and expired entries leave garbage behind them in the file; once
// it is more than half of a file past compactAbove, the live entries are
// copied to a new file.
type finalStates struct {
	dir   string
	part  int32
	f     *os.File
	w     *bufio.Writer
	size  int64 // bytes appended, flushed or not
	live  int64 // bytes of the entries the index points at
	index map[string]finalEntry
}

// finalEntry is where a final payment's state lies in the file, and what
// expiry needs to know of it without reading it.
type finalEntry struct {
	off       int64
	n         int32
	updatedMs int64
	// approval: an approved AUTHORIZE or CHARGE, kept for follow-ups until
	// approval_retention rather than state_retention.
	approval bool
}

// compactAbove is the file size below which garbage is left alone.
const compactAbove = 64 << 20

func newFinalStates(dir string, part int32) (*finalStates, error) {
	f, err := os.CreateTemp(dir, fmt.Sprintf("partition-%d-*.states", part))
	if err != nil {
		return nil, fmt.Errorf("final payment states of partition %d: %w", part, err)
	}
	return &finalStates{dir: dir, part: part, f: f, w: bufio.NewWriterSize(f, 64<<10), index: map[string]finalEntry{}}, nil
}

// isApprovalKept reports whether a final state is an approval that
// follow-ups may still need.
func isApprovalKept(st *PaymentState) bool {
	return st.AuthorizingPSP != "" && st.Result != nil && st.Result.Status == schemas.StatusApproved
}

// put stores a final payment's state, encoded as on the changelog. The
// write is buffered; flush makes it readable.
func (fs *finalStates) put(st *PaymentState, encoded []byte) error {
	fs.delete(st.PaymentID)
	if _, err := fs.w.Write(encoded); err != nil {
		return fmt.Errorf("write final payment state of %s: %w", st.PaymentID, err)
	}
	fs.index[st.PaymentID] = finalEntry{off: fs.size, n: int32(len(encoded)), updatedMs: st.UpdatedAtMs, approval: isApprovalKept(st)}
	fs.size += int64(len(encoded))
	fs.live += int64(len(encoded))
	return nil
}

func (fs *finalStates) delete(id string) {
	if e, ok := fs.index[id]; ok {
		fs.live -= int64(e.n)
		delete(fs.index, id)
	}
}

func (fs *finalStates) has(id string) bool {
	_, ok := fs.index[id]
	return ok
}

// get reads a final payment's state back: a fresh copy, the caller's to
// change.
func (fs *finalStates) get(id string) (*PaymentState, bool, error) {
	e, ok := fs.index[id]
	if !ok {
		return nil, false, nil
	}
	b := make([]byte, e.n)
	if _, err := fs.f.ReadAt(b, e.off); err != nil {
		return nil, false, fmt.Errorf("read final payment state of %s (partition %d): %w", id, fs.part, err)
	}
	st, err := decodeState(b)
	if err != nil {
		return nil, false, fmt.Errorf("final payment state of %s (partition %d): %w", id, fs.part, err)
	}
	return st, true, nil
}

// flush makes what put wrote readable, and compacts when garbage dominates.
func (fs *finalStates) flush() error {
	if err := fs.w.Flush(); err != nil {
		return fmt.Errorf("write final payment states of partition %d: %w", fs.part, err)
	}
	if fs.size > compactAbove && fs.live < fs.size/2 {
		return fs.compact()
	}
	return nil
}

// compact copies the live entries to a new file and drops the old one.
func (fs *finalStates) compact() error {
	next, err := newFinalStates(fs.dir, fs.part)
	if err != nil {
		return err
	}
	var buf []byte
	for id, e := range fs.index {
		if cap(buf) < int(e.n) {
			buf = make([]byte, e.n)
		}
		buf = buf[:e.n]
		if _, err := fs.f.ReadAt(buf, e.off); err != nil {
			next.close()
			return fmt.Errorf("compact final payment states of partition %d: %w", fs.part, err)
		}
		if _, err := next.w.Write(buf); err != nil {
			next.close()
			return fmt.Errorf("compact final payment states of partition %d: %w", fs.part, err)
		}
		e.off = next.size
		next.index[id] = e
		next.size += int64(e.n)
		next.live += int64(e.n)
	}
	if err := next.w.Flush(); err != nil {
		next.close()
		return fmt.Errorf("compact final payment states of partition %d: %w", fs.part, err)
	}
	fs.close()
	*fs = *next
	return nil
}

// expired lists up to limit payments that last changed before the
// retention allows.
func (fs *finalStates) expired(beforeMs, approvalBeforeMs int64, limit int) []string {
	var out []string
	for id, e := range fs.index {
		if len(out) >= limit {
			break
		}
		cutoff := beforeMs
		if e.approval {
			cutoff = approvalBeforeMs
		}
		if e.updatedMs < cutoff {
			out = append(out, id)
		}
	}
	return out
}

// close removes the file.
func (fs *finalStates) close() {
	_ = fs.f.Close()
	_ = os.Remove(fs.f.Name())
}
