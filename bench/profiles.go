package bench

import (
	"sort"
	"time"

	"github.com/payroute/payroute/psp/simulator"
)

// Profile is a simulated PSP's latency behaviour, with the figures the
// goals are computed from.
type Profile struct {
	// Simulator is the simulator profile of the benchmark's PSP.
	Simulator simulator.Profile
	// Mean is the profile's expected answer time, before the HTTP round
	// trip. Little's law bounds a processor with n calls in flight at
	// n / Mean payments per second; zero (instant) has no such bound.
	Mean time.Duration
	// Slowest is the profile's longest answer; the PSP account timeout must
	// exceed it.
	Slowest time.Duration
	// Description says what the profile is, for the report.
	Description string
}

// profiles are the PSP behaviours a scenario can pick.
//
// heavy-tail: a 50-100 ms body and 2 % of answers 2 s slower, so the 99th
// percentile falls in the tail (p99 ≈ 2.1 s) and the mean is 115 ms.
var profiles = map[string]Profile{
	"instant": {
		Simulator:   simulator.Profile{AlwaysApprove: true},
		Description: "answers at once (the HTTP round trip to the simulator remains, and dominates at high rates)",
	},
	"fixed-100ms": {
		Simulator:   simulator.Profile{Latency: 100 * time.Millisecond, AlwaysApprove: true},
		Mean:        100 * time.Millisecond,
		Slowest:     100 * time.Millisecond,
		Description: "answers after exactly 100 ms",
	},
	"heavy-tail": {
		Simulator: simulator.Profile{Latency: 50 * time.Millisecond, LatencyJitter: 50 * time.Millisecond,
			TailRate: 0.02, TailLatency: 2 * time.Second, AlwaysApprove: true},
		Mean:        75*time.Millisecond + 40*time.Millisecond, // 50 + 100/2 + 2 % of 2 s
		Slowest:     2100 * time.Millisecond,
		Description: "50-100 ms, and 2 % of answers 2 s slower (p99 ≈ 2.1 s, mean 115 ms)",
	},
}

// ProfileNames lists the PSP profiles, sorted.
func ProfileNames() []string {
	out := make([]string, 0, len(profiles))
	for n := range profiles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ProfileOf returns a PSP profile by name.
func ProfileOf(name string) (Profile, bool) {
	p, ok := profiles[name]
	return p, ok
}
