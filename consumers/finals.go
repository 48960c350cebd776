package consumers

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"os"
	"time"

	"github.com/payroute/payroute/schemas"
)

// finalStates keeps the states of one partition's final payments out of
// the heap. They are the bulk of what a partition holds (a payment is final
// within seconds, and its state is kept for state_retention to answer
// duplicates, and for approval_retention when follow-ups may come), yet
// they are read only for a duplicate request, a follow-up or an expiry. So
// each is appended to a file of the instance's state directory, and memory
// holds a small index entry: where it is, when it changed, and whether it
// is an approval kept longer.
//
// The index (finalIndex, 16 bytes a slot) is keyed by 36 bits of a hash of
// the payment id, not by the id, which would take more memory than the
// entry. Each record in the file starts with its payment id, and every
// lookup checks it: two ids with one key (about 7 pairs among a million
// payments of a partition) are told apart, the later one indexed by its id
// in a small map of its own (spill). The cost is a read from disk whenever
// an id's key is taken (a final payment changed again, or a collision),
// which new payments, the common case, almost never pay.
//
// The file is a cache of the changelog, never the truth: it is written
// without fsync, built anew from the changelog each time the partition is
// assigned, and removed when the partition goes. A write or read error
// makes the state unusable, and the processor restarts its session, which
// rebuilds it.
//
// Replaced and expired records leave garbage behind them in the file; once
// it is more than half of a file past compactAbove, the live records are
// copied to a new file.
type finalStates struct {
	dir   string
	part  int32
	f     *os.File
	w     *bufio.Writer
	size  int64 // bytes appended, flushed or not
	live  int64 // bytes of the records the index points at
	hash  func(id string) uint64
	index finalIndex
	spill map[string]finalEntry
}

// finalEntry locates a record and says what expiry needs to know of it
// without reading it. The index packs it in a slot with its key.
type finalEntry struct {
	// pos packs the record's offset (upper 40 bits: files up to 1 TiB) and
	// length (lower 24 bits: records up to 16 MiB).
	pos uint64
	// updatedMin is when the state last changed, in Unix minutes rounded
	// up: retention is counted in days, and keeping a state up to a
	// minute longer is nothing to it (never shorter: a duplicate within
	// the retention is always recognized).
	updatedMin uint32
	// approval: an approved AUTHORIZE or CHARGE, kept for follow-ups until
	// approval_retention rather than state_retention.
	approval bool
}

// minuteOf is the Unix minute of a Unix millisecond time, rounded up.
func minuteOf(ms int64) uint32 {
	return uint32(min((max(ms, 0)+time.Minute.Milliseconds()-1)/time.Minute.Milliseconds(), maxMinutes))
}

const (
	lenBits   = 24
	maxRecord = 1<<lenBits - 1
	maxOffset = 1<<(64-lenBits) - 1
)

func (e finalEntry) off() int64 { return int64(e.pos >> lenBits) }
func (e finalEntry) n() int     { return int(e.pos & maxRecord) }

// compactAbove is the file size below which garbage is left alone.
const compactAbove = 64 << 20

func newFinalStates(dir string, part int32) (*finalStates, error) {
	f, err := os.CreateTemp(dir, fmt.Sprintf("partition-%d-*.states", part))
	if err != nil {
		return nil, fmt.Errorf("final payment states of partition %d: %w", part, err)
	}
	return &finalStates{dir: dir, part: part, f: f, w: bufio.NewWriterSize(f, 64<<10),
		hash: hasher(maphash.MakeSeed()), spill: map[string]finalEntry{}}, nil
}

func hasher(seed maphash.Seed) func(string) uint64 {
	return func(id string) uint64 { return maphash.String(seed, id) }
}

// isApprovalKept reports whether a final state is an approval that
// follow-ups may still need.
func isApprovalKept(st *PaymentState) bool {
	return st.AuthorizingPSP != "" && st.Result != nil && st.Result.Status == schemas.StatusApproved
}

// lookup finds the entry of id, and whether it sits in the spill map.
func (fs *finalStates) lookup(id string) (e finalEntry, spilled, ok bool, err error) {
	if e, ok := fs.spill[id]; ok {
		return e, true, true, nil
	}
	e, ok = fs.index.get(indexKey(fs.hash(id)))
	if !ok {
		return e, false, false, nil
	}
	owner, err := fs.idAt(e)
	if err != nil || owner != id {
		return e, false, false, err
	}
	return e, false, true, nil
}

