package consumers

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/payroute/payroute/schemas"
)

func TestStateRoundTripAndVersion(t *testing.T) {
	st := &PaymentState{PaymentID: "p-1", Phase: PhaseFinal, Operation: schemas.OpCharge, AmountMinor: 10, Currency: "EUR",
		AuthorizingPSP: "psp-b", Result: &schemas.PaymentResult{PaymentID: "p-1", Status: schemas.StatusApproved}}
	b, err := encodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.PaymentID != "p-1" || got.AuthorizingPSP != "psp-b" || got.Result.Status != schemas.StatusApproved {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := decodeState([]byte(`{"v":99,"payment_id":"p-2"}`)); err == nil {
		t.Fatal("a state from a newer build must not be read as if understood")
	}
}

// A batch's view sees its own changes over the store, and the store sees
// them only when they are applied (after the transaction committed).
func TestPartViewIsolation(t *testing.T) {
	s := NewStore(t.TempDir())
	load(t, s, 0, map[string]*PaymentState{"p-1": {PaymentID: "p-1", Phase: PhaseInFlight}})
	v := &partView{store: s, part: 0}
	st, _ := v.get("p-1")
	st.Phase = PhaseFinal
	if committed, _ := s.Get(0, "p-1"); committed.Phase != PhaseInFlight {
		t.Fatal("changing a state read through a view changed the store")
	}
	v.put(st)
	v.forget("p-1")
	if _, ok := v.get("p-1"); ok {
		t.Fatal("a forgotten payment is still visible in the batch")
	}
	apply(t, s, 0, v.changes)
	if _, ok := s.Get(0, "p-1"); ok {
		t.Fatal("the applied tombstone did not delete")
	}
	s.Drop(0)
	apply(t, s, 0, map[string]*PaymentState{"p-2": {PaymentID: "p-2"}})
	if s.Owns(0) {
		t.Fatal("applying to a revoked partition must not resurrect it")
	}
}

func TestExpiredKeepsApprovalsLonger(t *testing.T) {
	now := time.Now()
	old := now.Add(-10 * 24 * time.Hour).UnixMilli()
	s := NewStore(t.TempDir())
	load(t, s, 3, map[string]*PaymentState{
		"declined": {PaymentID: "declined", Phase: PhaseFinal, UpdatedAtMs: old, Result: &schemas.PaymentResult{Status: schemas.StatusDeclined}},
		"approved": {PaymentID: "approved", Phase: PhaseFinal, UpdatedAtMs: old, AuthorizingPSP: "psp-a", Result: &schemas.PaymentResult{Status: schemas.StatusApproved}},
		"waiting":  {PaymentID: "waiting", Phase: PhaseActionRequired, UpdatedAtMs: old},
		"recent":   {PaymentID: "recent", Phase: PhaseFinal, UpdatedAtMs: now.UnixMilli()},
	})
	got := s.Expired(3, now.Add(-7*24*time.Hour).UnixMilli(), now.Add(-180*24*time.Hour).UnixMilli(), 100)
	if len(got) != 1 || got[0] != "declined" {
		t.Fatalf("expired %v, want only the old declined payment", got)
	}
}

func TestScheduledDueAndNext(t *testing.T) {
	s := NewStore(t.TempDir())
	load(t, s, 1, map[string]*PaymentState{
		"due":   {PaymentID: "due", Phase: PhaseScheduled, Scheduled: &schemas.AttemptFailed{DueAtMs: 1000}},
		"later": {PaymentID: "later", Phase: PhaseScheduled, Scheduled: &schemas.AttemptFailed{DueAtMs: 5000}},
		"sent":  {PaymentID: "sent", Phase: PhaseScheduled}, // on its delay topic, not parked yet
	})
	due, next := s.Scheduled(2000, 10)
	if len(due[1]) != 1 || due[1][0] != "due" || next != 5000 {
		t.Fatalf("due %v next %d", due, next)
	}
	// Many due at once: a batch's worth per partition, the rest next turn.
	// An abandoned customer action is due action_timeout after it waited.
	s.actionTimeout = time.Hour
	many := map[string]*PaymentState{}
	for i := 0; i < 25; i++ {
		id := fmt.Sprintf("waiting-%d", i)
		many[id] = &PaymentState{PaymentID: id, Phase: PhaseActionRequired, UpdatedAtMs: 1000}
	}
	load(t, s, 2, many)
	due, _ = s.Scheduled(1000+time.Hour.Milliseconds(), 10)
	if len(due[2]) != 10 || len(due[1]) != 2 {
		t.Fatalf("due %d of partition 2 (want the limit, 10) and %d of partition 1 (want its 2)", len(due[2]), len(due[1]))
	}
	if due, _ = s.Scheduled(1000+time.Hour.Milliseconds()-1, 10); len(due[2]) != 0 {
		t.Fatalf("actions due before their timeout: %v", due[2])
	}
}

// load installs a partition's state as a restore would, from its changelog
// values.
func load(t *testing.T, s *Store, part int32, states map[string]*PaymentState) {
	t.Helper()
	l, err := s.loader(part)
	if err != nil {
		t.Fatal(err)
	}
	for id, st := range states {
		b, err := encodeState(st)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.add(id, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.install(l); err != nil {
		t.Fatal(err)
	}
}

// apply applies committed changes as transact does, with their encodings.
func apply(t *testing.T, s *Store, part int32, changes map[string]*PaymentState) {
	t.Helper()
	encoded := map[string][]byte{}
	for id, st := range changes {
		if st != nil {
			b, err := encodeState(st)
			if err != nil {
				t.Fatal(err)
			}
			encoded[id] = b
		}
	}
	if err := s.Apply(part, changes, encoded); err != nil {
		t.Fatal(err)
	}
}

// Final payments live on disk: the store reads them back whole, a fresh
// copy each time, counts them, replaces, forgets and expires them; the
// loop's views (unfinished, attempting) hold only the payments under way.
func TestFinalStatesLiveOnDisk(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(dir)
	old := time.Now().Add(-10 * 24 * time.Hour).UnixMilli()
	approved := &PaymentState{PaymentID: "p-approved", Phase: PhaseFinal, Operation: schemas.OpAuthorize, AmountMinor: 500, Currency: "EUR",
		AuthorizingPSP: "psp-a", AuthorizationReference: "ref-1", UpdatedAtMs: old,
		Path:   []schemas.AttemptSummary{{AttemptID: "p-approved#1", PSP: "psp-a", Outcome: schemas.OutcomeApproved}},
		Result: &schemas.PaymentResult{PaymentID: "p-approved", Status: schemas.StatusApproved, PSPReference: "ref-1"}}
	load(t, s, 0, map[string]*PaymentState{
		"p-approved": approved,
		"p-declined": {PaymentID: "p-declined", Phase: PhaseFinal, UpdatedAtMs: old, Result: &schemas.PaymentResult{Status: schemas.StatusDeclined}},
		"p-open":     {PaymentID: "p-open", Phase: PhaseAttempting, InFlight: &InFlight{PSP: "psp-b", IdempotencyKey: "k"}},
	})
	if n, u := s.Len(), s.Unfinished(); n != 3 || u != 1 {
		t.Fatalf("Len %d, Unfinished %d; want 3 and 1", n, u)
	}
	if files, _ := os.ReadDir(dir); len(files) != 1 {
		t.Fatalf("%d files in the state directory, want one for the partition", len(files))
	}
	got, ok := s.Get(0, "p-approved")
	if !ok || got.AuthorizationReference != "ref-1" || got.Result.Status != schemas.StatusApproved || len(got.Path) != 1 {
		t.Fatalf("read back %+v", got)
	}
	got.CapturedMinor = 500
	if again, _ := s.Get(0, "p-approved"); again.CapturedMinor != 0 {
		t.Fatal("changing a state read from disk changed the store")
	}
	// A follow-up settles on the approval: the new version replaces it.
	apply(t, s, 0, map[string]*PaymentState{"p-approved": got, "p-declined": nil})
	if st, _ := s.Get(0, "p-approved"); st.CapturedMinor != 500 {
		t.Fatalf("captured %d after the change, want 500", st.CapturedMinor)
	}
	if _, ok := s.Get(0, "p-declined"); ok {
		t.Fatal("a tombstone did not delete a final state")
	}
	// The payment under way becomes final: it leaves memory for disk.
	done := &PaymentState{PaymentID: "p-open", Phase: PhaseFinal, UpdatedAtMs: time.Now().UnixMilli(), Result: &schemas.PaymentResult{Status: schemas.StatusFailed}}
	apply(t, s, 0, map[string]*PaymentState{"p-open": done})
	if u := s.Unfinished(); u != 0 {
		t.Fatalf("Unfinished %d after the last payment finished", u)
	}
	if st, ok := s.Get(0, "p-open"); !ok || st.Result.Status != schemas.StatusFailed {
		t.Fatalf("finished payment read back as %+v", st)
	}
	if exp := s.Expired(0, time.Now().Add(-7*24*time.Hour).UnixMilli(), time.Now().Add(-180*24*time.Hour).UnixMilli(), 10); len(exp) != 0 {
		t.Fatalf("expired %v: the old approval is kept for follow-ups, the recent failure for duplicates", exp)
	}
	s.Drop(0)
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Fatalf("%d files left after the partition was dropped", len(files))
	}
}

// Compaction keeps every live state and drops the garbage of replaced ones.
func TestFinalStatesCompaction(t *testing.T) {
	fs, err := newFinalStates(t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.close()
	for round := range 3 {
		for i := range 50 {
			st := &PaymentState{PaymentID: fmt.Sprintf("p-%d", i), Phase: PhaseFinal, AmountMinor: int64(round*100 + i)}
			b, err := encodeState(st)
			if err != nil {
				t.Fatal(err)
			}
			if err := fs.put(st, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := fs.w.Flush(); err != nil {
		t.Fatal(err)
	}
	before := fs.size
	if err := fs.compact(); err != nil {
		t.Fatal(err)
	}
	if fs.size != fs.live || fs.size*2 > before {
		t.Fatalf("after compaction %d bytes (%d live), before %d: want only the live third", fs.size, fs.live, before)
	}
	for i := range 50 {
		st, ok, err := fs.get(fmt.Sprintf("p-%d", i))
		if err != nil || !ok || st.AmountMinor != int64(200+i) {
			t.Fatalf("p-%d after compaction: %+v %v %v", i, st, ok, err)
		}
	}
}

// Payment ids whose hashes collide are told apart: here every id has the
// same hash, so all but one live in the spill map, through replacement,
// deletion, expiry and compaction.
func TestFinalStatesHashCollisions(t *testing.T) {
	fs, err := newFinalStates(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.close()
	fs.hash = func(string) uint64 { return 42 }
	old := time.Now().Add(-30 * 24 * time.Hour).UnixMilli()
	put := func(id string, amount int64, updated int64) {
		t.Helper()
		st := &PaymentState{PaymentID: id, Phase: PhaseFinal, AmountMinor: amount, UpdatedAtMs: updated}
		b, err := encodeState(st)
		if err != nil {
			t.Fatal(err)
		}
		if err := fs.put(st, b); err != nil {
			t.Fatal(err)
		}
	}
	check := func(id string, amount int64) {
		t.Helper()
		st, ok, err := fs.get(id)
		if err != nil || !ok || st.PaymentID != id || st.AmountMinor != amount {
			t.Fatalf("%s: %+v %v %v, want amount %d", id, st, ok, err, amount)
		}
	}
	put("p-a", 1, old)
	put("p-b", 2, time.Now().UnixMilli())
	put("p-c", 3, old)
	check("p-a", 1)
	check("p-b", 2)
	check("p-c", 3)
	if fs.index.len() != 1 || len(fs.spill) != 2 || fs.len() != 3 {
		t.Fatalf("index %d, spill %d: want 1 and 2", fs.index.len(), len(fs.spill))
	}
	put("p-b", 20, time.Now().UnixMilli())
	put("p-a", 10, old)
	check("p-a", 10)
	check("p-b", 20)
	if _, ok, _ := fs.get("p-unknown"); ok {
		t.Fatal("an id never put was found under its hash")
	}
	if err := fs.delete("p-a"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := fs.get("p-a"); ok {
		t.Fatal("deleted p-a is still there")
	}
	exp, err := fs.expired(time.Now().Add(-7*24*time.Hour).UnixMilli(), 0, 10)
	if err != nil || len(exp) != 1 || exp[0] != "p-c" {
		t.Fatalf("expired %v %v, want p-c", exp, err)
	}
	if err := fs.w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := fs.compact(); err != nil {
		t.Fatal(err)
	}
	check("p-b", 20)
	check("p-c", 3)
	if fs.len() != 2 || fs.size != fs.live {
		t.Fatalf("after compaction: %d payments, %d of %d bytes live", fs.len(), fs.live, fs.size)
	}
}
