package simulator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/payroute/payroute/schemas"
)

// fastPreset is a preset with its base latency shrunk, so a test can send
// hundreds of requests; its rates, tail share and windows are the preset's.
func fastPreset(name string) Profile {
	return Profile{Preset: name, Latency: time.Microsecond, LatencyJitter: time.Microsecond, TailLatency: time.Microsecond}
}

// Each behaviour preset does what its name promises, over a seeded run of
// sequential requests (shares are checked within a band around the
// preset's rate, not to the exact count of one seed).
func TestBehaviourPresets(t *testing.T) { forEachTransport(t, testBehaviourPresets) }

func testBehaviourPresets(t *testing.T, via via) {
	const n = 600
	tests := []struct {
		preset string
		check  func(t *testing.T, st PSPStats, outcomes map[schemas.Class]int)
	}{
		{"stable", func(t *testing.T, st PSPStats, o map[schemas.Class]int) {
			if st.Approved != n || st.Errors+st.RateLimited+st.Timeouts+st.Declined+st.SlowTail != 0 {
				t.Errorf("stable: %+v", st)
			}
		}},
		{"flaky", func(t *testing.T, st PSPStats, o map[schemas.Class]int) {
			share(t, "errors", st.Errors, n, 0.2)
			share(t, "rate limits", st.RateLimited, n, 0.03)
			share(t, "timeouts", st.Timeouts, n, 0.02)
			share(t, "declines", st.Declined, n, 0.05)
			// A timeout is approved at the server and in doubt at the
			// client. A slow machine can turn an error answer into a
			// client timeout too; either way it is never approved.
			if o[schemas.ClassPSPError]+o[schemas.ClassInDoubt] != int(st.Errors+st.Timeouts) || o[schemas.ClassNone] != int(st.Approved-st.Timeouts) {
				t.Errorf("classes %v do not match the server's counts %+v", o, st)
			}
		}},
		{"slow-tail", func(t *testing.T, st PSPStats, o map[schemas.Class]int) {
			share(t, "slow tail", st.SlowTail, n, 0.05)
			if st.Approved != n {
				t.Errorf("slow-tail must only be slow: %+v", st)
			}
		}},
		{"rate-limited", func(t *testing.T, st PSPStats, o map[schemas.Class]int) {
			share(t, "rate limits", st.RateLimited, n, 0.5)
			if o[schemas.ClassRateLimited]+o[schemas.ClassInDoubt] != int(st.RateLimited) || o[schemas.ClassNone] != int(st.Approved) {
				t.Errorf("classes %v, server %+v", o, st)
			}
		}},
		{"test-failure", func(t *testing.T, st PSPStats, o map[schemas.Class]int) {
			if st.Errors != n || o[schemas.ClassPSPError]+o[schemas.ClassInDoubt] != n {
				t.Errorf("test-failure: %+v %v", st, o)
			}
		}},
		{"test-success", func(t *testing.T, st PSPStats, o map[schemas.Class]int) {
			if st.Approved != n {
				t.Errorf("test-success: %+v", st)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.preset, func(t *testing.T) {
			s := startServer(t, map[string]Profile{"p": fastPreset(tc.preset)})
			c := via.connector(t, s, "p", 250*time.Millisecond)
			token := TokenApprove
			if tc.preset == "test-success" {
				token = TokenHardDecline // test-success approves every token
			}
			outcomes := map[schemas.Class]int{}
			for i := range n {
				out := c.Attempt(context.Background(), authorize(fmt.Sprintf("pay-%s-%04d", tc.preset, i), "p", token))
				outcomes[out.Class]++
			}
			tc.check(t, s.Stats()["p"], outcomes)
		})
	}
}

// share checks that got out of n is within a band around rate: ±40% of the
// expected count plus 3, loose enough for any seed, tight enough to tell
// the presets apart.
func share(t *testing.T, what string, got int64, n int, rate float64) {
	t.Helper()
	want := rate * float64(n)
	if d := float64(got) - want; d > 0.4*want+3 || -d > 0.4*want+3 {
		t.Errorf("%s: %d of %d, want about %.0f (rate %v)", what, got, n, want, rate)
	}
}
