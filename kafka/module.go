package kafka

import (
	"context"
	"log/slog"

	"go.uber.org/fx"
)

// Module provides the Cluster, starting the embedded broker when no brokers
// are configured and creating missing topics at start.
var Module = fx.Module("kafka",
	fx.Provide(provideEmbedded, provideCluster),
)

func provideEmbedded(lc fx.Lifecycle, cfg Configuration, log *slog.Logger) (*Embedded, error) {
	if len(cfg.Brokers) > 0 {
		return nil, nil
	}
	e, err := NewEmbedded(cfg)
	if err != nil {
		return nil, err
	}
	log.Info("embedded kafka listening", "addrs", e.Addrs())
	lc.Append(fx.StopHook(e.Close))
	return e, nil
}

func provideCluster(lc fx.Lifecycle, cfg Configuration, e *Embedded) (*Cluster, error) {
	c, err := NewCluster(cfg, e)
	if err != nil {
		return nil, err
	}
	if cfg.CreateTopics {
		lc.Append(fx.StartHook(func(ctx context.Context) error { return c.EnsureTopics(ctx) }))
	}
	return c, nil
}
