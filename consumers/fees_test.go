package consumers_test

import (
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/simulator"
	"github.com/payroute/payroute/schemas"
)

// Every AttemptRecorded carries the fee of its attempt, in minor units of
// the payment currency, from the attempted account's fee schedule: that is
// what analytics sum into fees per PSP and cost per approved payment.
func TestAttemptsCarryFees(t *testing.T) {
	s := newStackWith(t, stackOptions{noStart: true})
	cfg := s.sim.RegistryConfiguration(300 * time.Millisecond)
	a := cfg.Accounts["psp-a"]
	a.Fees = psp.FeeSchedule{Rates: []psp.FeeRate{
		{Percent: psp.MustDecimal("2"), Fixed: psp.MustDecimal("0.10"), DeclinedFixed: psp.MustDecimal("0.05")},
	}}
	cfg.Accounts["psp-a"] = a
	b := cfg.Accounts["psp-b"]
	b.Fees = psp.FeeSchedule{DomesticCountries: []string{"DE"}, CrossBorderPercent: psp.MustDecimal("1"), Rates: []psp.FeeRate{
		{Currency: "EUR", Percent: psp.MustDecimal("1.4"), Fixed: psp.MustDecimal("0.25")},
	}}
	cfg.Accounts["psp-b"] = b
	reg, err := psp.NewRegistry(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.reg = reg
	s.proc = s.startProcessor(t, nil)

	failover := payment("fee-failover", simulator.FailAt("psp-a"), "psp-a", "psp-b")
	failover.PaymentMethod.IssuerCountry = "US" // cross-border at psp-b
	s.publish(t,
		s.request(t, payment("fee-approved", simulator.TokenApprove, "psp-a")),
		s.request(t, payment("fee-declined", simulator.TokenHardDecline, "psp-a")),
		s.request(t, failover),
	)
	want := map[string]int64{
		"fee-approved#1": 35, // 1250 × 2% + 10
		"fee-declined#1": 5,  // declined_fixed
		"fee-failover#1": 0,  // a 503 at psp-a costs nothing
		"fee-failover#2": 55, // 1250 × (1.4% + 1% cross-border) + 25
	}
	got := map[string]int64{}
	for _, r := range s.readTopic(t, s.cluster.Topics().Attempts, len(want)) {
		var a schemas.AttemptRecorded
		if err := s.serde.Decode(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		got[a.AttemptID] = a.FeeMinor
	}
	for id, fee := range want {
		if g, ok := got[id]; !ok || g != fee {
			t.Errorf("%s: fee_minor %d (recorded %v), want %d", id, g, ok, fee)
		}
	}
}
