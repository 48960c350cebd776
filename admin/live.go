package admin

import (
	"sort"
	"sync"
	"time"

	"github.com/payroute/payroute/schemas"
)

// liveSeconds is the window of the per-PSP live view.
const liveSeconds = 60

// liveWindow keeps the last minute of attempts per PSP, per second, for the
// console's live PSP view: it is an AttemptObserver fed like the Prometheus
// series, and answers "what is each PSP doing right now" without a
// Prometheus server or ClickHouse.
type liveWindow struct {
	now func() time.Time

	mu   sync.Mutex
	psps map[string]*[liveSeconds]liveSlot
}

type liveSlot struct {
	sec                                     int64 // unix second the slot holds; other seconds are stale
	attempts, approved, declined, pspErrors int64
	otherFailures                           int64
	latencySum                              time.Duration
	latencyMax                              time.Duration
}

func newLiveWindow(now func() time.Time) *liveWindow {
	return &liveWindow{now: now, psps: map[string]*[liveSeconds]liveSlot{}}
}

// ObserveAttempt adds an attempt to the current second of its PSP.
func (w *liveWindow) ObserveAttempt(psp string, class schemas.Class, latency time.Duration) {
	sec := w.now().Unix()
	w.mu.Lock()
	defer w.mu.Unlock()
	ring, ok := w.psps[psp]
	if !ok {
		ring = new([liveSeconds]liveSlot)
		w.psps[psp] = ring
	}
	s := &ring[sec%liveSeconds]
	if s.sec != sec {
		*s = liveSlot{sec: sec}
	}
	s.attempts++
	switch {
	case class == schemas.ClassNone:
		s.approved++
	case class == schemas.ClassHardDecline || class == schemas.ClassSoftDecline:
		s.declined++
	case class.FailsOver():
		s.pspErrors++
	default:
		s.otherFailures++
	}
	s.latencySum += latency
	s.latencyMax = max(s.latencyMax, latency)
}

// LiveStats are one PSP's attempts over the last minute.
type LiveStats struct {
	WindowSeconds int   `json:"window_seconds"`
	Attempts      int64 `json:"attempts"`
	Approved      int64 `json:"approved"`
	Declined      int64 `json:"declined"`
	// PSPErrors are failures on the PSP's side (psp_error, rate_limited):
	// the ones that fail over.
	PSPErrors int64 `json:"psp_errors"`
	// OtherFailures are customer errors, in-doubt and invalid requests.
	OtherFailures int64 `json:"other_failures"`
	// ApprovalRate is Approved/Attempts; PSPErrorRate PSPErrors/Attempts.
	ApprovalRate float64 `json:"approval_rate"`
	PSPErrorRate float64 `json:"psp_error_rate"`
	// MeanLatencyMs and MaxLatencyMs are the PSP's response times.
	MeanLatencyMs float64 `json:"mean_latency_ms"`
	MaxLatencyMs  float64 `json:"max_latency_ms"`
}

// snapshot sums each PSP's last minute.
func (w *liveWindow) snapshot() map[string]LiveStats {
	now := w.now().Unix()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]LiveStats, len(w.psps))
	for psp, ring := range w.psps {
		st := LiveStats{WindowSeconds: liveSeconds}
		var lat, maxLat time.Duration
		for _, s := range ring {
			if s.sec <= now-liveSeconds || s.sec > now {
				continue
			}
			st.Attempts += s.attempts
			st.Approved += s.approved
			st.Declined += s.declined
			st.PSPErrors += s.pspErrors
			st.OtherFailures += s.otherFailures
			lat += s.latencySum
			maxLat = max(maxLat, s.latencyMax)
		}
		if st.Attempts > 0 {
			st.ApprovalRate = float64(st.Approved) / float64(st.Attempts)
			st.PSPErrorRate = float64(st.PSPErrors) / float64(st.Attempts)
			st.MeanLatencyMs = float64(lat.Microseconds()) / 1000 / float64(st.Attempts)
			st.MaxLatencyMs = float64(maxLat.Microseconds()) / 1000
		}
		out[psp] = st
	}
	return out
}

// flowPoints is how many samples (one a second) the live flow keeps.
const flowPoints = 300

