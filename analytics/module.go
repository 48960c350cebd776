package analytics

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// Module provides the Sink, built from the analytics Configuration the
// application supplies, and runs it between start and stop. Including the
// module is what enables the sink (payroute includes it when
// analytics.enabled is true); New works without fx.
var Module = fx.Module("analytics",
	fx.Provide(func(lc fx.Lifecycle, cfg Configuration, cluster *kafka.Cluster, serde *schemas.Serde, log *slog.Logger) (*Sink, error) {
		s, err := New(cfg, cluster, serde, log)
		if err != nil {
			return nil, err
		}
		// The application's embedded broker starts with it, empty.
		s.forgetAtStart = cluster.Embedded()
		lc.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
		return s, nil
	}),
	// Nothing else depends on the sink: invoke it so that it is built.
	fx.Invoke(func(*Sink) {}),
)
