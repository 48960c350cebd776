package health

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/payroute/payroute/config"
)

// Scope dimensions a PSP's health can be narrowed to, besides the whole
// account ("*", always tracked).
const (
	ScopeCurrency = "currency"
	ScopeNetwork  = "network"
)

// WholeAccount is the scope of a PSP account as a whole.
const WholeAccount = "*"

// Configuration tunes outage detection, probing and planned maintenance.
// Every instance of one deployment must use the same values: instances apply
// timed transitions (cool-off, maintenance) on their own, and agree only
// because they compute them from the same records with the same settings.
type Configuration struct {
	// Window is the length of the rolling window over which a PSP's failure
	// rate and slow-call rate are computed. Default 10s.
	Window time.Duration `yaml:"window"`
	// Bucket is the granularity of the window: the window slides one bucket
	// at a time. Window must be a whole number of buckets, at most 600.
	// Default 1s.
	Bucket time.Duration `yaml:"bucket"`
	// MinCalls is the fewest calls in the window before the failure and
	// slow-call rates can mark a PSP down, so that two failures out of three
	// calls at night never do. Default 20.
	MinCalls int `yaml:"min_calls"`
	// FailureRate marks a PSP down when the share of PSP-caused failures
	// (psp_error, rate_limited, in_doubt) in the window reaches it. Declines,
	// customer errors and invalid requests are calls but never failures.
	// A fraction in (0,1]. Default 0.5.
	FailureRate float64 `yaml:"failure_rate"`
	// ConsecutiveFailures marks a PSP down after that many PSP-caused
	// failures in a row, whatever the window says: a hard outage is caught
	// in a fraction of a second at volume instead of waiting for the window
	// to fill with failures. 0 disables it. Default 20.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// SlowCall is the latency over which a call is slow, whatever its
	// outcome. Default 2s.
	SlowCall time.Duration `yaml:"slow_call"`
	// SlowCallRate marks a PSP down when the share of slow calls in the
	// window reaches it (with at least MinCalls calls). A fraction in (0,1];
	// 1 means only when every call is slow. Default 0.8.
	SlowCallRate float64 `yaml:"slow_call_rate"`
	// CoolOff is how long a PSP stays down before a share of traffic probes
	// it. Default 5s.
	CoolOff time.Duration `yaml:"cool_off"`
	// ProbeShare is the share of payments that keep a probing PSP at its
	// configured rank, chosen by a hash of the payment id so that a
	// redelivered payment makes the same choice. The others treat it as
	// down. A fraction in (0,1]. Default 0.05.
	ProbeShare float64 `yaml:"probe_share"`
	// ProbeSuccesses is how many calls of a probing PSP must succeed (or be
	// declined: a decline is an answer) for it to be healthy again.
	// Default 10.
	ProbeSuccesses int `yaml:"probe_successes"`
	// ProbeFailures is how many PSP-caused failures or slow calls of a
	// probing PSP send it back down for another cool-off. Default 3.
	ProbeFailures int `yaml:"probe_failures"`
	// Scopes are the dimensions health is also tracked by, besides the
	// whole account: "currency" and/or "network". A scope is judged only
	// while its whole account is healthy, so one outage gives one
	// transition. Default [currency, network].
	Scopes []string `yaml:"scopes"`
	// Maintenance lists planned downtime: within a window the PSP (or one
	// scope of it) is down with reason "maintenance", and probed afterwards.
	Maintenance []MaintenanceWindow `yaml:"maintenance"`
	// InstanceID names this instance in the transitions it publishes. It
	// must be unique among running instances. Empty: the host name plus a
	// random suffix.
	InstanceID string `yaml:"instance_id"`
}

// MaintenanceWindow is planned downtime of one PSP account.
type MaintenanceWindow struct {
	// PSP is the account name, as configured under psps.accounts.
	PSP string `yaml:"psp"`
	// Scope narrows the window: empty or "*" for the whole account,
	// "currency=EUR" or "network=visa" for a part of it.
	Scope string `yaml:"scope"`
	// Start is when the downtime starts, RFC 3339 (2026-11-20T02:00:00Z).
	Start time.Time `yaml:"start"`
	// End is when it ends, RFC 3339, after Start.
	End time.Time `yaml:"end"`
}

