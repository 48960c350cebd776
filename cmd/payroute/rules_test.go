package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payroute/payroute/router"
)

// TestExampleConfigurationsPassRulesCheck keeps the example configurations
// true: every one passes `payroute rules check` without a problem.
func TestExampleConfigurationsPassRulesCheck(t *testing.T) {
	files, err := filepath.Glob("../../deploy/examples/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("examples: %v %v", files, err)
	}
	files = append(files, "../../deploy/payroute.example.yaml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out bytes.Buffer
			if err := rulesCheckCommand([]string{f}, &out); err != nil {
				t.Fatalf("rules check: %v\n%s", err, out.String())
			}
			if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 1 || !strings.HasSuffix(lines[0], ": ok") {
				t.Fatalf("output:\n%s", out.String())
			}
		})
	}
}

// TestRulesCheckSeedOrder: seed 003's rules in the seed's order are refused,
// by `rules check` and by the processor's configuration loader, with the
// same message naming the rule and the line.
func TestRulesCheckSeedOrder(t *testing.T) {
	path := "../../router/testdata/payrails-seed-order.yaml"
	want := path + ":19: router.rules[2] (dach-eur-braintree): unreachable: every payment it matches is matched first by rules[1] (eur-gbp-stripe, line 15)"
	var out bytes.Buffer
	err := rulesCheckCommand([]string{path}, &out)
	if err == nil || err.Error() != path+": 1 error(s), 0 warning(s)" {
		t.Fatalf("rules check: %v", err)
	}
	if got := strings.TrimSpace(out.String()); got != want {
		t.Fatalf("output:\n got %s\nwant %s", got, want)
	}
	if _, err := LoadConfiguration(path); err == nil || err.Error() != want {
		t.Fatalf("LoadConfiguration (the processor's start): %v", err)
	}
}

// TestRulesCheckBroken: every kind of problem is reported, each on its line,
// and warnings are printed without failing on their own.
func TestRulesCheckBroken(t *testing.T) {
	path := "../../router/testdata/broken.yaml"
	var out bytes.Buffer
	err := rulesCheckCommand([]string{path}, &out)
	if err == nil || !strings.Contains(err.Error(), "9 error(s), 2 warning(s)") {
		t.Fatalf("rules check: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`broken.yaml:17: router.rules[0].when[1] (eur-and-usd): contradictory: currency equals "USD" and currency equals "EUR" (when[0]) cannot both hold`,
		`broken.yaml:22: router.rules[1].candidates[0].psp (to-worldpay): unknown PSP "worldpay"`,
		`broken.yaml:24: router.rules[2].split (uneven): percentages sum to 90, want 100`,
		`broken.yaml:29: router.rules[4] (after-all): unreachable: every payment it matches is matched first by rules[3] (catch-all, line 27)`,
		`warning: ../../router/testdata/broken.yaml:8: router.routes.main[1]: PSP "reserved" is excluded from failover`,
		`broken.yaml:40: router.retry_rules[0].when[0].value (hard-declines): class "hard_decline" is never retried`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRulesCheckLocatesLoaderErrors: problems the configuration loader finds
// (validation, unknown keys) are located too.
func TestRulesCheckLocatesLoaderErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	doc := "router:\n  version: x\n  max_attempts: 3\n  rules:\n    - {id: r, wen: []}\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, ps, err := checkConfigFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(problemLines(ps), "\n")
	if want := path + ":5: router.rules[0].wen: unknown key"; got != want {
		t.Fatalf("decoding:\n got %s\nwant %s", got, want)
	}
	doc = "router:\n  version: x\n  max_attempts: 3\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, ps, _ = checkConfigFile(path, nil)
	got = strings.Join(problemLines(ps), "\n")
	if want := path + ":3: router.max_attempts: must be >= max_ranks (5), got 3: failover alone may need that many attempts"; got != want {
		t.Fatalf("validation:\n got %s\nwant %s", got, want)
	}
	if _, _, err := checkConfigFile(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Fatal("a missing file passed")
	}
	var out bytes.Buffer
	if err := rulesCheckCommand(nil, &out); err == nil {
		t.Fatal("rules check without a file passed")
	}
}

func problemLines(ps router.Problems) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Error())
	}
	return out
}

func TestExplainCommand(t *testing.T) {
	var out bytes.Buffer
	err := explain("../../deploy/examples/payrails-rules.yaml", "../../deploy/examples/events/dach-eur.json", false, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"config version payrails-2024-06-01 (../../deploy/examples/payrails-rules.yaml)",
		`rule 1 visa-adyen (line 31): no match: payment_method.network is "mastercard", wanted payment_method.network equals "visa" (when[0])`,
		"rule 2 dach-eur-braintree (line 41): match",
		"decision: rule dach-eur-braintree, config version payrails-2024-06-01\n  1. braintree (card)\n  2. adyen (card)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// --json, reading the event from standard input.
	event, err := os.ReadFile("../../deploy/examples/events/visa-usd.json")
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := explain("../../deploy/examples/recurly-gateway-sets.yaml", "-", true, bytes.NewReader(event), &out); err != nil {
		t.Fatal(err)
	}
	var ex router.Explanation
	if err := json.Unmarshal(out.Bytes(), &ex); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if ex.Decision == nil || ex.Decision.RuleID != "by-card-and-currency" || ex.GatewaySet == nil || ex.GatewaySet.Network != "visa" ||
		ex.Decision.Candidates[0].PSP != "cardconnect" || ex.Rules[0].Failed == nil || ex.Rules[0].Failed.Present {
		t.Fatalf("explanation: %s", out.String())
	}

	// An event the processor would reject, and an invalid configuration.
	bad := strings.Replace(string(event), `"USD"`, `"usd"`, 1)
	if err := explain("../../deploy/examples/recurly-gateway-sets.yaml", "-", false, strings.NewReader(bad), &out); err == nil || !strings.Contains(err.Error(), "the processor would reject it") {
		t.Fatalf("invalid event: %v", err)
	}
	if err := explain("../../router/testdata/payrails-seed-order.yaml", "-", false, bytes.NewReader(event), &out); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("invalid configuration: %v", err)
	}
}
