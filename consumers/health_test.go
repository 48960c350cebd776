package consumers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/health"
	"github.com/payroute/payroute/psp/simulator"
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
func (f *fakeHealth) AllDown([]schemas.Candidate, string, string, string) bool        { return !f.up.Load() }
func (f *fakeHealth) Available([]schemas.Candidate, string, string, string) bool      { return f.up.Load() }
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

// pspHealth is a health view where named PSPs are down: those go last in
// the order, and a list is all down when every PSP in it is.
type pspHealth struct {
	mu   sync.Mutex
	down map[string]bool
	// downOnFailure takes a PSP down on a failure that fails over, as a
	// tracker does once enough of them came.
	downOnFailure bool
}

func (h *pspHealth) setDown(psp string, down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down[psp] = down
}

func (h *pspHealth) isDown(psp string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down[psp]
}

func (h *pspHealth) Order(c []schemas.Candidate, _, _, _ string) []schemas.Candidate {
	out := slices.Clone(c)
	slices.SortStableFunc(out, func(a, b schemas.Candidate) int {
		switch da, db := h.isDown(a.PSP), h.isDown(b.PSP); {
		case da && !db:
			return 1
		case db && !da:
			return -1
		}
		return 0
	})
	return out
}
func (h *pspHealth) Observe(o health.Observation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.downOnFailure && o.Class.FailsOver() {
		h.down[o.PSP] = true
	}
}
func (h *pspHealth) AllDown(c []schemas.Candidate, cur, network, id string) bool {
	return !h.Available(c, cur, network, id)
}
func (h *pspHealth) Available(c []schemas.Candidate, _, _, _ string) bool {
	for _, x := range c {
		if !h.isDown(x.PSP) {
			return true
		}
	}
	return len(c) == 0
}
func (h *pspHealth) Recovered() <-chan struct{} { return nil }

// TestRecurringWaitsForItsPrimary is Recurly's gateway failover
// (recurring_hold: primary): while the primary is down, a one-time payment
// fails over to the backup, a renewal is held, and it is released to the
// primary once that recovers. A renewal with a provider override
// (gateway_code) waits for its PSP in either mode; under the default mode a
// renewal fails over like any payment.
func TestRecurringWaitsForItsPrimary(t *testing.T) {
	for _, mode := range []string{consumers.RecurringHoldPrimary, consumers.RecurringHoldAllDown} {
		t.Run(mode, func(t *testing.T) {
			s := newStackWith(t, stackOptions{noStart: true})
			h := &pspHealth{down: map[string]bool{"psp-a": true}}
			proc := s.startProcessorWith(t, func(c *consumers.Configuration) { c.RecurringHold = mode },
				func(p *consumers.Processor) { p.SetHealth(h) })
			renewal := payment("renewal", "tok_approve", "psp-a", "psp-b")
			renewal.Recurring = true
			pinned := payment("pinned", "tok_approve")
			pinned.Recurring = true
			pinned.Routing.ProviderOverride = "psp-a"
			// A one-time payment with an override goes to its PSP, down or not:
			// the caller asked for it.
			pinnedOnce := payment("pinned-once", "tok_approve")
			pinnedOnce.Routing.ProviderOverride = "psp-a"
			s.publish(t, s.request(t, renewal), s.request(t, pinned), s.request(t, payment("one-time", "tok_approve", "psp-a", "psp-b")), s.request(t, pinnedOnce))

			wantHeld, first := 2, 3 // held: both renewals; results: the one-time payments, and the renewal at psp-b
			if mode == consumers.RecurringHoldAllDown {
				wantHeld = 1
			} else {
				first = 2
			}
			results := s.results(t, first)
			if r := results["one-time"]; r.Status != schemas.StatusApproved || r.PSP != "psp-b" {
				t.Fatalf("one-time payment %s at %s, want APPROVED at the backup psp-b", r.Status, r.PSP)
			}
			if r := results["pinned-once"]; r.Status != schemas.StatusApproved || r.PSP != "psp-a" {
				t.Fatalf("one-time payment with an override: %s at %s, want APPROVED at psp-a, down or not", r.Status, r.PSP)
			}
			waitFor(t, "held renewals", func() bool { return proc.Stats().Held() == int64(wantHeld) })
			if mode == consumers.RecurringHoldAllDown {
				if r := results["renewal"]; r.Status != schemas.StatusApproved || r.PSP != "psp-b" {
					t.Fatalf("all_down: renewal %s at %s, want failed over to psp-b", r.Status, r.PSP)
				}
			}
			if n := s.sim.Approvals("pinned") + s.sim.Approvals("renewal"); mode == consumers.RecurringHoldPrimary && n != 0 {
				t.Fatalf("a held renewal was attempted (%d approvals)", n)
			}

			h.setDown("psp-a", false)
			results = s.results(t, 4)
			for _, id := range []string{"renewal", "pinned"} {
				want := "psp-a"
				if id == "renewal" && mode == consumers.RecurringHoldAllDown {
					want = "psp-b"
				}
				if r := results[id]; r.Status != schemas.StatusApproved || r.PSP != want || len(r.Path) != 1 {
					t.Errorf("%s: %s at %s after %d attempts, want APPROVED at %s at once", id, r.Status, r.PSP, len(r.Path), want)
				}
			}
		})
	}
}

