package health

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/schemas"
)

const step = 5 * time.Millisecond // 200 calls per second

func TestDeclinesAndCustomerErrorsNeverMarkAPSPDown(t *testing.T) {
	c := newClock()
	tr := newTracker(t, DefaultConfiguration(), c)
	for _, class := range []schemas.Class{schemas.ClassHardDecline, schemas.ClassSoftDecline, schemas.ClassCustomerError, schemas.ClassInvalidRequest} {
		feed(tr, c, 2000, step, Observation{PSP: "psp-a", Currency: "EUR", Network: "visa", Class: class})
	}
	for _, h := range tr.Snapshot() {
		if h.State != schemas.HealthHealthy || h.WindowFailures != 0 {
			t.Errorf("%s %s after 100%% declines: %s with %d failures, want HEALTHY with none", h.PSP, h.Scope, h.State, h.WindowFailures)
		}
	}
	if s := tr.Stats(); s.ToDown != 0 || s.Failures != 0 || s.Observations != 8000 {
		t.Errorf("stats %+v: want 8000 observations, no failure, no transition", s)
	}
}

func TestFailureRateNeedsMinimumVolume(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.ConsecutiveFailures = 0 // judge by the window alone
	c := newClock()
	tr := newTracker(t, cfg, c)
	fail := Observation{PSP: "psp-a", Class: schemas.ClassPSPError}
	ok := Observation{PSP: "psp-a"}
	// 19 failures in the window: 100% but under min_calls.
	feed(tr, c, 19, step, fail)
	if s := tr.State("psp-a", "", ""); s != schemas.HealthHealthy {
		t.Fatalf("19 calls (min_calls 20) took the PSP %s", s)
	}
	// They slide out of the window; 19 more are still too few.
	c.Add(cfg.Window)
	feed(tr, c, 19, step, fail)
	if s := tr.State("psp-a", "", ""); s != schemas.HealthHealthy {
		t.Fatalf("19 calls in the window after the first 19 slid out took the PSP %s", s)
	}
	c.Add(cfg.Window)
	// 40% failures never reach the 50% threshold.
	for i := 0; i < 500; i++ {
		o := ok
		if i%5 == 0 || i%5 == 3 {
			o = fail
		}
		feed(tr, c, 1, step, o)
	}
	if s := tr.State("psp-a", "", ""); s != schemas.HealthHealthy {
		t.Fatalf("40%% failures took the PSP %s", s)
	}
	c.Add(cfg.Window)
	// 50%: down exactly at the 20th call.
	for i := 1; i <= 20; i++ {
		o := ok
		if i%2 == 1 {
			o = fail
		}
		feed(tr, c, 1, step, o)
		want := schemas.HealthHealthy
		if i == 20 {
			want = schemas.HealthDown
		}
		if s := tr.State("psp-a", "", ""); s != want {
			t.Fatalf("after %d calls at 50%%: %s, want %s", i, s, want)
		}
	}
	h := stateOf(tr, "psp-a", WholeAccount)
	if !strings.Contains(h.Reason, "failure rate 50% of 20 calls") {
		t.Errorf("reason %q does not give the rate and volume", h.Reason)
	}
}

func TestConsecutiveFailuresTripAtOnce(t *testing.T) {
	c := newClock()
	tr := newTracker(t, DefaultConfiguration(), c)
	feed(tr, c, 400, step, Observation{PSP: "psp-a"})
	feed(tr, c, 19, step, Observation{PSP: "psp-a", Class: schemas.ClassInDoubt})
	if s := tr.State("psp-a", "", ""); s != schemas.HealthHealthy {
		t.Fatalf("19 failures in a row (threshold 20) among 400 successes: %s", s)
	}
	feed(tr, c, 1, step, Observation{PSP: "psp-a", Class: schemas.ClassRateLimited})
	h := stateOf(tr, "psp-a", WholeAccount)
	if h.State != schemas.HealthDown || h.Reason != "20 PSP failures in a row" {
		t.Fatalf("20 failures in a row: %s (%q), want DOWN", h.State, h.Reason)
	}
}