// flowSmoothing is how many samples each rate of the live flow spans.
const flowSmoothing = 5

// flowSample is the processor's cumulative counters at one time.
type flowSample struct {
	at                                     time.Time
	final, approved, declined, failed      int64
	failovers, attempts, deadLetters, dupl int64
}

// flow is the processor's recent history, sampled once a second, for the
// console's live flow chart (payments/s, approvals, failovers).
type flow struct {
	mu      sync.Mutex
	samples []flowSample // oldest first, at most flowPoints+1

	versions []VersionSeen
}

// VersionSeen is a routing configuration version and when this instance
// started using it.
type VersionSeen struct {
	Version string    `json:"version"`
	Since   time.Time `json:"since"`
}

func (f *flow) sample(at time.Time, c Counters) {
	r := c.Results()
	var final int64
	for st, n := range r {
		if st != schemas.StatusActionRequired {
			final += n
		}
	}
	s := flowSample{
		at: at, final: final,
		approved: r[schemas.StatusApproved], declined: r[schemas.StatusDeclined], failed: r[schemas.StatusFailed],
		failovers: c.Failovers(), attempts: c.Attempts(), deadLetters: c.DeadLettered(), dupl: c.Duplicates(),
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.samples = append(f.samples, s)
	if len(f.samples) > flowPoints+1 {
		f.samples = append(f.samples[:0], f.samples[len(f.samples)-flowPoints-1:]...)
	}
}

// noteVersion records version when it differs from the last one seen.
func (f *flow) noteVersion(at time.Time, version string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.versions); n > 0 && f.versions[n-1].Version == version {
		return
	}
	f.versions = append(f.versions, VersionSeen{Version: version, Since: at})
}

func (f *flow) seenVersions() []VersionSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]VersionSeen(nil), f.versions...)
}

// FlowTotals are the processor's counters since it started.
type FlowTotals struct {
	Final       int64 `json:"final"`
	Approved    int64 `json:"approved"`
	Declined    int64 `json:"declined"`
	Failed      int64 `json:"failed"`
	Failovers   int64 `json:"failovers"`
	Attempts    int64 `json:"attempts"`
	DeadLetters int64 `json:"dead_letters"`
	Duplicates  int64 `json:"duplicates"`
}

// FlowPoint is the rate of each counter over the flowSmoothing samples
// before At.
type FlowPoint struct {
	At                 time.Time `json:"at"`
	PaymentsPerSecond  float64   `json:"payments_per_s"`
	ApprovedPerSecond  float64   `json:"approved_per_s"`
	FailoversPerSecond float64   `json:"failovers_per_s"`
	AttemptsPerSecond  float64   `json:"attempts_per_s"`
}

// Flow is /api/flow: totals and the last five minutes of rates.
type Flow struct {
	Totals FlowTotals  `json:"totals"`
	Points []FlowPoint `json:"points"`
}

func (f *flow) series() Flow {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := Flow{Points: []FlowPoint{}}
	if n := len(f.samples); n > 0 {
		l := f.samples[n-1]
		out.Totals = FlowTotals{Final: l.final, Approved: l.approved, Declined: l.declined, Failed: l.failed,
			Failovers: l.failovers, Attempts: l.attempts, DeadLetters: l.deadLetters, Duplicates: l.dupl}
	}
	for i := 1; i < len(f.samples); i++ {
		// Each point is the rate over the last few samples: the processor
		// commits in transactions, so one-second rates are bursty.
		a, b := f.samples[max(0, i-flowSmoothing)], f.samples[i]
		d := b.at.Sub(a.at).Seconds()
		if d <= 0 {
			continue
		}
		rate := func(x, y int64) float64 { return float64(y-x) / d }
		out.Points = append(out.Points, FlowPoint{
			At: b.at, PaymentsPerSecond: rate(a.final, b.final), ApprovedPerSecond: rate(a.approved, b.approved),
			FailoversPerSecond: rate(a.failovers, b.failovers), AttemptsPerSecond: rate(a.attempts, b.attempts),
		})
	}
	return out
}

// sortedNames returns the keys of m, sorted.
func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
