package main

import (
	"strings"
	"testing"

	"github.com/payroute/payroute/config"
)

// TestExampleConfigurationLoads keeps deploy/payroute.example.yaml true: it
// must load and validate, and its routes must name configured PSPs.
func TestExampleConfigurationLoads(t *testing.T) {
	cfg, err := LoadConfiguration("../../deploy/payroute.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Router.DefaultRoute != "cards" || len(cfg.Router.Routes["cards"]) != 2 {
		t.Errorf("example routes not loaded: %+v", cfg.Router)
	}
	for name, route := range cfg.Router.Routes {
		for _, c := range route {
			if _, ok := cfg.PSPs.Accounts[c.PSP]; !ok {
				t.Errorf("route %s names %s, which is not in psps.accounts", name, c.PSP)
			}
		}
	}
	out, err := config.Dump(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "example-v1") {
		t.Errorf("dump lacks the router version:\n%s", out)
	}
}