func TestSlowCallsTakeAPSPDown(t *testing.T) {
	cfg := DefaultConfiguration()
	c := newClock()
	tr := newTracker(t, cfg, c)
	// Approved, but every call takes longer than slow_call.
	feed(tr, c, 19, step, Observation{PSP: "psp-a", Latency: 3 * time.Second})
	if s := tr.State("psp-a", "", ""); s != schemas.HealthHealthy {
		t.Fatalf("19 slow calls: %s", s)
	}
	feed(tr, c, 1, step, Observation{PSP: "psp-a", Latency: 3 * time.Second})
	if h := stateOf(tr, "psp-a", WholeAccount); h.State != schemas.HealthDown || !strings.Contains(h.Reason, "slower than 2s") {
		t.Fatalf("20 slow calls: %s (%q), want DOWN for slowness", h.State, h.Reason)
	}
}

func TestDownProbingHealthyCycle(t *testing.T) {
	cfg := DefaultConfiguration()
	c := newClock()
	tr := newTracker(t, cfg, c)
	fail := Observation{PSP: "psp-a", Class: schemas.ClassPSPError}
	feed(tr, c, 20, step, fail)
	down := stateOf(tr, "psp-a", WholeAccount)
	if down.State != schemas.HealthDown || !down.Since.Equal(c.Now()) {
		t.Fatalf("after 20 failures: %+v, want DOWN since now", down)
	}
	c.Add(cfg.CoolOff - time.Millisecond)
	if s := tr.State("psp-a", "", ""); s != schemas.HealthDown {
		t.Fatalf("before the cool-off passed: %s", s)
	}
	c.Add(time.Second) // noticed late: the transition is still dated when it was due
	probing := stateOf(tr, "psp-a", WholeAccount)
	if probing.State != schemas.HealthProbing || !probing.Since.Equal(down.Since.Add(cfg.CoolOff)) {
		t.Fatalf("after the cool-off: %+v, want PROBING since %s", probing, down.Since.Add(cfg.CoolOff))
	}
	// Two failed probes are not enough to go back down; the third is.
	feed(tr, c, 2, step, fail)
	feed(tr, c, 1, step, Observation{PSP: "psp-a", Class: schemas.ClassHardDecline}) // an answer: a success
	if h := stateOf(tr, "psp-a", WholeAccount); h.State != schemas.HealthProbing || h.ProbeFailures != 2 || h.ProbeSuccesses != 1 {
		t.Fatalf("after 2 failed probes and a decline: %+v", h)
	}
	feed(tr, c, 1, step, Observation{PSP: "psp-a", Latency: 5 * time.Second}) // slow: a failed probe
	redown := stateOf(tr, "psp-a", WholeAccount)
	if redown.State != schemas.HealthDown || redown.Reason != "3 of 4 probes failed" {
		t.Fatalf("after 3 failed probes: %+v, want DOWN", redown)
	}
	c.Add(cfg.CoolOff)
	feed(tr, c, cfg.ProbeSuccesses-1, step, Observation{PSP: "psp-a"})
	if s := tr.State("psp-a", "", ""); s != schemas.HealthProbing {
		t.Fatalf("after %d successful probes: %s, want PROBING", cfg.ProbeSuccesses-1, s)
	}
	feed(tr, c, 1, step, Observation{PSP: "psp-a"})
	if h := stateOf(tr, "psp-a", WholeAccount); h.State != schemas.HealthHealthy || h.WindowCalls != 0 {
		t.Fatalf("after %d successful probes: %+v, want HEALTHY with a fresh window", cfg.ProbeSuccesses, h)
	}
	if s := tr.Stats(); s.ToDown != 2 || s.ToProbing != 2 || s.ToHealthy != 1 || s.Adopted != 0 {
		t.Errorf("transition counters %+v", s)
	}
}

