package simulator

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/payroute/payroute/psp"
	"gopkg.in/yaml.v3"
)

// DefaultListen is the simulator's default address; psp.DefaultSimulatorEndpoint points at it.
const DefaultListen = "127.0.0.1:8090"

// DefaultMaxHold bounds how long an injected timeout holds a request.
const DefaultMaxHold = 30 * time.Second

// MaxMaxHold is the largest allowed Configuration.MaxHold.
const MaxMaxHold = 5 * time.Minute

// Configuration is one simulator server hosting any number of simulated PSP accounts.
type Configuration struct {
	// Enabled runs the simulator inside `payroute run` (the embedded default).
	// Set it to false in production; `payroute psp-sim` ignores it.
	Enabled bool `yaml:"enabled"`
	// Listen is the TCP address to listen on, e.g. "127.0.0.1:8090";
	// "127.0.0.1:0" picks a free port (see Server.Addr).
	Listen string `yaml:"listen"`
	// Seed seeds the random draws (errors, timeouts, declines, jitter) so a
	// run is reproducible; each PSP gets its own stream derived from Seed and
	// its name. Zero means a time-based seed.
	Seed uint64 `yaml:"seed"`
	// MaxHold bounds an injected timeout: the request is held until the
	// client gives up, the server stops, or MaxHold passes. Zero means
	// DefaultMaxHold; at most MaxMaxHold.
	MaxHold time.Duration `yaml:"max_hold"`
	// PSPs maps a simulated PSP name (the {psp} in the URL path) to its
	// behaviour. A profile may be written as just a preset name:
	//   psps: {psp-a: stable, psp-b: {preset: flaky, error_rate: 0.5}}
	PSPs map[string]Profile `yaml:"psps"`
}

// Profile is how one simulated PSP behaves. Rates are independent shares of
// new requests (a request whose idempotency key was not seen before) and
// must add up to at most 1: one draw per request picks error, rate limit,
// timeout, decline or normal processing, in that order.
type Profile struct {
	// Preset names a built-in profile (see Presets) to start from. Non-zero
	// fields below override it; a field cannot be overridden back to zero
	// (write the profile without a preset for that).
	Preset string `yaml:"preset"`
	// Latency is the base response time of every request.
	Latency time.Duration `yaml:"latency"`
	// LatencyJitter adds a uniformly drawn extra delay in [0, LatencyJitter].
	LatencyJitter time.Duration `yaml:"latency_jitter"`
	// TailRate is the share of requests that take TailLatency more (slow tail).
	TailRate float64 `yaml:"tail_rate"`
	// TailLatency is the extra delay of a tail request.
	TailLatency time.Duration `yaml:"tail_latency"`
	// ErrorRate is the share of requests answered with ErrorStatus; such a
	// request is not processed.
	ErrorRate float64 `yaml:"error_rate"`
	// ErrorStatus is the HTTP status of an injected error, 500-599; zero
	// means 503 (service_unavailable). 500 answers internal_error.
	ErrorStatus int `yaml:"error_status"`
	// RateLimitRate is the share of requests answered 429 with Retry-After;
	// such a request is not processed.
	RateLimitRate float64 `yaml:"rate_limit_rate"`
	// RetryAfter is the advice sent with a 429. Zero means 1s.
	RetryAfter time.Duration `yaml:"retry_after"`
	// TimeoutRate is the share of requests that are processed and recorded
	// and then held past the client's timeout (see Configuration.MaxHold):
	// the client sees in_doubt and a status inquiry finds the result.
	TimeoutRate float64 `yaml:"timeout_rate"`
	// DeclineRate is the share of requests with an approving token that are
	// declined with a drawn issuer decline (insufficient_funds,
	// do_not_honor, expired_card or issuer_unavailable).
	DeclineRate float64 `yaml:"decline_rate"`
	// DeclineRetryAfter is the retry advice of soft declines. Zero means 1h.
	DeclineRetryAfter time.Duration `yaml:"decline_retry_after"`
	// Outages are windows, as offsets from server start, in which every
	// request (payments and status inquiries) is answered 503.
	Outages []Window `yaml:"outages"`
	// AlwaysApprove approves every request whatever its token, unless the
	// PSP is down (Orchestra's test-success gateway).
	AlwaysApprove bool `yaml:"always_approve"`
}

