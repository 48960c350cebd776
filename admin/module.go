package admin

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/health"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// Module provides the *Metrics registry and the *Server, and serves the
// port between start and stop. It reports on whatever the application
// holds: the processor, the sink (with the analytics Configuration, which
// payroute supplies only when analytics is enabled), the router holder,
// the PSP registry and the health tracker (or another HealthSource), each
// optional:
//
//	fx.Supply(cfg.Admin), admin.Module
//
// Include it after the modules it reports on; it installs its Kafka client
// hooks while the application is built, so every client those components
// create at start carries them.
var Module = fx.Module("admin",
	fx.Provide(NewMetrics, newFromParams),
	// Nothing depends on the server: invoke it so that it is built.
	fx.Invoke(func(*Server) {}),
)

// Params are the admin port's dependencies in an fx graph.
type Params struct {
	fx.In

	Lifecycle fx.Lifecycle
	Config    Configuration
	Metrics   *Metrics
	Cluster   *kafka.Cluster
	Log       *slog.Logger         `optional:"true"`
	Serde     *schemas.Serde       `optional:"true"`
	Processor *consumers.Processor `optional:"true"`
	// ProcessorConfig names the processor's consumer group.
	ProcessorConfig consumers.Configuration `optional:"true"`
	Sink            *analytics.Sink         `optional:"true"`
	Analytics       analytics.Configuration `optional:"true"`
	Router          *router.Holder          `optional:"true"`
	Registry        *psp.Registry           `optional:"true"`
	Tracker         *health.Tracker         `optional:"true"`
	// Health, when provided, is used instead of the Tracker's snapshot.
	Health HealthSource `optional:"true"`
}

func newFromParams(p Params) (*Server, error) {
	src := Sources{Cluster: p.Cluster, Router: p.Router, Health: p.Health}
	if p.Tracker != nil {
		src.HealthCounters = p.Tracker
		if src.Health == nil {
			src.Health = TrackerHealth(p.Tracker)
		}
	}
	if p.Serde != nil {
		src.Decoder = p.Serde
	}
	if p.Registry != nil {
		src.Accounts = p.Registry
	}
	if p.Processor != nil {
		src.Counters = p.Processor.Stats()
		src.ProcessorGroup = p.ProcessorConfig.Group
		src.Assignment = processorAssignment(p.Processor, p.Cluster.Config().Partitions)
		if n, ok := any(p.Processor).(InFlight); ok {
			src.InFlight = n
		}
		src.Calls = p.Processor
	}
	if p.Sink != nil {
		src.Sink = p.Sink
		src.SinkGroup = p.Analytics.Group
	}
	if p.Analytics.Enabled {
		ch := p.Analytics.ClickHouse
		src.ClickHouse = &ch
	}
	s, err := New(p.Config, p.Metrics, src, p.Log)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}

// processorAssignment is the processor's own Assigned() when it has one.
// Otherwise it is derived from the payment state the processor holds: a
// partition is in its Store once it is assigned and its state restored, so
// the processor is taken to be assigned once it holds at least one of the
// partitions. (An instance left without partitions, with more instances
// than partitions, then stays unready; the processor's own method can say
// better.)
func processorAssignment(p *consumers.Processor, partitions int32) Assignment {
	if a, ok := any(p).(Assignment); ok {
		return a
	}
	return AssignmentFunc(func() bool {
		store := p.Store()
		for part := int32(0); part < partitions; part++ {
			if store.Owns(part) {
				return true
			}
		}
		return false
	})
}

// TrackerHealth is the health tracker's snapshot as a HealthSource.
func TrackerHealth(t *health.Tracker) HealthSource {
	return HealthFunc(func() []PSPHealth {
		snap := t.Snapshot()
		out := make([]PSPHealth, 0, len(snap))
		for _, h := range snap {
			out = append(out, PSPHealth{
				PSP: h.PSP, Scope: h.Scope, State: string(h.State), Since: h.Since, Reason: h.Reason,
				Maintenance: h.Maintenance, WindowCalls: h.WindowCalls, FailureRate: h.FailureRate,
			})
		}
		return out
	})
}