func TestOrderMovesDownPSPsBehindHealthyOnes(t *testing.T) {
	c := newClock()
	tr := newTracker(t, DefaultConfiguration(), c)
	in := cands("a", "b", "c")
	if got := names(tr.Order(in, "EUR", "visa", "p1")); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("all healthy: %v", got)
	}
	feed(tr, c, 20, step, Observation{PSP: "b", Class: schemas.ClassPSPError})
	got := tr.Order(in, "EUR", "visa", "p1")
	if !slices.Equal(names(got), []string{"a", "c", "b"}) {
		t.Fatalf("b down: %v, want [a c b]", names(got))
	}
	for i, cand := range got {
		if cand.Rank != int32(i+1) || cand.Method != "card" {
			t.Errorf("position %d: %+v, want rank %d", i, cand, i+1)
		}
	}
	if in[1].PSP != "b" || in[1].Rank != 2 {
		t.Errorf("Order modified its input: %+v", in)
	}
	feed(tr, c, 20, step, Observation{PSP: "a", Class: schemas.ClassPSPError})
	if got := names(tr.Order(in, "EUR", "visa", "p1")); !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Fatalf("a and b down: %v, want [c a b]", got)
	}
	feed(tr, c, 20, step, Observation{PSP: "c", Class: schemas.ClassPSPError})
	if got := names(tr.Order(in, "EUR", "visa", "p1")); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("all down: %v, want the original order", got)
	}
}

func TestProbeShareIsDeterministicPerPayment(t *testing.T) {
	cfg := DefaultConfiguration()
	c := newClock()
	tr := newTracker(t, cfg, c)
	feed(tr, c, 20, step, Observation{PSP: "a", Class: schemas.ClassPSPError})
	c.Add(cfg.CoolOff)
	if s := tr.State("a", "", ""); s != schemas.HealthProbing {
		t.Fatalf("a is %s, want PROBING", s)
	}
	const n = 20000
	first := 0
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("pay-%06d", i)
		o1 := tr.Order(cands("a", "b"), "EUR", "visa", id)
		o2 := tr.Order(cands("a", "b"), "EUR", "visa", id)
		if o1[0].PSP != o2[0].PSP {
			t.Fatalf("payment %s: first %s, then %s", id, o1[0].PSP, o2[0].PSP)
		}
		if o1[0].PSP == "a" {
			first++
		}
	}
	share := float64(first) / n
	if share < 0.04 || share > 0.06 {
		t.Errorf("probe share %.4f, want about %.2f", share, cfg.ProbeShare)
	}
	if s := tr.Stats(); s.Probes != int64(2*first) {
		t.Errorf("Stats.Probes %d, want %d", s.Probes, 2*first)
	}
}

// One currency, or one card network (Recurly's per card type), down at a
// PSP leaves the rest of its traffic flowing there.
func TestOneScopeDownLeavesTheRestOfTheAccountUp(t *testing.T) {
	for _, c := range []struct {
		scope          string
		failing, other Observation
	}{
		{"currency=EUR", Observation{PSP: "a", Currency: "EUR", Network: "visa"}, Observation{PSP: "a", Currency: "USD", Network: "visa"}},
		{"network=mastercard", Observation{PSP: "a", Currency: "EUR", Network: "mastercard"}, Observation{PSP: "a", Currency: "EUR", Network: "visa"}},
	} {
		t.Run(c.scope, func(t *testing.T) {
			clock := newClock()
			tr := newTracker(t, DefaultConfiguration(), clock)
			failing := c.failing
			failing.Class = schemas.ClassPSPError
			for i := 0; i < 300; i++ {
				feed(tr, clock, 1, step, failing)
				feed(tr, clock, 2, step, c.other)
			}
			if s := tr.State("a", failing.Currency, failing.Network); s != schemas.HealthDown {
				t.Errorf("%s %s payments: %s, want DOWN", failing.Currency, failing.Network, s)
			}
			if s := tr.State("a", c.other.Currency, c.other.Network); s != schemas.HealthHealthy {
				t.Errorf("%s %s payments: %s, want HEALTHY", c.other.Currency, c.other.Network, s)
			}
			for _, h := range tr.Snapshot() {
				want := schemas.HealthHealthy
				if h.Scope == c.scope {
					want = schemas.HealthDown
				}
				if h.State != want {
					t.Errorf("scope %s: %s, want %s", h.Scope, h.State, want)
				}
			}
		})
	}
}

