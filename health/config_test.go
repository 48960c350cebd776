package health

import (
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/config"
)

func TestDefaultConfigurationIsValid(t *testing.T) {
	if err := DefaultConfiguration().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesEveryBadKey(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Window = 10500 * time.Millisecond // not a whole number of 1s buckets
	cfg.MinCalls = 0
	cfg.FailureRate = 1.5
	cfg.SlowCallRate = 0
	cfg.ProbeShare = -0.1
	cfg.ConsecutiveFailures = -1
	cfg.CoolOff = 0
	cfg.ProbeSuccesses = 0
	cfg.ProbeFailures = 0
	cfg.SlowCall = 0
	cfg.Scopes = []string{"currency", "country", "currency"}
	at := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)
	cfg.Maintenance = []MaintenanceWindow{
		{PSP: "", Scope: "region=eu", Start: at, End: at},
		{PSP: "psp-a", Scope: "currency=EURO", End: at},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, key := range []string{"window:", "min_calls:", "failure_rate:", "slow_call_rate:", "probe_share:",
		"consecutive_failures:", "cool_off:", "probe_successes:", "probe_failures:", "slow_call:",
		"scopes[1]:", "scopes[2]:", "maintenance[0].psp:", "maintenance[0].scope:", "maintenance[0].end:",
		"maintenance[1].scope:", "maintenance[1].start:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
	cfg = DefaultConfiguration()
	cfg.Window = 20 * time.Minute
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "at most 600 buckets") {
		t.Errorf("1200 buckets accepted: %v", err)
	}
	if _, err := New(cfg); err == nil || !strings.HasPrefix(err.Error(), "health: ") {
		t.Errorf("New with an invalid configuration: %v", err)
	}
}

func TestMaintenanceWindowsLoadFromYAML(t *testing.T) {
	var root struct {
		Health Configuration `yaml:"health"`
	}
	root.Health = DefaultConfiguration()
	doc := `
health:
  cool_off: 10s
  scopes: [network]
  maintenance:
    - psp: psp-a
      start: 2026-11-20T02:00:00Z
      end: 2026-11-20T03:30:00+01:00
    - psp: psp-b
      scope: network=Visa
      start: 2026-11-21T02:00:00Z
      end: 2026-11-21T02:15:00Z
`
	if err := config.LoadBytes("health.yaml", []byte(doc), nil, &root); err != nil {
		t.Fatal(err)
	}
	h := root.Health
	if h.CoolOff != 10*time.Second || len(h.Scopes) != 1 || h.Scopes[0] != ScopeNetwork || h.Window != 10*time.Second {
		t.Errorf("loaded %+v", h)
	}
	if len(h.Maintenance) != 2 {
		t.Fatalf("maintenance %+v", h.Maintenance)
	}
	if w := h.Maintenance[0]; !w.Start.Equal(time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)) || w.End.Sub(w.Start) != 30*time.Minute {
		t.Errorf("window 0: %+v", w)
	}
	tr, err := New(h, quiet)
	if err != nil {
		t.Fatal(err)
	}
	in, _, _ := tr.maint.covers("psp-b", "network=visa", time.Date(2026, 11, 21, 2, 5, 0, 0, time.UTC))
	if !in {
		t.Error("network=Visa window does not cover network=visa")
	}
	bad := "health:\n  maintenance:\n    - psp: psp-a\n      start: tomorrow\n"
	root.Health = DefaultConfiguration()
	if err := config.LoadBytes("health.yaml", []byte(bad), nil, &root); err == nil || !strings.Contains(err.Error(), "health.maintenance[0].start") {
		t.Errorf("a start that is no time: %v", err)
	}
}
