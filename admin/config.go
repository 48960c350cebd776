package admin

import (
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/payroute/payroute/config"
)

// DefaultListen is the admin port's default address: loopback only, so a
// development machine does not expose it. Deployments listen on all
// interfaces (":8080") for probes and Prometheus.
const DefaultListen = "127.0.0.1:8080"

// Configuration is the admin HTTP port: health and readiness probes,
// Prometheus metrics, the JSON API and the web console.
type Configuration struct {
	// Enabled serves the admin port. Default true. Without it there are no
	// probes, metrics or console.
	Enabled bool `yaml:"enabled"`
	// Listen is the TCP address, host:port. Port 0 picks a free port (the
	// demo does, and prints the console's URL). Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// Console serves the web console at / (the JSON API and probes are
	// served either way). Default true.
	Console bool `yaml:"console"`
	// LagInterval is how often consumer-group lag (payroute_consumer_lag:
	// requests, retry ranks, delay tiers, the sink's topics) is read from
	// Kafka. Scrapes read the last value and never wait for Kafka. Default
	// 10s.
	LagInterval time.Duration `yaml:"lag_interval"`
	// CheckTimeout bounds each readiness check (Kafka, ClickHouse) of one
	// /readyz request. Default 2s.
	CheckTimeout time.Duration `yaml:"check_timeout"`
	// ChartWindow is the default period of the console's ClickHouse charts
	// (a request may ask for another with ?minutes=). Default 15m.
	ChartWindow time.Duration `yaml:"chart_window"`
}

// DefaultConfiguration serves everything on 127.0.0.1:8080.
func DefaultConfiguration() Configuration {
	return Configuration{
		Enabled:      true,
		Listen:       DefaultListen,
		Console:      true,
		LagInterval:  10 * time.Second,
		CheckTimeout: 2 * time.Second,
		ChartWindow:  15 * time.Minute,
	}
}

// Validate checks the configuration.
func (c Configuration) Validate() error {
	var errs []error
	if c.Enabled {
		if _, port, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, config.Errorf("listen", "must be host:port (\":8080\" for every interface, \"127.0.0.1:0\" for any free port): %v", err))
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			errs = append(errs, config.Errorf("listen", "port must be a number within [0,65535], got %q", port))
		}
	}
	if c.LagInterval < 100*time.Millisecond {
		errs = append(errs, config.Errorf("lag_interval", "must be >= 100ms, got %s", c.LagInterval))
	}
	if c.CheckTimeout <= 0 {
		errs = append(errs, config.Errorf("check_timeout", "must be > 0"))
	}
	if c.ChartWindow < time.Minute || c.ChartWindow > 31*24*time.Hour {
		errs = append(errs, config.Errorf("chart_window", "must be within [1m,744h], got %s", c.ChartWindow))
	}
	return errors.Join(errs...)
}
