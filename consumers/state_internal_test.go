package consumers

import (
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
	s := NewStore()
	s.Load(0, map[string]*PaymentState{"p-1": {PaymentID: "p-1", Phase: PhaseInFlight}})
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
	s.Apply(0, v.changes)
	if _, ok := s.Get(0, "p-1"); ok {
		t.Fatal("the applied tombstone did not delete")
	}
	s.Drop(0)
	s.Apply(0, map[string]*PaymentState{"p-2": {PaymentID: "p-2"}})
	if s.Owns(0) {
		t.Fatal("applying to a revoked partition must not resurrect it")
	}
}

func TestExpiredKeepsApprovalsLonger(t *testing.T) {
	now := time.Now()
	old := now.Add(-10 * 24 * time.Hour).UnixMilli()
	s := NewStore()
	s.Load(3, map[string]*PaymentState{
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
	s := NewStore()
	s.Load(1, map[string]*PaymentState{
		"due":   {PaymentID: "due", Phase: PhaseScheduled, Scheduled: &schemas.AttemptFailed{DueAtMs: 1000}},
		"later": {PaymentID: "later", Phase: PhaseScheduled, Scheduled: &schemas.AttemptFailed{DueAtMs: 5000}},
		"sent":  {PaymentID: "sent", Phase: PhaseScheduled}, // on its delay topic, not parked yet
	})
	due, next := s.Scheduled(2000)
	if len(due[1]) != 1 || due[1][0] != "due" || next != 5000 {
		t.Fatalf("due %v next %d", due, next)
	}
}