// put stores a final payment's state, encoded as on the changelog. The
// write is buffered; flush makes it readable.
func (fs *finalStates) put(st *PaymentState, encoded []byte) error {
	id := st.PaymentID
	rec := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen16+len(id)+len(encoded)), uint64(len(id)))
	rec = append(append(rec, id...), encoded...)
	if len(rec) > maxRecord || fs.size+int64(len(rec)) > maxOffset {
		return fmt.Errorf("final payment state of %s: %d bytes at offset %d do not fit the index", id, len(rec), fs.size)
	}
	key := indexKey(fs.hash(id))
	old, spilled, found, err := fs.lookup(id)
	if err != nil {
		return err
	}
	taken := fs.index.has(key)
	if found {
		fs.live -= int64(old.n())
	}
	if _, err := fs.w.Write(rec); err != nil {
		return fmt.Errorf("write final payment state of %s: %w", id, err)
	}
	e := finalEntry{pos: uint64(fs.size)<<lenBits | uint64(len(rec)), approval: isApprovalKept(st),
		updatedMin: minuteOf(st.UpdatedAtMs)}
	switch {
	case spilled || (taken && !found):
		fs.spill[id] = e // another id holds the key
	default:
		fs.index.set(key, e)
	}
	fs.size += int64(len(rec))
	fs.live += int64(len(rec))
	return nil
}

// delete forgets id, if it is there.
func (fs *finalStates) delete(id string) error {
	e, spilled, found, err := fs.lookup(id)
	if err != nil || !found {
		return err
	}
	fs.live -= int64(e.n())
	if spilled {
		delete(fs.spill, id)
	} else {
		fs.index.remove(indexKey(fs.hash(id)))
	}
	return nil
}

// get reads a final payment's state back: a fresh copy, the caller's to
// change.
func (fs *finalStates) get(id string) (*PaymentState, bool, error) {
	e, _, found, err := fs.lookup(id)
	if err != nil || !found {
		return nil, false, err
	}
	_, state, err := fs.read(e)
	if err != nil {
		return nil, false, err
	}
	st, err := decodeState(state)
	if err != nil {
		return nil, false, fmt.Errorf("final payment state of %s (partition %d): %w", id, fs.part, err)
	}
	return st, true, nil
}

// read returns the payment id and the encoded state of a record.
func (fs *finalStates) read(e finalEntry) (string, []byte, error) {
	if fs.w.Buffered() > 0 {
		// A record put in this same Apply or restore.
		if err := fs.w.Flush(); err != nil {
			return "", nil, fmt.Errorf("write final payment states of partition %d: %w", fs.part, err)
		}
	}
	b := make([]byte, e.n())
	if _, err := fs.f.ReadAt(b, e.off()); err != nil {
		return "", nil, fmt.Errorf("read final payment states of partition %d at %d: %w", fs.part, e.off(), err)
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", nil, fmt.Errorf("final payment states of partition %d: corrupt record at %d", fs.part, e.off())
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}

func (fs *finalStates) idAt(e finalEntry) (string, error) {
	id, _, err := fs.read(e)
	return id, err
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

// compact copies the live records to a new file and drops the old one.
func (fs *finalStates) compact() error {
	next, err := newFinalStates(fs.dir, fs.part)
	if err != nil {
		return err
	}
	next.hash = fs.hash
	move := func(e finalEntry) (finalEntry, error) {
		b := make([]byte, e.n())
		if _, err := fs.f.ReadAt(b, e.off()); err != nil {
			return e, err
		}
		if _, err := next.w.Write(b); err != nil {
			return e, err
		}
		e.pos = uint64(next.size)<<lenBits | uint64(len(b))
		next.size += int64(len(b))
		next.live += int64(len(b))
		return e, nil
	}
	fs.index.each(func(key uint64, e finalEntry) bool {
		if e, err = move(e); err == nil {
			next.index.set(key, e)
		}
		return err == nil
	})
	if err != nil {
		next.close()
		return fmt.Errorf("compact final payment states of partition %d: %w", fs.part, err)
	}
	for id, e := range fs.spill {
		if next.spill[id], err = move(e); err != nil {
			next.close()
			return fmt.Errorf("compact final payment states of partition %d: %w", fs.part, err)
		}
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
// retention allows (reading each one's id from the file).
func (fs *finalStates) expired(beforeMs, approvalBeforeMs int64, limit int) ([]string, error) {
	var out []string
	check := func(e finalEntry) error {
		cutoff := beforeMs
		if e.approval {
			cutoff = approvalBeforeMs
		}
		if int64(e.updatedMin)*time.Minute.Milliseconds() >= cutoff {
			return nil
		}
		id, err := fs.idAt(e)
		out = append(out, id)
		return err
	}
	for _, e := range fs.spill {
		if len(out) >= limit {
			return out, nil
		}
		if err := check(e); err != nil {
			return nil, err
		}
	}
	var err error
	fs.index.each(func(_ uint64, e finalEntry) bool {
		if len(out) >= limit {
			return false
		}
		err = check(e)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// len is the number of final payments held.
func (fs *finalStates) len() int { return fs.index.len() + len(fs.spill) }

// close removes the file.
func (fs *finalStates) close() {
	_ = fs.f.Close()
	_ = os.Remove(fs.f.Name())
}
