package consumers

import (
	"math/rand/v2"
	"testing"
	"time"
)

// checkIndex compares the index with the map it should hold, and checks
// the table's own invariants: the count, every entry reachable from its
// home in Robin Hood order, and the load within its bounds.
func checkIndex(t *testing.T, ix *finalIndex, want map[uint64]finalEntry) {
	t.Helper()
	if ix.len() != len(want) {
		t.Fatalf("len %d, want %d", ix.len(), len(want))
	}
	for k, e := range want {
		got, ok := ix.get(k)
		if !ok || got != e {
			t.Fatalf("key %#x: %+v %v, want %+v", k, got, ok, e)
		}
	}
	seen := 0
	ix.each(func(k uint64, e finalEntry) bool {
		seen++
		if w, ok := want[k]; !ok || w != e {
			t.Fatalf("each: key %#x with %+v, want %+v %v", k, e, w, ok)
		}
		return true
	})
	if seen != len(want) {
		t.Fatalf("each saw %d entries, want %d", seen, len(want))
	}
	if len(ix.slots) == 0 {
		return
	}
	mask := len(ix.slots) - 1
	for i, s := range ix.slots {
		prev := (i - 1) & mask
		if s.pos != 0 && ix.slots[prev].pos != 0 && ix.dist(i) > ix.dist(prev)+1 {
			t.Fatalf("slot %d is %d from its home, its predecessor %d: not in Robin Hood order", i, ix.dist(i), ix.dist(prev))
		}
		if s.pos != 0 && ix.dist(i) > 0 && ix.slots[prev].pos == 0 {
			t.Fatalf("slot %d is %d from its home after an empty slot: unreachable", i, ix.dist(i))
		}
	}
	if ix.n*10 > len(ix.slots)*9 || (ix.bits > minIndexBits && ix.n*5 < len(ix.slots)) {
		t.Fatalf("%d entries in %d slots: outside the load bounds", ix.n, len(ix.slots))
	}
}

func randomEntry(r *rand.Rand) finalEntry {
	return finalEntry{pos: r.Uint64() | 1, updatedMin: uint32(r.Uint64N(maxMinutes + 1)), approval: r.IntN(2) == 0}
}

// The table agrees with a map through random sets, replacements and
// removals that grow it from empty past a hundred thousand entries and
// shrink it back, on keys spread over the key space.
func TestFinalIndexMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var ix finalIndex
	want := map[uint64]finalEntry{}
	var keys []uint64
	step := func(grow bool) {
		switch op := r.IntN(10); {
		case len(keys) > 0 && (op < 2 || (!grow && op < 7)):
			i := r.IntN(len(keys))
			k := keys[i]
			keys[i] = keys[len(keys)-1]
			keys = keys[:len(keys)-1]
			if !ix.remove(k) {
				t.Fatalf("remove %#x: not found", k)
			}
			delete(want, k)
		case len(keys) > 0 && op < 4:
			k := keys[r.IntN(len(keys))]
			e := randomEntry(r)
			ix.set(k, e)
			want[k] = e
		default:
			k := indexKey(r.Uint64())
			if _, ok := want[k]; !ok {
				keys = append(keys, k)
			}
			e := randomEntry(r)
			ix.set(k, e)
			want[k] = e
		}
	}
	for len(want) < 120_000 {
		step(true)
	}
	checkIndex(t, &ix, want)
	if ix.bits < 17 {
		t.Fatalf("%d entries in %d slots: the table did not grow", ix.len(), len(ix.slots))
	}
	for len(want) > 1000 {
		step(false)
	}
	checkIndex(t, &ix, want)
	if len(ix.slots) > 1<<12 {
		t.Fatalf("%d entries in %d slots: the table did not shrink", ix.len(), len(ix.slots))
	}
	for _, k := range keys {
		if !ix.remove(k) {
			t.Fatalf("remove %#x: not found", k)
		}
		delete(want, k)
	}
	checkIndex(t, &ix, want)
	if ix.remove(indexKey(r.Uint64())) {
		t.Fatal("removed a key from an empty table")
	}
}

