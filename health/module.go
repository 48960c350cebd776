package health

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// Module provides the Tracker, sharing state through the cluster's
// psp.health topic, started before and stopped after what depends on it.
var Module = fx.Module("health",
	fx.Provide(func(lc fx.Lifecycle, cfg Configuration, cluster *kafka.Cluster, serde *schemas.Serde, log *slog.Logger) (*Tracker, error) {
		t, err := New(cfg, WithKafka(cluster, serde), WithLogger(log))
		if err != nil {
			return nil, err
		}
		lc.Append(fx.Hook{OnStart: t.Start, OnStop: t.Stop})
		return t, nil
	}),
)
