package consumers

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// Module provides the Processor and runs it between start and stop.
var Module = fx.Module("consumers",
	fx.Provide(func(lc fx.Lifecycle, cfg Configuration, cluster *kafka.Cluster, serde *schemas.Serde,
		records *producers.Records, r *router.Holder, reg *psp.Registry, log *slog.Logger) (*Processor, error) {
		p, err := New(cfg, cluster, serde, records, r, reg, log)
		if err != nil {
			return nil, err
		}
		lc.Append(fx.Hook{OnStart: p.Start, OnStop: p.Stop})
		return p, nil
	}),
	// Nothing else depends on the processor: invoke it so that it is built.
	fx.Invoke(func(*Processor) {}),
)