// Window is an outage from Start to End after server start. End zero means
// the outage never ends.
type Window struct {
	Start time.Duration `yaml:"start"`
	End   time.Duration `yaml:"end"`
}

// contains reports whether the offset since server start lies in the window.
func (w Window) contains(since time.Duration) bool {
	return since >= w.Start && (w.End == 0 || since < w.End)
}

// UnmarshalYAML accepts either a mapping or a bare preset name.
func (p *Profile) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		*p = Profile{Preset: node.Value}
		return nil
	}
	type plain Profile
	var v plain
	if err := node.Decode(&v); err != nil {
		return err
	}
	*p = Profile(v)
	return nil
}

var presets = map[string]Profile{
	// stable: always up, only issuer behaviour from test tokens.
	"stable": {Latency: 20 * time.Millisecond, LatencyJitter: 10 * time.Millisecond},
	// flaky: one in five requests fails, plus some rate limits, timeouts and declines.
	"flaky": {Latency: 40 * time.Millisecond, LatencyJitter: 60 * time.Millisecond,
		ErrorRate: 0.2, RateLimitRate: 0.03, TimeoutRate: 0.02, DeclineRate: 0.05},
	// slow-tail: fast on average, one in twenty requests takes two seconds more.
	"slow-tail": {Latency: 30 * time.Millisecond, LatencyJitter: 20 * time.Millisecond,
		TailRate: 0.05, TailLatency: 2 * time.Second},
	// outage: stable, then down from 30s to 90s after start (primary goes down mid-run).
	"outage": {Latency: 20 * time.Millisecond, LatencyJitter: 10 * time.Millisecond,
		Outages: []Window{{Start: 30 * time.Second, End: 90 * time.Second}}},
	// rate-limited: half the requests answered 429 with Retry-After: 1.
	"rate-limited": {Latency: 20 * time.Millisecond, RateLimitRate: 0.5, RetryAfter: time.Second},
	// test-failure: Orchestra's failing mock gateway, every payment 503.
	"test-failure": {Latency: 5 * time.Millisecond, ErrorRate: 1, ErrorStatus: 503},
	// test-success: Orchestra's succeeding mock gateway, every payment approved.
	"test-success": {Latency: 5 * time.Millisecond, AlwaysApprove: true},
}

// Presets lists the built-in profile names, sorted.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns a copy of the named built-in profile.
func Preset(name string) (Profile, bool) {
	p, ok := presets[name]
	if !ok {
		return Profile{}, false
	}
	p.Outages = append([]Window(nil), p.Outages...)
	p.Preset = name
	return p, true
}

// DefaultConfiguration hosts the PSPs of psp.DefaultConfiguration on
// DefaultListen: psp-a and psp-b stable, psp-c slow-tail, and Orchestra's
// test-failure and test-success gateways.
func DefaultConfiguration() Configuration {
	return Configuration{
		Enabled: true,
		Listen:  DefaultListen,
		MaxHold: DefaultMaxHold,
		PSPs: map[string]Profile{
			"psp-a":        {Preset: "stable"},
			"psp-b":        {Preset: "stable"},
			"psp-c":        {Preset: "slow-tail"},
			"test-failure": {Preset: "test-failure"},
			"test-success": {Preset: "test-success"},
		},
	}
}

