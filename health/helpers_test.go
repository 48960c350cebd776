package health

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/payroute/payroute/schemas"
)

// clock is a simulated clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

var quiet = WithLogger(slog.New(slog.DiscardHandler))

// newTracker builds a Tracker on a simulated clock.
func newTracker(t *testing.T, cfg Configuration, c *clock, opts ...Option) *Tracker {
	t.Helper()
	tr, err := New(cfg, append([]Option{WithClock(c.Now), quiet}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tr
}

// feed observes n calls of one class at psp, spaced by step on the clock.
func feed(tr *Tracker, c *clock, n int, step time.Duration, o Observation) {
	for i := 0; i < n; i++ {
		c.Add(step)
		tr.Observe(o)
	}
}

// stateOf is the state of one scope as Snapshot reports it; HEALTHY for a
// scope the tracker does not know.
func stateOf(tr *Tracker, psp, scope string) PSPHealth {
	for _, h := range tr.Snapshot() {
		if h.PSP == psp && h.Scope == scope {
			return h
		}
	}
	return PSPHealth{PSP: psp, Scope: scope, State: schemas.HealthHealthy}
}

func cands(psps ...string) []schemas.Candidate {
	out := make([]schemas.Candidate, len(psps))
	for i, p := range psps {
		out[i] = schemas.Candidate{PSP: p, Method: "card", Rank: int32(i + 1)}
	}
	return out
}

func names(cs []schemas.Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.PSP
	}
	return out
}
