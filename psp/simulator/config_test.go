package simulator

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"gopkg.in/yaml.v3"
)

func TestDefaultConfigurationAndPresetsValidate(t *testing.T) {
	if err := DefaultConfiguration().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, name := range Presets() {
		cfg := Configuration{Listen: DefaultListen, PSPs: map[string]Profile{"x": {Preset: name}}}
		if err := cfg.Validate(); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
	want := []string{"flaky", "outage", "rate-limited", "slow-tail", "stable", "test-failure", "test-success"}
	if got := strings.Join(Presets(), ","); got != strings.Join(want, ",") {
		t.Errorf("Presets = %s", got)
	}
}

// The default psp registry points at the default simulator and names its PSPs.
func TestDefaultsMatchRegistry(t *testing.T) {
	if psp.DefaultSimulatorEndpoint != "http://"+DefaultListen {
		t.Fatalf("psp.DefaultSimulatorEndpoint %s != %s", psp.DefaultSimulatorEndpoint, DefaultListen)
	}
	sim := DefaultConfiguration()
	for name, a := range psp.DefaultConfiguration().Accounts {
		if _, ok := sim.PSPs[name]; !ok || a.Kind != Kind {
			t.Errorf("default account %s (%s) not hosted by the default simulator", name, a.Kind)
		}
	}
	if _, err := psp.NewRegistry(psp.DefaultConfiguration()); err != nil {
		t.Fatalf("default registry: %v", err)
	}
}

func TestValidationNamesKeys(t *testing.T) {
	cfg := Configuration{
		Listen:  "nope",
		MaxHold: time.Hour,
		PSPs: map[string]Profile{
			"psp-a":   {ErrorRate: 2},
			"psp-b":   {ErrorRate: 0.6, TimeoutRate: 0.6},
			"psp-c":   {Preset: "wobbly"},
			"psp-d":   {Latency: -time.Second, ErrorStatus: 404, Outages: []Window{{Start: 5 * time.Second, End: time.Second}}},
			"bad|one": {},
		},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"listen: ",
		"max_hold: must be within",
		"psps.psp-a.error_rate: must be within [0,1]",
		"psps.psp-b.error_rate+rate_limit_rate+timeout_rate+decline_rate: must not exceed 1",
		`psps.psp-c.preset: unknown preset "wobbly"`,
		"psps.psp-d.latency: must not be negative",
		"psps.psp-d.error_status: must be within [500,599]",
		"psps.psp-d.outages[0].end: must be after start",
		"psps.bad|one: invalid name",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if err := (Configuration{Listen: "127.0.0.1:0"}).Validate(); err == nil || !strings.Contains(err.Error(), "psps: at least one") {
		t.Errorf("empty psps: %v", err)
	}
	if _, err := New(cfg); err == nil {
		t.Error("New accepted an invalid configuration")
	}
}

func TestYAMLDecoding(t *testing.T) {
	const doc = `
listen: 127.0.0.1:9999
seed: 42
max_hold: 10s
psps:
  psp-a: stable
  psp-b:
    preset: flaky
    error_rate: 0.5
    latency: 5ms
  psp-c:
    latency: 1ms
    latency_jitter: 2ms
    timeout_rate: 0.1
    rate_limit_rate: 0.1
    retry_after: 3s
    decline_rate: 0.1
    decline_retry_after: 1m
    tail_rate: 0.01
    tail_latency: 1s
    error_status: 500
    outages:
      - {start: 30s, end: 1m30s}
  psp-d:
    always_approve: true
`
	var cfg Configuration
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Seed != 42 || cfg.MaxHold != 10*time.Second || cfg.PSPs["psp-a"].Preset != "stable" {
		t.Fatalf("cfg = %+v", cfg)
	}
	b, err := cfg.PSPs["psp-b"].Resolve()
	if err != nil {
		t.Fatal(err)
	}
	flaky, _ := Preset("flaky")
	if b.ErrorRate != 0.5 || b.Latency != 5*time.Millisecond || b.LatencyJitter != flaky.LatencyJitter || b.RateLimitRate != flaky.RateLimitRate {
		t.Fatalf("psp-b resolved = %+v", b)
	}
	c := cfg.PSPs["psp-c"]
	want := Profile{Latency: time.Millisecond, LatencyJitter: 2 * time.Millisecond, TimeoutRate: 0.1, RateLimitRate: 0.1,
		RetryAfter: 3 * time.Second, DeclineRate: 0.1, DeclineRetryAfter: time.Minute, TailRate: 0.01, TailLatency: time.Second,
		ErrorStatus: 500, Outages: []Window{{Start: 30 * time.Second, End: 90 * time.Second}}}
	if c.Latency != want.Latency || c.LatencyJitter != want.LatencyJitter || c.TimeoutRate != want.TimeoutRate ||
		c.RateLimitRate != want.RateLimitRate || c.RetryAfter != want.RetryAfter || c.DeclineRate != want.DeclineRate ||
		c.DeclineRetryAfter != want.DeclineRetryAfter || c.TailRate != want.TailRate || c.TailLatency != want.TailLatency ||
		c.ErrorStatus != want.ErrorStatus || len(c.Outages) != 1 || c.Outages[0] != want.Outages[0] {
		t.Fatalf("psp-c = %+v", c)
	}
	if !cfg.PSPs["psp-d"].AlwaysApprove {
		t.Fatal("always_approve not decoded")
	}
}

func TestRegistryWithSimulatorAccounts(t *testing.T) {
	s := startServer(t, map[string]Profile{"psp-a": {}, "psp-b": {}})
	reg, err := psp.NewRegistry(s.RegistryConfiguration(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(reg.Names(), ","); got != "psp-a,psp-b" {
		t.Fatalf("Names = %s", got)
	}
	c, ok := reg.Get("psp-b")
	if !ok {
		t.Fatal("psp-b missing")
	}
	out := c.Attempt(context.Background(), authorize("reg-1", "psp-b", FailAt("psp-a")))
	if out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("got %+v", out)
	}
	if a, _ := reg.Account("psp-a"); a.Timeout != time.Second || a.Endpoint != s.URL() {
		t.Fatalf("account = %+v", a)
	}

	_, err = psp.NewRegistry(psp.Configuration{Accounts: map[string]psp.Account{"psp-a": {Kind: Kind}}})
	if err == nil || !strings.Contains(err.Error(), "accounts.psp-a: endpoint: required") {
		t.Fatalf("missing endpoint: %v", err)
	}
}

func TestFxModules(t *testing.T) {
	var (
		srv *Server
		reg *psp.Registry
	)
	// Constructors run before OnStart, so the registry needs the address up
	// front: take a free port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(Configuration{Listen: addr, Seed: 3, PSPs: map[string]Profile{"psp-a": {}}}),
		Module,
		fx.Provide(func(s *Server) psp.Configuration { return s.RegistryConfiguration(time.Second) }),
		psp.Module,
		fx.Populate(&srv),
		fx.Populate(&reg),
	)
	app.RequireStart()
	c, ok := reg.Get("psp-a")
	if !ok {
		t.Fatal("registry lacks psp-a")
	}
	if out := c.Attempt(context.Background(), authorize("fx-1", "psp-a", TokenApprove)); out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("got %+v", out)
	}
	app.RequireStop()
	// A fresh connector (no pooled connection) is refused before sending. (A
	// pooled one may have written on a connection the server was closing:
	// in_doubt, see TestStaleConnectionIsNeverPSPError.)
	fresh, err := NewConnector(ConnectorConfig{BaseURL: "http://" + addr, PSP: "psp-a", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if out := fresh.Attempt(context.Background(), authorize("fx-2", "psp-a", TokenApprove)); out.Class != schemas.ClassPSPError {
		t.Fatalf("after stop: %+v", out)
	}
	if srv.Approvals("fx-1") != 1 {
		t.Fatal("ledger lost")
	}
}