func TestFullOutageIsOneTransitionOnTheWholeAccount(t *testing.T) {
	cfg := DefaultConfiguration()
	c := newClock()
	tr := newTracker(t, cfg, c)
	for i := 0; i < 100; i++ {
		feed(tr, c, 1, step, Observation{PSP: "a", Currency: "EUR", Network: "visa", Class: schemas.ClassPSPError})
		feed(tr, c, 1, step, Observation{PSP: "a", Currency: "USD", Network: "mastercard", Class: schemas.ClassPSPError})
	}
	if s := tr.Stats(); s.ToDown != 1 {
		t.Fatalf("%d transitions to DOWN, want 1 (the whole account)", s.ToDown)
	}
	if h := stateOf(tr, "a", WholeAccount); h.State != schemas.HealthDown {
		t.Fatalf("whole account %s, want DOWN", h.State)
	}
	if s := tr.State("a", "EUR", "mastercard"); s != schemas.HealthDown {
		t.Fatalf("a EUR mastercard payment sees %s, want DOWN", s)
	}
	// Recovery: the narrow scopes start afresh, so the outage's failures
	// still in their windows cannot take them down on the next failure.
	c.Add(cfg.CoolOff)
	feed(tr, c, cfg.ProbeSuccesses, step, Observation{PSP: "a", Currency: "USD", Network: "mastercard"})
	if s := tr.State("a", "EUR", "visa"); s != schemas.HealthHealthy {
		t.Fatalf("after recovery: %s", s)
	}
	feed(tr, c, 1, step, Observation{PSP: "a", Currency: "EUR", Network: "visa", Class: schemas.ClassPSPError})
	if s := tr.State("a", "EUR", "visa"); s != schemas.HealthHealthy {
		t.Fatalf("one failure after recovery took EUR/visa %s", s)
	}
}

func TestMaintenanceWindowIsPlannedDowntime(t *testing.T) {
	c := newClock()
	start := c.Now().Add(time.Minute)
	end := start.Add(time.Minute)
	cfg := DefaultConfiguration()
	cfg.Maintenance = []MaintenanceWindow{
		{PSP: "a", Start: start, End: end},
		{PSP: "b", Scope: "currency=eur", Start: start, End: end},
	}
	tr := newTracker(t, cfg, c)
	if s := tr.State("a", "EUR", "visa"); s != schemas.HealthHealthy {
		t.Fatalf("before the window: %s", s)
	}
	c.Add(time.Minute + time.Second)
	h := stateOf(tr, "a", WholeAccount)
	if h.State != schemas.HealthDown || !h.Maintenance || !h.Since.Equal(start) || !strings.HasPrefix(h.Reason, "maintenance until 2026-11-20T10:02:00Z") {
		t.Fatalf("in the window: %+v", h)
	}
	if s := tr.State("b", "EUR", "visa"); s != schemas.HealthDown {
		t.Errorf("b EUR in its window: %s", s)
	}
	if s := tr.State("b", "USD", "visa"); s != schemas.HealthHealthy {
		t.Errorf("b USD (window is EUR only): %s", s)
	}
	// Calls forced onto it during the window decide nothing, and the
	// cool-off does not end a maintenance window.
	feed(tr, c, 100, step, Observation{PSP: "a"})
	c.Add(20 * time.Second)
	if s := tr.State("a", "", ""); s != schemas.HealthDown {
		t.Fatalf("successes during the window: %s, want DOWN until the end", s)
	}
	c.Add(end.Sub(c.Now()))
	h = stateOf(tr, "a", WholeAccount)
	if h.State != schemas.HealthProbing || h.Maintenance || !h.Since.Equal(end) || h.Reason != "maintenance ended" {
		t.Fatalf("at the end of the window: %+v", h)
	}
	feed(tr, c, cfg.ProbeSuccesses, step, Observation{PSP: "a"})
	if s := tr.State("a", "", ""); s != schemas.HealthHealthy {
		t.Fatalf("after the probes: %s", s)
	}
}

