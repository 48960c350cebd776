package main

import (
	"os"

	"go.uber.org/fx"
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
	app := fx.New(appOptions(cfg, log)...)
	if err := app.Err(); err != nil {
		return err
	}
	// Run starts everything, blocks until SIGINT or SIGTERM, then stops in
	// reverse order: the processor finishes and commits its batch first.
	app.Run()
	return nil
}
