package router_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// versioned is a configuration whose every payment goes to psp, with a
// retry rule sending PSP errors to retryPSP.
func versioned(version, psp, retryPSP string) router.Configuration {
	cfg := router.DefaultConfiguration()
	cfg.Version = version
	cfg.Routes = map[string][]router.Candidate{"main": {{PSP: psp}, {PSP: "psp-c"}}}
	cfg.DefaultRoute = "main"
	cfg.RetryRules = []router.RetryRule{{ID: "to-" + retryPSP, When: []router.Condition{cond("class", "equals", "psp_error")}, Action: "psp", PSP: retryPSP}}
	return cfg
}

func TestHolderSwap(t *testing.T) {
	r, err := router.New(versioned("v1", "psp-a", "psp-b"), knownPSPs, router.ExcludeFromFailover("test-failure"))
	if err != nil {
		t.Fatal(err)
	}
	r = r.WithRules(eurRules{route: "main"})
	h := router.NewHolder(r)
	if h.Current() != r {
		t.Fatal("Current is not the initial router")
	}
	inFlight, _ := h.Current().Route(event())

	// A new version applies to new payments only.
	if err := h.Swap(versioned("v2", "psp-b", "psp-c")); err != nil {
		t.Fatalf("Swap: %v", err)
	}
	next, _ := h.Current().Route(event())
	if inFlight.ConfigVersion != "v1" || inFlight.Candidates[0].PSP != "psp-a" || next.ConfigVersion != "v2" || next.Candidates[0].PSP != "psp-b" {
		t.Fatalf("in flight %+v, new %+v", inFlight, next)
	}
	// The installed RuleSet carries over (it decided both: rule:eur).
	if next.RuleID != "rule:eur" {
		t.Fatalf("rule set lost in the swap: %+v", next)
	}
	// Retry rules of the version the payment started with.
	fail := router.RetryInput{Class: schemas.ClassPSPError, AttemptNumber: 1, Decision: inFlight, Rank: 1}
	if a := h.RetryAction(fail); a.PSP != "psp-b" || a.ConfigVersion != "v1" {
		t.Fatalf("in-flight retry: %+v", a)
	}
	fail.Decision = next
	if a := h.RetryAction(fail); a.PSP != "psp-c" || a.ConfigVersion != "v2" {
		t.Fatalf("new retry: %+v", a)
	}
	if old, ok := h.Version("v1"); !ok || old != r {
		t.Fatalf("Version(v1) = %v, %v", old, ok)
	}
	if cur, ok := h.Version("v9"); ok || cur != h.Current() {
		t.Fatalf("Version(v9) = %v, %v", cur, ok)
	}

	// An invalid configuration is refused with its problems; v2 stays.
	bad := versioned("v3", "worldpay", "psp-c")
	err = h.Swap(bad)
	if err == nil || !strings.Contains(err.Error(), `router.routes.main[0].psp: unknown PSP "worldpay"`) || h.Current().Version() != "v2" {
		t.Fatalf("Swap(bad) = %v; current %s", err, h.Current().Version())
	}
	// The exclusions of the first router carry over.
	excl := versioned("v3", "psp-a", "psp-c")
	excl.RetryRules[0].PSP = "test-failure"
	if err := h.Swap(excl); err == nil || !strings.Contains(err.Error(), "excluded from failover") {
		t.Fatalf("Swap(retry to excluded) = %v", err)
	}

	// A version means one configuration.
	cur := h.Current()
	if err := h.Swap(versioned("v2", "psp-b", "psp-c")); err != nil || h.Current() != cur {
		t.Fatalf("identical Swap: %v, router replaced: %v", err, h.Current() != cur)
	}
	if err := h.Swap(versioned("v2", "psp-c", "psp-c")); err == nil || !strings.Contains(err.Error(), `version "v2" is already in use`) {
		t.Fatalf("Swap(v2 changed) = %v", err)
	}
	if err := h.Swap(versioned("v1", "psp-c", "psp-c")); err == nil || !strings.Contains(err.Error(), `version "v1" is already in use`) {
		t.Fatalf("Swap(retained v1 changed) = %v", err)
	}
	// Going back to a retained version with its configuration is allowed.
	if err := h.Swap(versioned("v1", "psp-a", "psp-b")); err != nil || h.Current().Version() != "v1" {
		t.Fatalf("Swap(back to v1) = %v", err)
	}

	// Old versions are retained up to a bound.
	for i := 0; i < 20; i++ {
		if err := h.Swap(versioned(fmt.Sprintf("w%d", i), "psp-a", "psp-b")); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := h.Version("w3"); !ok {
		t.Fatal("w3 not retained")
	}
	if _, ok := h.Version("w2"); ok {
		t.Fatal("w2 retained beyond the bound")
	}
}

// TestHolderConcurrent routes while versions are swapped in: every
// decision is consistent with the version it records. Run with -race.
func TestHolderConcurrent(t *testing.T) {
	psps := []string{"psp-a", "psp-b"}
	r, err := router.New(versioned("v0", psps[0], "psp-c"), knownPSPs)
	if err != nil {
		t.Fatal(err)
	}
	h := router.NewHolder(r)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := h.Current().Route(event())
				if err != nil {
					t.Error(err)
					return
				}
				var n int
				fmt.Sscanf(d.ConfigVersion, "v%d", &n)
				if d.Candidates[0].PSP != psps[n%2] {
					t.Errorf("version %s routed to %s", d.ConfigVersion, d.Candidates[0].PSP)
					return
				}
			}
		}()
	}
	for i := 1; i <= 50; i++ {
		if err := h.Swap(versioned(fmt.Sprintf("v%d", i), psps[i%2], "psp-c")); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestHolderReload reloads the router section of a configuration file.
func TestHolderReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payroute.yaml")
	write := func(version, psp string) { t.Helper(); writeRouting(t, path, version, psp) }
	h := holderFromFile(t, path, "v1", "psp-a")
	write("v2", "psp-b")
	if err := h.Reload(path); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if d, _ := h.Current().Route(event()); d.ConfigVersion != "v2" || d.Candidates[0].PSP != "psp-b" {
		t.Fatalf("after reload: %+v", d)
	}
	write("v3", "worldpay")
	err := h.Reload(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+`:6: router.routes.main[0].psp: unknown PSP "worldpay"`) {
		t.Fatalf("Reload(bad) = %v", err)
	}
	if h.Current().Version() != "v2" {
		t.Fatalf("a failed reload replaced the router: %s", h.Current().Version())
	}
	if err := h.Reload(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("Reload(missing file) succeeded")
	}
}

// writeRouting writes a payroute configuration file at path whose routing
// is version, sending every payment to psp.
func writeRouting(t *testing.T, path, version, psp string) {
	t.Helper()
	doc := fmt.Sprintf(`kafka: {partitions: 3}   # other sections are left to the start-up loader
router:
  version: %s
  default_route: main
  routes:
    main: [{psp: %s}]
psps:
  accounts: {}
`, version, psp)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
}

// holderFromFile writes a configuration file at path (writeRouting) and
// returns a Holder started from it, as payroute run starts one.
func holderFromFile(t *testing.T, path, version, psp string) *router.Holder {
	t.Helper()
	writeRouting(t, path, version, psp)
	cfg, err := router.LoadFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(cfg, knownPSPs)
	if err != nil {
		t.Fatal(err)
	}
	return router.NewHolder(r)
}
