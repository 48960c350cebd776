// Package refdocs declares, with their doc comments, the configuration
// types of config's reference test (reference_test.go declares the same
// types for the test to run on): Reference reads docs from source.
package refdocs

import "time"

type refRoot struct {
	// Server is where
	// it listens.
	Server refServer `yaml:"server"`
	// Accounts by name.
	Accounts map[string]refAccount `yaml:"accounts"`
	// Rules in order.
	Rules []refRule `yaml:"rules"`
}

type refServer struct {
	// Listen is host:port.
	Listen string `yaml:"listen"`
	// Timeouts are tried in turn.
	Timeouts []time.Duration `yaml:"timeouts"`
	// Retries is how often.
	Retries int    `yaml:"retries"`
	Token   string `yaml:"token" secret:"true"` // Token authenticates.
}

type refAccount struct {
	// Kind of account.
	Kind string `yaml:"kind"`
}

type refRule struct {
	// ID names the rule.
	ID        string `yaml:"id"`
	RefTarget `yaml:",inline"`
}

type RefTarget struct {
	// Route is where matching payments go.
	Route string `yaml:"route"`
}
