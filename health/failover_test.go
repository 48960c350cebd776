package health

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/simulator"
	"github.com/payroute/payroute/schemas"
)

// world is a primary and a backup PSP on the simulator, and a loop that
// routes payments through a Tracker the way the processor does: Order the
// candidates, attempt them in that order until one answers, Observe every
// attempt.
type world struct {
	sim *simulator.Server
	reg *psp.Registry
	tr  *Tracker
	now func() time.Time
}

func newWorld(t *testing.T, tr *Tracker, now func() time.Time) *world {
	t.Helper()
	sim, err := simulator.New(simulator.Configuration{
		Listen: "127.0.0.1:0", Seed: 5,
		// No preset: no latency, no random errors; the tokens decide.
		PSPs: map[string]simulator.Profile{"primary": {}, "backup": {}},
	}, simulator.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sim.Stop(ctx)
	})
	reg, err := psp.NewRegistry(sim.RegistryConfiguration(2*time.Second), psp.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return &world{sim: sim, reg: reg, tr: tr, now: now}
}

// tokens is the traffic mix: mostly approvals, with declines and customer
// errors that must never count against a PSP.
var tokens = []string{"tok_approve", "tok_approve", "tok_approve", "tok_approve", "tok_approve",
	"tok_approve", "tok_approve", "tok_hard_decline", "tok_soft_decline", "tok_customer_error"}

// pay routes payment i and returns the PSP it was first sent to and the
// class of its last attempt.
func (w *world) pay(t *testing.T, i int) (first string, last schemas.Class) {
	id := fmt.Sprintf("pay-%06d", i)
	order := w.tr.Order(cands("primary", "backup"), "EUR", "visa", id)
	for _, c := range order {
		conn, ok := w.reg.Get(c.PSP)
		if !ok {
			t.Fatalf("no connector for %s", c.PSP)
		}
		out := conn.Attempt(context.Background(), psp.Request{
			PaymentID: id, IdempotencyKey: psp.IdempotencyKey(id, c.PSP, schemas.OpAuthorize),
			Operation: schemas.OpAuthorize, Method: "card", AmountMinor: 1999, Currency: "EUR", MerchantID: "m-1",
			PaymentMethod: schemas.PaymentMethod{Token: tokens[i%len(tokens)], Type: "card", Network: "visa", BIN: "411111", Last4: "0042"},
		})
		w.tr.Observe(Observation{PSP: c.PSP, Currency: "EUR", Network: "visa", Class: out.Class, Latency: out.Latency, At: w.now()})
		if first == "" {
			first = c.PSP
		}
		last = out.Class
		if !out.Class.FailsOver() {
			break
		}
	}
	return first, last
}

// figures are what the outage test measures.
type figures struct {
	detect           time.Duration // outage start to DOWN
	sentFirstToDown  int           // payments first sent to the primary between detection and recovery
	paymentsWhenDown int           // payments between detection and recovery
	revert           time.Duration // recovery to HEALTHY
	failed           int           // payments whose last attempt failed
	firstAfterRevert int           // payments first sent to the backup after the revert
}

func (f figures) share() float64 {
	if f.paymentsWhenDown == 0 {
		return 0
	}
	return float64(f.sentFirstToDown) / float64(f.paymentsWhenDown)
}

// outage runs steady load at rate payments per second on w's clock (advance
// moves it by one payment's gap), takes the primary down at downAt and
// back up at upAt, and stops at end, or a second after the revert when
// early is set.
func outage(t *testing.T, w *world, rate int, advance func(time.Duration), start time.Time, downAt, upAt, end time.Duration, early bool) figures {
	t.Helper()
	events, cancel := w.tr.Subscribe(1000)
	defer cancel()
	gap := time.Second / time.Duration(rate)
	var f figures
	var detected, reverted time.Time
	isDown := false
	for i := 0; ; i++ {
		now := w.now()
		since := now.Sub(start)
		if since >= end || early && !reverted.IsZero() && now.Sub(reverted) >= time.Second {
			break
		}
		if !isDown && since >= downAt && since < upAt {
			if err := w.sim.SetDown("primary", true); err != nil {
				t.Fatal(err)
			}
			isDown = true
		}
		if isDown && since >= upAt {
			if err := w.sim.SetDown("primary", false); err != nil {
				t.Fatal(err)
			}
			isDown = false
		}
	drain:
		for {
			select {
			case ev := <-events:
				if ev.PSP != "primary" || ev.Scope != WholeAccount {
					t.Errorf("unexpected transition %+v", ev)
				}
				at := time.UnixMilli(ev.ChangedAtMs)
				if ev.State == schemas.HealthDown && detected.IsZero() {
					detected = at
				}
				if ev.State == schemas.HealthHealthy && reverted.IsZero() && at.Sub(start) >= upAt {
					reverted = at
				}
			default:
				break drain
			}
		}
		first, last := w.pay(t, i)
		if last.FailsOver() {
			f.failed++
		}
		if !detected.IsZero() && since < upAt {
			f.paymentsWhenDown++
			if first == "primary" {
				f.sentFirstToDown++
			}
		}
		if !reverted.IsZero() && first == "backup" {
			f.firstAfterRevert++
		}
		advance(gap)
	}
	if detected.IsZero() {
		t.Fatal("the outage was never detected")
	}
	if reverted.IsZero() {
		t.Fatal("the primary never reverted after recovery")
	}
	f.detect = detected.Sub(start.Add(downAt))
	f.revert = reverted.Sub(start.Add(upAt))
	return f
}

