package admin

import (
	"net/http"
	"testing"
	"time"

	"github.com/payroute/payroute/health"
	"github.com/payroute/payroute/schemas"
)

// TestHealthTrackerShown takes a PSP down in a real tracker and checks the
// state reaches /api/psps and the metrics.
func TestHealthTrackerShown(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	tr, err := health.New(health.DefaultConfiguration(), health.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		tr.Observe(health.Observation{PSP: "psp-a", Currency: "EUR", Class: schemas.ClassPSPError, Latency: time.Millisecond})
		tr.Observe(health.Observation{PSP: "psp-b", Class: schemas.ClassNone, Latency: time.Millisecond})
	}
	s, err := New(testConfig(), nil, Sources{Cluster: embeddedCluster(t), Health: TrackerHealth(tr), HealthCounters: tr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got PSPs
	if code := getJSON(t, s.Handler(), "/api/psps", &got); code != http.StatusOK || !got.HealthTracked {
		t.Fatalf("%d %+v", code, got)
	}
	states := map[string]PSPHealth{}
	for _, p := range got.PSPs {
		for _, h := range p.Health {
			states[p.Name+" "+h.Scope] = h
		}
	}
	if a := states["psp-a *"]; a.State != "DOWN" || a.WindowCalls != 30 || a.FailureRate != 1 || a.Reason == "" {
		t.Errorf("psp-a whole account = %+v, want DOWN with its window", a)
	}
	if b := states["psp-b *"]; b.State != "HEALTHY" {
		t.Errorf("psp-b = %+v", b)
	}
	fams := scrape(t, s.Handler())
	if v, _ := value(fams, "payroute_psp_health", map[string]string{"psp": "psp-a", "scope": "*", "state": "DOWN"}); v != 1 {
		t.Errorf("payroute_psp_health psp-a DOWN = %v", v)
	}
	if v, _ := value(fams, "payroute_psp_health_transitions_total", map[string]string{"state": "DOWN"}); v != 1 {
		t.Errorf("transitions to DOWN = %v, want 1", v)
	}
}
