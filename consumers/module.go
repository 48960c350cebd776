package consumers

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/payroute/payroute/health"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// Params are the processor's dependencies in an fx graph; the PSP health
// tracker is optional.
type Params struct {
	fx.In

	Lifecycle  fx.Lifecycle
	Shutdowner fx.Shutdowner
	Config     Configuration
	Cluster    *kafka.Cluster
	Serde      *schemas.Serde
	Records    *producers.Records
	Router     *router.Holder
	Registry   *psp.Registry
	Health     *health.Tracker `optional:"true"`
	Log        *slog.Logger
}

// Module provides the Processor and runs it between start and stop.
var Module = fx.Module("consumers",
	fx.Provide(func(in Params) (*Processor, error) {
		p, err := New(in.Config, in.Cluster, in.Serde, in.Records, in.Router, in.Registry, in.Log)
		if err != nil {
			return nil, err
		}
		if in.Health != nil {
			p.SetHealth(in.Health)
		}
		// A processor that stopped for good must not leave the instance up
		// doing nothing: exit non-zero so that it is seen and restarted.
		p.OnFatal(func(error) { _ = in.Shutdowner.Shutdown(fx.ExitCode(1)) })
		in.Lifecycle.Append(fx.Hook{OnStart: p.Start, OnStop: p.Stop})
		return p, nil
	}),
	// Nothing else depends on the processor: invoke it so that it is built.
	fx.Invoke(func(*Processor) {}),
)
