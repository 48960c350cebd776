package admin

import (
	"math"
	"testing"
	"time"

	"github.com/payroute/payroute/schemas"
)

func TestLiveWindowKeepsTheLastMinute(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	w := newLiveWindow(func() time.Time { return now })
	w.ObserveAttempt("psp-a", schemas.ClassNone, 10*time.Millisecond)
	w.ObserveAttempt("psp-a", schemas.ClassRateLimited, 30*time.Millisecond)
	now = now.Add(30 * time.Second)
	w.ObserveAttempt("psp-a", schemas.ClassSoftDecline, 20*time.Millisecond)
	w.ObserveAttempt("psp-a", schemas.ClassInDoubt, 100*time.Millisecond)
	w.ObserveAttempt("psp-b", schemas.ClassNone, 5*time.Millisecond)

	a := w.snapshot()["psp-a"]
	want := LiveStats{WindowSeconds: 60, Attempts: 4, Approved: 1, Declined: 1, PSPErrors: 1, OtherFailures: 1,
		ApprovalRate: 0.25, PSPErrorRate: 0.25, MeanLatencyMs: 40, MaxLatencyMs: 100}
	if a != want {
		t.Fatalf("psp-a = %+v\nwant  %+v", a, want)
	}

	// 31s later the first second has left the window; the slot it used
	// is reused by a later second without its old counts.
	now = now.Add(31 * time.Second)
	a = w.snapshot()["psp-a"]
	if a.Attempts != 2 || a.Approved != 0 || a.Declined != 1 {
		t.Fatalf("after the first second left the window: %+v", a)
	}
	now = time.Unix(1_000_000+120, 0) // same slot as the first second
	w.ObserveAttempt("psp-a", schemas.ClassNone, time.Millisecond)
	if a = w.snapshot()["psp-a"]; a.Attempts != 1 || a.Approved != 1 {
		t.Fatalf("a reused slot must start empty: %+v", a)
	}
	if b := w.snapshot()["psp-b"]; b.Attempts != 0 || b.ApprovalRate != 0 {
		t.Fatalf("psp-b's only attempt is 90s old: %+v", b)
	}
}

func TestFlowRatesAndVersions(t *testing.T) {
	f := &flow{}
	c := &fakeCounters{results: map[schemas.Status]int64{}}
	t0 := time.Unix(1_000_000, 0)
	for i := 0; i <= flowPoints+10; i++ {
		c.results[schemas.StatusApproved] = int64(10 * i)
		c.results[schemas.StatusDeclined] = int64(2 * i)
		c.results[schemas.StatusActionRequired] = int64(5 * i) // not final: never in payments/s
		c.failovers = int64(3 * i)
		c.attempts = int64(15 * i)
		f.sample(t0.Add(time.Duration(i)*time.Second), c)
	}
	s := f.series()
	if len(s.Points) != flowPoints {
		t.Fatalf("%d points, want the last %d", len(s.Points), flowPoints)
	}
	last := s.Points[len(s.Points)-1]
	if !last.At.Equal(t0.Add(time.Duration(flowPoints+10) * time.Second)) {
		t.Errorf("last point at %v", last.At)
	}
	for name, got := range map[string][2]float64{
		"payments": {last.PaymentsPerSecond, 12}, "approved": {last.ApprovedPerSecond, 10},
		"failovers": {last.FailoversPerSecond, 3}, "attempts": {last.AttemptsPerSecond, 15},
	} {
		if math.Abs(got[0]-got[1]) > 1e-9 {
			t.Errorf("%s/s = %v, want %v", name, got[0], got[1])
		}
	}
	n := int64(flowPoints + 10)
	if s.Totals.Final != 12*n || s.Totals.Approved != 10*n || s.Totals.Failovers != 3*n {
		t.Errorf("totals %+v", s.Totals)
	}

	f.noteVersion(t0, "v1")
	f.noteVersion(t0.Add(time.Second), "v1")
	f.noteVersion(t0.Add(2*time.Second), "v2")
	vs := f.seenVersions()
	if len(vs) != 2 || vs[0].Version != "v1" || vs[1].Version != "v2" || !vs[1].Since.Equal(t0.Add(2*time.Second)) {
		t.Errorf("versions %+v", vs)
	}
}
