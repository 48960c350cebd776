package simulator

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payroute/payroute/schemas"
)

// BenchmarkAttempt measures attempts through the connector against each
// behaviour preset at its real latencies, 32 in flight with the default
// account timeout (5s), and reports the share of approvals and of attempts
// that would fail over or end in doubt (the outage preset's window opens
// 30s after start, beyond a benchmark; its behaviour is tested):
//
//	go test -run '^$' -bench Attempt ./psp/simulator/
func BenchmarkAttempt(b *testing.B) {
	for _, preset := range []string{"stable", "flaky", "slow-tail", "rate-limited"} {
		b.Run(preset, func(b *testing.B) {
			s, err := New(Configuration{Listen: "127.0.0.1:0", Seed: 1, MaxHold: 10 * time.Second, PSPs: map[string]Profile{"p": {Preset: preset}}}, quiet)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.Stop(context.Background()) }()
			c, err := s.Connector("p", 5*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			var seq, approved, failover, inDoubt atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprintf("bench-%s-%d", preset, seq.Add(1))
					out := c.Attempt(context.Background(), authorize(id, "p", TokenApprove))
					switch {
					case out.Outcome == schemas.OutcomeApproved:
						approved.Add(1)
					case out.Class.FailsOver():
						failover.Add(1)
					case out.Class == schemas.ClassInDoubt:
						inDoubt.Add(1)
					}
				}
			})
			n := float64(b.N)
			b.ReportMetric(float64(approved.Load())/n, "approved/op")
			b.ReportMetric(float64(failover.Load())/n, "failover/op")
			b.ReportMetric(float64(inDoubt.Load())/n, "in_doubt/op")
		})
	}
}

// BenchmarkTransport measures one approved attempt through the connector
// to an instant PSP (no latency, always approves), 32 in flight, over HTTP
// to the loopback listener and through Server.Transport: what a call costs
// when the PSP costs nothing.
//
//	go test -run '^$' -bench Transport -benchmem ./psp/simulator/
func BenchmarkTransport(b *testing.B) {
	for _, v := range []via{viaHTTP, viaInProcess} {
		b.Run(v.name, func(b *testing.B) {
			s, err := New(Configuration{Listen: "127.0.0.1:0", Seed: 1, PSPs: map[string]Profile{"p": {AlwaysApprove: true}}}, quiet)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.Stop(context.Background()) }()
			c, err := v.connect(s, "p", 5*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprintf("bench-%d", seq.Add(1))
					if out := c.Attempt(context.Background(), authorize(id, "p", TokenApprove)); out.Outcome != schemas.OutcomeApproved {
						b.Errorf("attempt: %+v", out)
						return
					}
				}
			})
		})
	}
}
