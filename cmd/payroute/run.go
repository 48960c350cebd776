package main

import (
	"log/slog"
	"os"

	"go.uber.org/fx"

	"github.com/payroute/payroute/router"
)

func runCommand(args []string) error {
	fs := newFlagSet("run", "[--config FILE]")
	path := fs.String("config", "", "YAML configuration file (defaults and PAYROUTE_* environment apply without one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfiguration(*path)
	if err != nil {
		return err
	}
	log := cfg.Log.NewLogger(os.Stderr)
	applyMemoryLimit(cfg.Memory, log)
	var extra []fx.Option
	if *path != "" {
		// SIGHUP applies the file's routing section again (a new version)
		// without a restart.
		extra = append(extra, fx.Invoke(func(lc fx.Lifecycle, h *router.Holder, log *slog.Logger) {
			rl := router.NewReloader(h, *path, log.With("component", "router"))
			lc.Append(fx.Hook{OnStart: rl.Start, OnStop: rl.Stop})
		}))
	}
	app := fx.New(appOptions(cfg, log, extra...)...)
	if err := app.Err(); err != nil {
		return err
	}
	// Run starts everything, blocks until SIGINT or SIGTERM, then stops in
	// reverse order: the processor finishes and commits its batch first.
	app.Run()
	return nil
}