func TestHeldPaymentsWaitForARecovery(t *testing.T) {
	cfg := DefaultConfiguration()
	c := newClock()
	tr := newTracker(t, cfg, c)
	both := cands("a", "b")
	if tr.AllDown(both, "EUR", "visa", "pay-1") || !tr.Available(both, "EUR", "visa", "pay-1") {
		t.Fatal("healthy PSPs reported down")
	}
	if tr.AllDown(nil, "EUR", "visa", "pay-1") {
		t.Fatal("no candidates reported all down")
	}
	feed(tr, c, 20, step, Observation{PSP: "a", Class: schemas.ClassPSPError})
	if tr.AllDown(both, "EUR", "visa", "pay-1") {
		t.Fatal("b is healthy, but all reported down")
	}
	feed(tr, c, 20, step, Observation{PSP: "b", Currency: "EUR", Class: schemas.ClassPSPError})
	if !tr.AllDown(both, "EUR", "visa", "pay-1") || tr.Available(both, "EUR", "visa", "pay-1") {
		t.Fatal("a and b down, but not all down")
	}
	recovered := tr.Recovered()
	c.Add(cfg.CoolOff)
	if !tr.AllDown(both, "EUR", "visa", "pay-1") {
		t.Fatal("probing PSPs released held payments")
	}
	// ... except those in their probe share: they are the probes of a PSP
	// that only held payments would use.
	probe := ""
	for i := 0; probe == "" && i < 10000; i++ {
		if id := fmt.Sprintf("pay-%d", i); tr.probes(id, "a") {
			probe = id
		}
	}
	if probe == "" || !tr.Available(cands("a"), "EUR", "visa", probe) {
		t.Fatalf("payment %q in a's probe share not released while a probes", probe)
	}
	select {
	case <-recovered:
		t.Fatal("Recovered fired on probing")
	default:
	}
	feed(tr, c, cfg.ProbeSuccesses, step, Observation{PSP: "b"})
	select {
	case <-recovered:
	default:
		t.Fatal("Recovered did not fire when b became healthy")
	}
	if !tr.Available(both, "EUR", "visa", "pay-1") {
		t.Fatal("b healthy, held payments not available")
	}
	select {
	case <-tr.Recovered():
		t.Fatal("the next Recovered channel is already closed")
	default:
	}
}

func TestSubscribersSeeEveryTransition(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.InstanceID = "i-1"
	c := newClock()
	tr := newTracker(t, cfg, c)
	ch, cancel := tr.Subscribe(10)
	feed(tr, c, 20, step, Observation{PSP: "a", Class: schemas.ClassPSPError})
	c.Add(cfg.CoolOff)
	feed(tr, c, cfg.ProbeSuccesses, step, Observation{PSP: "a"})
	cancel()
	feed(tr, c, 20, step, Observation{PSP: "a", Class: schemas.ClassPSPError})
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]schemas.HealthState{
		{schemas.HealthHealthy, schemas.HealthDown},
		{schemas.HealthDown, schemas.HealthProbing},
		{schemas.HealthProbing, schemas.HealthHealthy},
	}
	for i, w := range want {
		select {
		case ev := <-ch:
			if ev.PreviousState != w[0] || ev.State != w[1] || ev.PSP != "a" || ev.Scope != "*" || ev.InstanceID != "i-1" {
				t.Errorf("transition %d: %+v, want %s -> %s", i, ev, w[0], w[1])
			}
			if _, err := serde.Encode(&ev); err != nil {
				t.Errorf("transition %d does not encode: %v", i, err)
			}
		default:
			t.Fatalf("transition %d missing", i)
		}
	}
	select {
	case ev := <-ch:
		t.Fatalf("transition after cancel delivered: %+v", ev)
	default:
	}
}
