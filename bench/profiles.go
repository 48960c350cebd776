package bench

import (
	"log/slog"
	"sort"
	"time"

	"github.com/payroute/payroute/psp/simulator"
)

// How payroute's connector reaches the simulated PSP (Profile.Transport).
const (
	// TransportInProcess serves every call with the simulator's handler in
	// payroute's own process, through the simulator's in-process transport
	// (simulator.Server.Transport): the connector encodes its request and
	// decodes the answer as over HTTP, but there is no socket, no HTTP
	// framing and no kernel in between. The simulator's CPU and memory
	// (it keeps every payment it answered) count in payroute's.
	TransportInProcess = "in-process"
	// TransportHTTP is a loopback HTTP round trip to a simulator listening
	// in the benchmark's own process (outside payroute's worker).
	TransportHTTP = "loopback HTTP"
)

// Profile is a simulated PSP's latency behaviour, with the figures the
// goals are computed from.
type Profile struct {
	// Simulator is the simulator profile of the benchmark's PSP.
	Simulator simulator.Profile
	// Transport is how payroute reaches the simulator: TransportInProcess
	// or TransportHTTP.
	Transport string
	// Mean is the profile's expected answer time, before the round trip.
	// Little's law bounds a processor with n calls in flight at n / Mean
	// payments per second; zero (instant) has no such bound.
	Mean time.Duration
	// Slowest is the profile's longest answer; the PSP account timeout must
	// exceed it.
	Slowest time.Duration
	// Description says what the profile is, for the report.
	Description string
}

// profiles are the PSP behaviours a scenario can pick.
//
// instant measures payroute, not the PSP: its simulator answers at once,
// in payroute's process (TransportInProcess), since over loopback HTTP the
// round trip (net/http on both ends, syscalls) was a third of payroute's
// CPU. instant-http is the same PSP over loopback HTTP, to measure that
// cost. The PSPs with a latency stay over HTTP: there the time is the
// PSP's, and a real PSP is across a network.
//
// heavy-tail: a 50-100 ms body and 2 % of answers 2 s slower, so the 99th
// percentile falls in the tail (p99 ≈ 2.1 s) and the mean is 115 ms.
var profiles = map[string]Profile{
	"instant": {
		Simulator:   simulator.Profile{AlwaysApprove: true},
		Transport:   TransportInProcess,
		Description: "answers at once",
	},
	"instant-http": {
		Simulator:   simulator.Profile{AlwaysApprove: true},
		Transport:   TransportHTTP,
		Description: "answers at once (the HTTP round trip to the simulator remains, and dominates at high rates)",
	},
	"fixed-100ms": {
		Simulator:   simulator.Profile{Latency: 100 * time.Millisecond, AlwaysApprove: true},
		Transport:   TransportHTTP,
		Mean:        100 * time.Millisecond,
		Slowest:     100 * time.Millisecond,
		Description: "answers after exactly 100 ms",
	},
	"heavy-tail": {
		Simulator: simulator.Profile{Latency: 50 * time.Millisecond, LatencyJitter: 50 * time.Millisecond,
			TailRate: 0.02, TailLatency: 2 * time.Second, AlwaysApprove: true},
		Transport:   TransportHTTP,
		Mean:        75*time.Millisecond + 40*time.Millisecond, // 50 + 100/2 + 2 % of 2 s
		Slowest:     2100 * time.Millisecond,
		Description: "50-100 ms, and 2 % of answers 2 s slower (p99 ≈ 2.1 s, mean 115 ms)",
	},
}

// newSimulator builds the simulator of profile, with the benchmark's one
// PSP account, not started: the world starts it for TransportHTTP, the
// processor uses it in process for TransportInProcess.
func newSimulator(p Profile) (*simulator.Server, error) {
	return simulator.New(simulator.Configuration{
		Listen: "127.0.0.1:0", Seed: 1, MaxHold: p.Slowest + time.Second,
		PSPs: map[string]simulator.Profile{PSPName: p.Simulator},
	}, simulator.WithLogger(slog.New(slog.DiscardHandler)))
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
