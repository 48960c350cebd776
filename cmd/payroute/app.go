package main

import (
	"log/slog"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/payroute/payroute/admin"
	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/health"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp"
	_ "github.com/payroute/payroute/psp/adyen" // registers account kind "adyen"
	"github.com/payroute/payroute/psp/simulator"
	_ "github.com/payroute/payroute/psp/stripe" // registers account kind "stripe"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// appOptions composes payroute from its component modules. The in-process
// simulator, the ClickHouse sink and the admin port are included only when
// configured.
func appOptions(cfg Configuration, log *slog.Logger, extra ...fx.Option) []fx.Option {
	opts := []fx.Option{
		fx.WithLogger(func() fxevent.Logger { return &fxevent.SlogLogger{Logger: log.With("component", "fx")} }),
		fx.Supply(log, cfg.Kafka, cfg.Schemas, cfg.Router, cfg.PSPs, cfg.Processor),
		fx.Supply(cfg.Health), health.Module,
		kafka.Module, schemas.Module, producers.Module, psp.Module, router.Module, consumers.Module,
	}
	if cfg.Simulator.Enabled {
		opts = append(opts, fx.Supply(cfg.Simulator), simulator.Module)
	}
	if cfg.Analytics.Enabled {
		opts = append(opts, fx.Supply(cfg.Analytics), analytics.Module)
	}
	if cfg.Admin.Enabled {
		// Last: it reports on the components above.
		opts = append(opts, fx.Supply(cfg.Admin), admin.Module)
	}
	return append(opts, extra...)
}
