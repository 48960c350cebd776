package consumers_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/health"
	"github.com/payroute/payroute/schemas"
)

// TestDownedPSPIsSkippedOnceDetected runs the processor with the real
// health tracker: psp-a is down, so the first payments fail over from it,
// and once the tracker has marked it down the next payments go straight to
// psp-b (PRODUCT.md, PSP health).
func TestDownedPSPIsSkippedOnceDetected(t *testing.T) {
	s := newStackWith(t, stackOptions{noStart: true})
	hcfg := health.DefaultConfiguration()
	hcfg.ConsecutiveFailures = 5
	hcfg.CoolOff = time.Hour // no probing during the test
	tracker, err := health.New(hcfg, health.WithKafka(s.cluster, s.serde))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tracker.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tracker.Stop(context.Background()) })
	proc := s.startProcessorWith(t, nil, func(p *consumers.Processor) { p.SetHealth(tracker) })
	if err := s.sim.SetDown("psp-a", true); err != nil {
		t.Fatal(err)
	}
	// A first wave trips the tracker; a second wave is routed around psp-a.
	var first []*kgo.Record
	for i := 0; i < 10; i++ {
		first = append(first, s.request(t, payment(fmt.Sprintf("wave1-%d", i), "tok_approve", "psp-a", "psp-b")))
	}
	s.publish(t, first...)
	s.results(t, 10)
	if tracker.State("psp-a", "EUR", "visa") != schemas.HealthDown {
		t.Fatalf("psp-a is %s after 10 failures in a row, want DOWN", tracker.State("psp-a", "EUR", "visa"))
	}
	var second []*kgo.Record
	for i := 0; i < 10; i++ {
		second = append(second, s.request(t, payment(fmt.Sprintf("wave2-%d", i), "tok_approve", "psp-a", "psp-b")))
	}
	s.publish(t, second...)
	results := s.results(t, 20)
	for i := 0; i < 10; i++ {
		r := results[fmt.Sprintf("wave2-%d", i)]
		if r.Status != schemas.StatusApproved || r.FirstPSP != "psp-b" || len(r.Path) != 1 {
			t.Errorf("wave2-%d: %s via %v, want APPROVED straight at psp-b", i, r.Status, pathPSPs(r))
		}
	}
	if proc.Stats().Failovers() != 10 {
		t.Errorf("%d failovers, want 10 (the first wave only)", proc.Stats().Failovers())
	}
}

// fakeHealth says every PSP is down until up is set.
type fakeHealth struct{ up atomic.Bool }

func (f *fakeHealth) Order(c []schemas.Candidate, _, _, _ string) []schemas.Candidate { return c }
func (f *fakeHealth) Observe(health.Observation)                                      {}
func (f *fakeHealth) AllDown([]schemas.Candidate, string, string) bool                { return !f.up.Load() }
func (f *fakeHealth) Available([]schemas.Candidate, string, string) bool              { return f.up.Load() }
func (f *fakeHealth) Recovered() <-chan struct{}                                      { return nil }

// TestRecurringPaymentsAreHeldWhileAllPSPsAreDown: a recurring payment whose
// PSPs are all down is neither attempted nor failed; it is released, in
// order, when one recovers. A one-time payment is attempted as usual.
func TestRecurringPaymentsAreHeldWhileAllPSPsAreDown(t *testing.T) {
	s := newStackWith(t, stackOptions{noStart: true})
	h := &fakeHealth{}
	proc := s.startProcessorWith(t, nil, func(p *consumers.Processor) { p.SetHealth(h) })
	var recs []*kgo.Record
	for i := 0; i < 3; i++ {
		p := payment(fmt.Sprintf("recurring-%d", i), "tok_approve", "psp-a", "psp-b")
		p.Recurring = true
		recs = append(recs, s.request(t, p))
	}
	recs = append(recs, s.request(t, payment("one-time", "tok_approve", "psp-a", "psp-b")))
	s.publish(t, recs...)
	s.results(t, 1) // only the one-time payment ends
	waitFor(t, "three held payments", func() bool { return proc.Stats().Held() == 3 })
	if n := s.sim.Approvals("recurring-0"); n != 0 {
		t.Fatalf("a held payment was attempted")
	}
	h.up.Store(true)
	results := s.results(t, 4)
	for i := 0; i < 3; i++ {
		if r := results[fmt.Sprintf("recurring-%d", i)]; r.Status != schemas.StatusApproved {
			t.Errorf("recurring-%d: %s after release, want APPROVED", i, r.Status)
		}
	}
}

// TestTwoProcessorsConvergeOnPSPHealth: two processors in one consumer
// group, each with its own health tracker, share psp.health: whichever
// sees psp-a fail publishes the transition, and both end up with psp-a
// DOWN, so both route around it.
func TestTwoProcessorsConvergeOnPSPHealth(t *testing.T) {
	s := newStackWith(t, stackOptions{noStart: true})
	hcfg := health.DefaultConfiguration()
	hcfg.ConsecutiveFailures = 5
	hcfg.CoolOff = time.Hour
	var trackers []*health.Tracker
	for i := 0; i < 2; i++ {
		c := hcfg
		c.InstanceID = fmt.Sprintf("instance-%d", i)
		tr, err := health.New(c, health.WithKafka(s.cluster, s.serde))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := tr.Start(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		t.Cleanup(func() { _ = tr.Stop(context.Background()) })
		trackers = append(trackers, tr)
		s.startProcessorWith(t, nil, func(p *consumers.Processor) { p.SetHealth(tr) })
	}
	if err := s.sim.SetDown("psp-a", true); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := 0; i < 30; i++ {
		recs = append(recs, s.request(t, payment(fmt.Sprintf("conv-%d", i), "tok_approve", "psp-a", "psp-b")))
	}
	s.publish(t, recs...)
	s.results(t, 30)
	waitFor(t, "both instances to see psp-a DOWN", func() bool {
		for _, tr := range trackers {
			if tr.State("psp-a", "", "") != schemas.HealthDown {
				return false
			}
		}
		return true
	})
}