// DefaultConfiguration detects an outage within seconds at a few payments
// per second and probes recovery every five seconds.
func DefaultConfiguration() Configuration {
	return Configuration{
		Window:              10 * time.Second,
		Bucket:              time.Second,
		MinCalls:            20,
		FailureRate:         0.5,
		ConsecutiveFailures: 20,
		SlowCall:            2 * time.Second,
		SlowCallRate:        0.8,
		CoolOff:             5 * time.Second,
		ProbeShare:          0.05,
		ProbeSuccesses:      10,
		ProbeFailures:       3,
		Scopes:              []string{ScopeCurrency, ScopeNetwork},
	}
}

// maxBuckets bounds the window's ring.
const maxBuckets = 600

// Validate checks the configuration; each error names its key.
func (c Configuration) Validate() error {
	var errs []error
	fraction := func(key string, v float64) {
		if !(v > 0 && v <= 1) {
			errs = append(errs, config.Errorf(key, "must be within (0,1], got %v", v))
		}
	}
	if c.Bucket <= 0 {
		errs = append(errs, config.Errorf("bucket", "must be > 0"))
	}
	switch {
	case c.Window <= 0:
		errs = append(errs, config.Errorf("window", "must be > 0"))
	case c.Bucket > 0 && c.Window%c.Bucket != 0:
		errs = append(errs, config.Errorf("window", "must be a whole number of buckets (bucket is %s)", c.Bucket))
	case c.Bucket > 0 && c.Window/c.Bucket > maxBuckets:
		errs = append(errs, config.Errorf("window", "must be at most %d buckets (bucket is %s)", maxBuckets, c.Bucket))
	}
	if c.MinCalls < 1 {
		errs = append(errs, config.Errorf("min_calls", "must be >= 1"))
	}
	fraction("failure_rate", c.FailureRate)
	fraction("slow_call_rate", c.SlowCallRate)
	fraction("probe_share", c.ProbeShare)
	if c.ConsecutiveFailures < 0 {
		errs = append(errs, config.Errorf("consecutive_failures", "must be >= 0 (0 disables it)"))
	}
	if c.SlowCall <= 0 {
		errs = append(errs, config.Errorf("slow_call", "must be > 0"))
	}
	if c.CoolOff <= 0 {
		errs = append(errs, config.Errorf("cool_off", "must be > 0"))
	}
	if c.ProbeSuccesses < 1 {
		errs = append(errs, config.Errorf("probe_successes", "must be >= 1"))
	}
	if c.ProbeFailures < 1 {
		errs = append(errs, config.Errorf("probe_failures", "must be >= 1"))
	}
	seen := map[string]bool{}
	for i, s := range c.Scopes {
		key := fmt.Sprintf("scopes[%d]", i)
		switch {
		case s != ScopeCurrency && s != ScopeNetwork:
			errs = append(errs, config.Errorf(key, "unknown scope %q (known: %s, %s)", s, ScopeCurrency, ScopeNetwork))
		case seen[s]:
			errs = append(errs, config.Errorf(key, "%q is listed twice", s))
		}
		seen[s] = true
	}
	for i, w := range c.Maintenance {
		key := fmt.Sprintf("maintenance[%d]", i)
		if w.PSP == "" {
			errs = append(errs, config.Errorf(key+".psp", "must not be empty"))
		}
		if _, err := normalizeScope(w.Scope); err != nil {
			errs = append(errs, config.Errorf(key+".scope", "%v", err))
		}
		if w.Start.IsZero() {
			errs = append(errs, config.Errorf(key+".start", "must be set (RFC 3339, e.g. 2026-11-20T02:00:00Z)"))
		}
		if !w.End.After(w.Start) {
			errs = append(errs, config.Errorf(key+".end", "must be after start"))
		}
	}
	if strings.ContainsAny(c.InstanceID, " \t\n") {
		errs = append(errs, config.Errorf("instance_id", "must not contain white space"))
	}
	return errors.Join(errs...)
}

// tracks reports whether health is tracked by the scope dimension.
func (c Configuration) tracks(dimension string) bool {
	for _, s := range c.Scopes {
		if s == dimension {
			return true
		}
	}
	return false
}
