package consumers

// finalIndex is the in-memory index of one partition's final payment
// states (finalStates): a key derived from the payment id's hash to where
// the state is on disk, when it changed and whether it is a kept approval.
// It holds an entry for every final payment within state_retention, a
// million and more per instance, so its size per entry is most of what
// final payments cost in memory, and its growth is most of what the heap
// grows by under a backlog.
//
// A Go map of 8-byte keys to 16-byte entries took 35 to 54 bytes per
// entry (Swiss tables of 24-byte slots, 7/16 to 7/8 full), 42 MB for a
// million payments. This table is an array of 16-byte slots, open
// addressing with linear probing kept in Robin Hood order (an entry never
// sits further from its home slot than the entries it passed), up to 9/10
// full: 18 to 36 bytes per entry, 24 MB for a million payments on six
// partitions. It holds no pointers, so the garbage collector never scans
// it.
//
// To fit a slot, the key is the hash's top keyBits bits (36: two ids in a
// million share one about 7 times, told apart by finalStates as any
// collision), and the time is in minutes. The key's top bits are also the
// home slot, so the table can be resized from its slots alone; and in
// Robin Hood order a lookup stops at the first entry whose home is past
// its own, so a miss costs about as little as a hit.
type finalIndex struct {
	slots []indexSlot
	bits  uint // len(slots) is 1<<bits, or 0 before the first set
	n     int
}

// indexSlot is one slot: pos is the entry's pos (never 0 for an entry: a
// record is at least one byte long), 0 for an empty slot; meta packs the
// key (upper keyBits bits), approval (1 bit) and updatedMin (timeBits).
type indexSlot struct {
	pos  uint64
	meta uint64
}

const (
	keyBits  = 36
	timeBits = 64 - keyBits - 1
	// maxMinutes is the last minute a slot can tell, in the year 2225.
	maxMinutes = 1<<timeBits - 1
	// minIndexBits is the smallest table: 256 slots, 4 KiB.
	minIndexBits = 8
)

// indexKey is a payment id's key in the index: the top keyBits bits of
// its 64-bit hash.
func indexKey(hash uint64) uint64 { return hash >> (64 - keyBits) }

func (s indexSlot) key() uint64 { return s.meta >> (64 - keyBits) }

func (s indexSlot) entry() finalEntry {
	return finalEntry{pos: s.pos, approval: s.meta>>timeBits&1 == 1, updatedMin: uint32(s.meta & maxMinutes)}
}

func makeSlot(key uint64, e finalEntry) indexSlot {
	meta := key<<(64-keyBits) | uint64(min(e.updatedMin, maxMinutes))
	if e.approval {
		meta |= 1 << timeBits
	}
	return indexSlot{pos: e.pos, meta: meta}
}

// home is the slot where key's probe starts.
func (ix *finalIndex) home(key uint64) int { return int(key >> (keyBits - ix.bits)) }

// dist is how far the entry in slot i sits from its home slot.
func (ix *finalIndex) dist(i int) int {
	return (i - ix.home(ix.slots[i].key())) & (len(ix.slots) - 1)
}

// find returns the slot holding key, or -1.
func (ix *finalIndex) find(key uint64) int {
	if ix.n == 0 {
		return -1
	}
	mask := len(ix.slots) - 1
	for i, d := ix.home(key), 0; ; i, d = (i+1)&mask, d+1 {
		s := ix.slots[i]
		if s.pos == 0 || ix.dist(i) < d {
			// An empty slot, or an entry nearer its home than key would
			// be: in Robin Hood order key would sit before it.
			return -1
		}
		if s.key() == key {
			return i
		}
	}
}

// get returns key's entry.
func (ix *finalIndex) get(key uint64) (finalEntry, bool) {
	i := ix.find(key)
	if i < 0 {
		return finalEntry{}, false
	}
	return ix.slots[i].entry(), true
}

// has reports whether key has an entry.
func (ix *finalIndex) has(key uint64) bool { return ix.find(key) >= 0 }

// set gives key the entry e, replacing its entry if it has one.
func (ix *finalIndex) set(key uint64, e finalEntry) {
	if i := ix.find(key); i >= 0 {
		ix.slots[i] = makeSlot(key, e)
		return
	}
	if (ix.n+1)*10 > len(ix.slots)*9 {
		ix.resize(max(ix.bits+1, minIndexBits))
	}
	ix.insert(makeSlot(key, e))
	ix.n++
}

// insert places a slot whose key is not in the table, which has room.
func (ix *finalIndex) insert(s indexSlot) {
	mask := len(ix.slots) - 1
	for i, d := ix.home(s.key()), 0; ; i, d = (i+1)&mask, d+1 {
		if ix.slots[i].pos == 0 {
			ix.slots[i] = s
			return
		}
		if od := ix.dist(i); od < d {
			// The resident is nearer its home: s takes its slot and the
			// resident moves on.
			ix.slots[i], s = s, ix.slots[i]
			d = od
		}
	}
}

// remove deletes key's entry, if it has one, and reports whether it had.
func (ix *finalIndex) remove(key uint64) bool {
	i := ix.find(key)
	if i < 0 {
		return false
	}
	// Backward shift: the entries after it that are away from their home
	// move one slot closer, up to an empty slot or one at its home, so no
	// lookup ever has to step over a hole.
	mask := len(ix.slots) - 1
	for j := (i + 1) & mask; ix.slots[j].pos != 0 && ix.dist(j) > 0; i, j = j, (j+1)&mask {
		ix.slots[i] = ix.slots[j]
	}
	ix.slots[i] = indexSlot{}
	ix.n--
	if ix.bits > minIndexBits && ix.n*5 < len(ix.slots) {
		// Under a fifth full (a retention's worth expired): half the
		// slots, two fifths full, room to grow again before resizing.
		ix.resize(ix.bits - 1)
	}
	return true
}

// resize moves every entry to a table of 1<<bits slots.
func (ix *finalIndex) resize(bits uint) {
	old := ix.slots
	ix.slots, ix.bits = make([]indexSlot, 1<<bits), bits
	for _, s := range old {
		if s.pos != 0 {
			ix.insert(s)
		}
	}
}

// each calls fn with every key and entry until fn returns false. The
// table must not change meanwhile.
func (ix *finalIndex) each(fn func(key uint64, e finalEntry) bool) {
	for _, s := range ix.slots {
		if s.pos != 0 && !fn(s.key(), s.entry()) {
			return
		}
	}
}

// len is the number of entries.
func (ix *finalIndex) len() int { return ix.n }

// bytes is the memory the table takes.
func (ix *finalIndex) bytes() int { return len(ix.slots) * 16 }