// TestOutageDetectionFailoverAndRevert is the acceptance test of PSP health
// on a simulated clock: 200 payments per second, the primary down from 10s
// to 30s. It measures the time to detect, the share of payments still sent
// first to the primary once it is known down, and the time to revert after
// it recovers, against the goals: 5s, 1%, 30s.
func TestOutageDetectionFailoverAndRevert(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Configuration)
		goals  bool
	}{
		{"defaults", func(*Configuration) {}, true},
		// The window alone, without the consecutive-failures trip: slower
		// detection, for the record.
		{"window only", func(c *Configuration) { c.ConsecutiveFailures = 0 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfiguration()
			tc.mutate(&cfg)
			c := newClock()
			tr := newTracker(t, cfg, c)
			w := newWorld(t, tr, c.Now)
			start := c.Now()
			f := outage(t, w, 200, func(d time.Duration) { c.Add(d) }, start, 10*time.Second, 30*time.Second, 45*time.Second, false)
			t.Logf("%s: detection %s after the outage, %d of %d payments (%.2f%%) sent first to the downed primary after detection, revert %s after recovery, %d payments failed",
				tc.name, f.detect, f.sentFirstToDown, f.paymentsWhenDown, 100*f.share(), f.revert, f.failed)
			if f.failed != 0 {
				t.Errorf("%d payments failed although the backup was up", f.failed)
			}
			if f.firstAfterRevert != 0 {
				t.Errorf("%d payments went to the backup first after the revert", f.firstAfterRevert)
			}
			if f.detect < 0 || f.revert < 0 {
				t.Errorf("transition before its cause: detect %s, revert %s", f.detect, f.revert)
			}
			if !tc.goals {
				return
			}
			if f.detect > 5*time.Second {
				t.Errorf("detection took %s, goal 5s", f.detect)
			}
			if f.share() >= 0.01 {
				t.Errorf("%.2f%% of payments sent first to the known-down primary, goal under 1%%", 100*f.share())
			}
			if f.revert > 30*time.Second {
				t.Errorf("revert took %s after recovery, goal 30s", f.revert)
			}
		})
	}
}

// TestOutageInRealTime is the same scenario on the real clock, kept short
// with a one-second cool-off: the background ticker and real latencies are
// part of it. It asserts what happens, not how fast; a slow machine only
// makes it run longer.
func TestOutageInRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time outage")
	}
	cfg := DefaultConfiguration()
	cfg.CoolOff = time.Second
	tr, err := New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer tr.Stop(context.Background())
	w := newWorld(t, tr, time.Now)
	start := time.Now()
	// Pace at 200/s of real time: sleep off what is left of each gap.
	next := start
	advance := func(d time.Duration) {
		next = next.Add(d)
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		}
	}
	// Stop a second after the revert; the 60s bound only matters on a
	// machine so loaded that the probes come slowly.
	f := outage(t, w, 200, advance, start, time.Second, 3*time.Second, time.Minute, true)
	t.Logf("real time: detection %s, %d of %d payments (%.2f%%) sent first to the downed primary after detection, revert %s after recovery",
		f.detect, f.sentFirstToDown, f.paymentsWhenDown, 100*f.share(), f.revert)
	if f.failed != 0 {
		t.Errorf("%d payments failed although the backup was up", f.failed)
	}
}