// TestRenewalFailingAtItsPrimaryIsNotFailedOver: under recurring_hold:
// primary a renewal is never sent to the backup, also when it fails at the
// primary. A failure that takes the primary down holds it, and it is
// released to the primary; a failure while the primary stays available is
// the payment's own, and it ends FAILED. A one-time payment fails over.
func TestRenewalFailingAtItsPrimaryIsNotFailedOver(t *testing.T) {
	s := newStackWith(t, stackOptions{noStart: true})
	h := &pspHealth{down: map[string]bool{}}
	proc := s.startProcessorWith(t, func(c *consumers.Configuration) { c.RecurringHold = consumers.RecurringHoldPrimary },
		func(p *consumers.Processor) { p.SetHealth(h) })

	// psp-a answers 503 for this renewal only, and stays available.
	own := payment("renewal-own", simulator.FailAt("psp-a"), "psp-a", "psp-b")
	own.Recurring = true
	s.publish(t, s.request(t, own))
	if r := s.results(t, 1)["renewal-own"]; r.Status != schemas.StatusFailed || !equal(pathPSPs(r), []string{"psp-a"}) || !strings.Contains(r.Reason, "not failed over") {
		t.Fatalf("renewal failing at an available primary: %s via %v (%q), want FAILED at psp-a only, saying why", r.Status, pathPSPs(r), r.Reason)
	}

	// psp-a goes down: its failures take it down in the health view.
	h.mu.Lock()
	h.downOnFailure = true
	h.mu.Unlock()
	if err := s.sim.SetDown("psp-a", true); err != nil {
		t.Fatal(err)
	}
	renewal := payment("renewal", "tok_approve", "psp-a", "psp-b")
	renewal.Recurring = true
	s.publish(t, s.request(t, renewal), s.request(t, payment("one-time", "tok_approve", "psp-a", "psp-b")))
	results := s.results(t, 2)
	if r := results["one-time"]; r.Status != schemas.StatusApproved || r.PSP != "psp-b" {
		t.Fatalf("one-time payment: %s at %s, want failed over to psp-b", r.Status, r.PSP)
	}
	waitFor(t, "the renewal held", func() bool { return proc.Stats().Held() == 1 })
	if n := s.sim.Approvals("renewal"); n != 0 {
		t.Fatalf("the held renewal was approved %d times", n)
	}

	if err := s.sim.SetDown("psp-a", false); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.downOnFailure = false
	h.mu.Unlock()
	h.setDown("psp-a", false)
	r := s.results(t, 3)["renewal"]
	if r.Status != schemas.StatusApproved || r.PSP != "psp-a" || slices.Contains(pathPSPs(r), "psp-b") {
		t.Fatalf("released renewal: %s at %s via %v, want APPROVED at psp-a, never at psp-b", r.Status, r.PSP, pathPSPs(r))
	}
	if n := s.sim.Approvals("renewal"); n != 1 {
		t.Fatalf("renewal approvals %d, want 1", n)
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
