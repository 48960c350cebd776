package consumers

import (
	"errors"
	"time"

	"github.com/payroute/payroute/config"
)

// Configuration tunes the payment processor.
type Configuration struct {
	// Group is the Kafka consumer group of the processors. Every instance in
	// one group shares the payment partitions; scale out by adding instances.
	Group string `yaml:"group"`
	// MaxPollRecords bounds the records taken in one poll, and so the work in
	// flight between two offset commits.
	MaxPollRecords int `yaml:"max_poll_records"`
	// AttemptTimeout bounds one PSP call, on top of the connector's own timeout.
	AttemptTimeout time.Duration `yaml:"attempt_timeout"`
	// InDoubtWindow is how long an attempt whose outcome is unknown (timeout
	// after sending) is inquired about at the same PSP before payroute gives up
	// and publishes IN_DOUBT. It never fails over blind inside this window.
	InDoubtWindow time.Duration `yaml:"in_doubt_window"`
	// InDoubtInitialInterval is the first wait between status inquiries; it
	// grows exponentially up to the window.
	InDoubtInitialInterval time.Duration `yaml:"in_doubt_initial_interval"`
}

// DefaultConfiguration suits the embedded setup and most deployments.
func DefaultConfiguration() Configuration {
	return Configuration{
		Group:                  "payroute-processor",
		MaxPollRecords:         500,
		AttemptTimeout:         30 * time.Second,
		InDoubtWindow:          20 * time.Second,
		InDoubtInitialInterval: 200 * time.Millisecond,
	}
}

// Validate checks the configuration.
func (c Configuration) Validate() error {
	var errs []error
	if c.Group == "" {
		errs = append(errs, config.Errorf("group", "must not be empty"))
	}
	if c.MaxPollRecords <= 0 {
		errs = append(errs, config.Errorf("max_poll_records", "must be > 0"))
	}
	if c.AttemptTimeout <= 0 {
		errs = append(errs, config.Errorf("attempt_timeout", "must be > 0"))
	}
	if c.InDoubtWindow < 0 {
		errs = append(errs, config.Errorf("in_doubt_window", "must be >= 0"))
	}
	if c.InDoubtInitialInterval <= 0 {
		errs = append(errs, config.Errorf("in_doubt_initial_interval", "must be > 0"))
	}
	return errors.Join(errs...)
}