// Resolve merges the profile onto its preset and fills defaults
// (ErrorStatus 503, RetryAfter 1s, DeclineRetryAfter 1h).
func (p Profile) Resolve() (Profile, error) {
	r := Profile{}
	if p.Preset != "" {
		base, ok := Preset(p.Preset)
		if !ok {
			return Profile{}, fmt.Errorf("preset: unknown preset %q (known: %s)", p.Preset, strings.Join(Presets(), ", "))
		}
		r = base
	}
	if p.Latency != 0 {
		r.Latency = p.Latency
	}
	if p.LatencyJitter != 0 {
		r.LatencyJitter = p.LatencyJitter
	}
	if p.TailRate != 0 {
		r.TailRate = p.TailRate
	}
	if p.TailLatency != 0 {
		r.TailLatency = p.TailLatency
	}
	if p.ErrorRate != 0 {
		r.ErrorRate = p.ErrorRate
	}
	if p.ErrorStatus != 0 {
		r.ErrorStatus = p.ErrorStatus
	}
	if p.RateLimitRate != 0 {
		r.RateLimitRate = p.RateLimitRate
	}
	if p.RetryAfter != 0 {
		r.RetryAfter = p.RetryAfter
	}
	if p.TimeoutRate != 0 {
		r.TimeoutRate = p.TimeoutRate
	}
	if p.DeclineRate != 0 {
		r.DeclineRate = p.DeclineRate
	}
	if p.DeclineRetryAfter != 0 {
		r.DeclineRetryAfter = p.DeclineRetryAfter
	}
	if len(p.Outages) > 0 {
		r.Outages = append([]Window(nil), p.Outages...)
	}
	if p.AlwaysApprove {
		r.AlwaysApprove = true
	}
	if r.ErrorStatus == 0 {
		r.ErrorStatus = 503
	}
	if r.RetryAfter == 0 {
		r.RetryAfter = time.Second
	}
	if r.DeclineRetryAfter == 0 {
		r.DeclineRetryAfter = time.Hour
	}
	return r, nil
}

// validate checks a resolved profile; errors name the field.
func (p Profile) validate() []error {
	var errs []error
	rate := func(field string, v float64) {
		if !(v >= 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("%s: must be within [0,1], got %v", field, v))
		}
	}
	nonNeg := func(field string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", field))
		}
	}
	nonNeg("latency", p.Latency)
	nonNeg("latency_jitter", p.LatencyJitter)
	nonNeg("tail_latency", p.TailLatency)
	nonNeg("retry_after", p.RetryAfter)
	nonNeg("decline_retry_after", p.DeclineRetryAfter)
	rate("tail_rate", p.TailRate)
	rate("error_rate", p.ErrorRate)
	rate("rate_limit_rate", p.RateLimitRate)
	rate("timeout_rate", p.TimeoutRate)
	rate("decline_rate", p.DeclineRate)
	if sum := p.ErrorRate + p.RateLimitRate + p.TimeoutRate + p.DeclineRate; sum > 1+1e-9 {
		errs = append(errs, fmt.Errorf("error_rate+rate_limit_rate+timeout_rate+decline_rate: must not exceed 1, got %v", sum))
	}
	if p.ErrorStatus < 500 || p.ErrorStatus > 599 {
		errs = append(errs, fmt.Errorf("error_status: must be within [500,599], got %d", p.ErrorStatus))
	}
	for i, w := range p.Outages {
		if w.Start < 0 {
			errs = append(errs, fmt.Errorf("outages[%d].start: must not be negative", i))
		}
		if w.End != 0 && w.End <= w.Start {
			errs = append(errs, fmt.Errorf("outages[%d].end: must be after start (or 0 for never)", i))
		}
	}
	return errs
}

// Validate checks the configuration and returns every problem, each naming
// its key (e.g. "psps.psp-a.error_rate: must be within [0,1], got 2").
func (c Configuration) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: required (e.g. 127.0.0.1:0)"))
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %v", err))
	}
	if c.MaxHold < 0 || c.MaxHold > MaxMaxHold {
		errs = append(errs, fmt.Errorf("max_hold: must be within [0,%s]", MaxMaxHold))
	}
	if len(c.PSPs) == 0 {
		errs = append(errs, errors.New("psps: at least one PSP is required"))
	}
	names := make([]string, 0, len(c.PSPs))
	for n := range c.PSPs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		key := "psps." + name
		if err := psp.CheckName(name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		r, err := c.PSPs[name].Resolve()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%w", key, err))
			continue
		}
		for _, e := range r.validate() {
			errs = append(errs, fmt.Errorf("%s.%w", key, e))
		}
	}
	return errors.Join(errs...)
}
