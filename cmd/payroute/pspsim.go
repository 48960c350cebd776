package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/payroute/payroute/psp/simulator"
)

func pspSimCommand(args []string) error {
	fs := newFlagSet("psp-sim", "[--config FILE] [--listen ADDR]")
	path := fs.String("config", "", "YAML configuration file; its simulator section is used")
	listen := fs.String("listen", "", "address to listen on (overrides simulator.listen)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfiguration(*path)
	if err != nil {
		return err
	}
	sim := cfg.Simulator
	if *listen != "" {
		sim.Listen = *listen
	}
	log := cfg.Log.NewLogger(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := simulator.New(sim, simulator.WithLogger(log))
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "psp-sim: serving %d simulated PSPs at %s (POST /v1/{psp}/payments, GET /sim/stats)\n", len(sim.PSPs), srv.URL())
	<-ctx.Done()
	return srv.Stop(context.Background())
}
