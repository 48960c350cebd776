package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/payroute/payroute/admin"
	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/health"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/memlimit"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/simulator"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// Configuration is payroute's whole configuration: one YAML file whose
// top-level keys are the components, each overridable from the environment
// (PAYROUTE_<KEY_PATH>, e.g. PAYROUTE_KAFKA_BROKERS=b1:9092,b2:9092).
type Configuration struct {
	// Log configures the process log.
	Log LogConfiguration `yaml:"log"`
	// Memory is the process's soft memory limit, by default derived from
	// the container's.
	Memory memlimit.Configuration `yaml:"memory"`
	// Kafka is the cluster and topic naming; no brokers means embedded.
	Kafka kafka.Configuration `yaml:"kafka"`
	// Schemas is the Avro serde: a schema registry, or registry-less.
	Schemas schemas.Configuration `yaml:"schemas"`
	// Router holds stored routes, the default route and the config version.
	Router router.Configuration `yaml:"router"`
	// PSPs are the PSP accounts payroute may route to.
	PSPs psp.Configuration `yaml:"psps"`
	// Simulator runs simulated PSPs in-process (the demo and local runs);
	// leave its psps empty in production.
	Simulator simulator.Configuration `yaml:"simulator"`
	// Processor tunes the payment processor.
	Processor consumers.Configuration `yaml:"processor"`
	// Analytics is the ClickHouse sink.
	Analytics analytics.Configuration `yaml:"analytics"`
	// Health is PSP outage detection, shared on psp.health, and planned
	// maintenance windows.
	Health health.Configuration `yaml:"health"`
	// Admin is the admin HTTP port: probes, metrics, the JSON API and the
	// web console.
	Admin admin.Configuration `yaml:"admin"`
}

// Validate checks what no single component can: how they fit together.
func (c Configuration) Validate() error {
	if c.Router.MaxRanks > c.Kafka.MaxRanks {
		return config.Errorf("router.max_ranks", "is %d but kafka.max_ranks creates retry topics only up to rank %d", c.Router.MaxRanks, c.Kafka.MaxRanks)
	}
	return nil
}

// LogConfiguration configures log/slog.
type LogConfiguration struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text (for people) or json (for log pipelines).
	Format string `yaml:"format"`
}

// Validate checks the log configuration.
func (c LogConfiguration) Validate() error {
	var errs []error
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		errs = append(errs, config.Errorf("level", "must be debug, info, warn or error, got %q", c.Level))
	}
	if c.Format != "text" && c.Format != "json" {
		errs = append(errs, config.Errorf("format", "must be text or json, got %q", c.Format))
	}
	return errors.Join(errs...)
}

// DefaultConfiguration is the embedded setup: kfake, registry-less Avro, no
// PSPs (the demo and the example config add them), ClickHouse on loopback.
func DefaultConfiguration() Configuration {
	return Configuration{
		Log:       LogConfiguration{Level: "info", Format: "text"},
		Memory:    memlimit.DefaultConfiguration(),
		Kafka:     kafka.DefaultConfiguration(),
		Schemas:   schemas.DefaultConfiguration(),
		Router:    router.DefaultConfiguration(),
		PSPs:      psp.DefaultConfiguration(),
		Simulator: simulator.DefaultConfiguration(),
		Processor: consumers.DefaultConfiguration(),
		Analytics: analytics.DefaultConfiguration(),
		Admin:     admin.DefaultConfiguration(),
		Health:    health.DefaultConfiguration(),
	}
}

// LoadConfiguration reads path (may be "") over the defaults, applies the
// environment, and validates everything, naming each bad key.
func LoadConfiguration(path string) (Configuration, error) {
	cfg := DefaultConfiguration()
	if err := config.Load(path, os.Environ(), &cfg); err != nil {
		return cfg, err
	}
	return cfg, checkRouting(path, &cfg)
}

// NewLogger builds the process logger.
func (c LogConfiguration) NewLogger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "payroute: "+format+"\n", args...)
	os.Exit(1)
}