// Keys sharing a home slot, and runs that wrap around the end of the
// table, are found, replaced and removed; a missing key whose home is
// taken is not found.
func TestFinalIndexCollisionsAndWrap(t *testing.T) {
	var ix finalIndex
	want := map[uint64]finalEntry{}
	r := rand.New(rand.NewPCG(3, 4))
	// The first table has 1<<minIndexBits slots: keys whose top bits are
	// all ones have the last slot as home, and their run wraps to slot 0;
	// keys with the top bits of zero start at slot 0.
	low := uint64(1)<<(keyBits-minIndexBits) - 1
	last := uint64(1)<<keyBits - 1 - low
	for i := range uint64(40) {
		for _, k := range []uint64{last + i, i} {
			e := randomEntry(r)
			ix.set(k, e)
			want[k] = e
		}
	}
	if ix.bits != minIndexBits {
		t.Fatalf("%d slots, want the first table", len(ix.slots))
	}
	checkIndex(t, &ix, want)
	if _, ok := ix.get(last + 100); ok {
		t.Fatal("found a key never set whose home slot is taken")
	}
	for i := uint64(0); i < 40; i += 3 {
		ix.remove(last + i)
		delete(want, last+i)
		e := randomEntry(r)
		ix.set(i, e)
		want[i] = e
	}
	checkIndex(t, &ix, want)
	// Growing splits the shared home slots by the next bit of the key.
	for i := uint64(0); len(want) < 300; i++ {
		k := i << (keyBits - minIndexBits - 2)
		e := randomEntry(r)
		ix.set(k, e)
		want[k] = e
	}
	if ix.bits == minIndexBits {
		t.Fatal("the table did not grow")
	}
	checkIndex(t, &ix, want)
}

// A slot keeps every field of an entry; times past what a slot tells are
// clamped to its last minute; minutes round up, so a state is never
// expired before its retention.
func TestFinalIndexSlotPacking(t *testing.T) {
	var ix finalIndex
	key := uint64(1)<<keyBits - 1
	for _, e := range []finalEntry{
		{pos: 1},
		{pos: ^uint64(0), updatedMin: maxMinutes, approval: true},
		{pos: 12345 << lenBits, updatedMin: 1, approval: false},
	} {
		ix.set(key, e)
		if got, _ := ix.get(key); got != e {
			t.Fatalf("set %+v, got %+v", e, got)
		}
	}
	ix.set(key, finalEntry{pos: 7, updatedMin: ^uint32(0)})
	if got, _ := ix.get(key); got.updatedMin != maxMinutes || got.approval {
		t.Fatalf("a time past the last minute read back as %+v", got)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ms   int64
		want int64
	}{
		{now.UnixMilli(), now.Unix() / 60},
		{now.UnixMilli() + 1, now.Unix()/60 + 1},
		{now.UnixMilli() - 1, now.Unix() / 60},
		{-5, 0},
	} {
		if got := minuteOf(tc.ms); int64(got) != tc.want {
			t.Fatalf("minuteOf(%d) = %d, want %d", tc.ms, got, tc.want)
		}
	}
	if minuteOf(1<<62) != maxMinutes {
		t.Fatal("a time past the last minute was not clamped")
	}
}

// A million entries take 16 bytes a slot, 18 to 36 bytes an entry: the
// memory the index costs is what sizes an instance.
func TestFinalIndexSize(t *testing.T) {
	var ix finalIndex
	r := rand.New(rand.NewPCG(5, 6))
	for ix.len() < 1_000_000 {
		ix.set(indexKey(r.Uint64()), finalEntry{pos: 1})
	}
	if per := float64(ix.bytes()) / float64(ix.len()); per < 16/0.9 || per > 2*16/0.9 {
		t.Fatalf("%.1f bytes per entry", per)
	}
}

func BenchmarkFinalIndex(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	keys := make([]uint64, 1<<20)
	for i := range keys {
		keys[i] = indexKey(r.Uint64())
	}
	b.Run("set", func(b *testing.B) {
		var ix finalIndex
		for i := 0; b.Loop(); i++ {
			if i%len(keys) == 0 {
				ix = finalIndex{}
			}
			ix.set(keys[i%len(keys)], finalEntry{pos: 1})
		}
	})
	b.Run("miss", func(b *testing.B) {
		var ix finalIndex
		for _, k := range keys[:len(keys)*85/100] { // 85% of 1<<20 slots
			ix.set(k, finalEntry{pos: 1})
		}
		for i := 0; b.Loop(); i++ {
			ix.has(indexKey(r.Uint64()))
		}
	})
}
