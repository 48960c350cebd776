package bench

import (
	"errors"
	"net"
	"strings"
	"time"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/memlimit"
)

// Configuration is one benchmark scenario: which PSP behaviour, how much
// load, how the input arrives, and what else to measure.
type Configuration struct {
	// PSP is the latency profile of the simulated PSP every payment is
	// routed to: "instant" (in payroute's process, no socket),
	// "instant-http" (the same over loopback HTTP), "fixed-100ms" or
	// "heavy-tail" (see ProfileNames and the package documentation).
	PSP string `yaml:"psp"`
	// Payments is how many PaymentRequested records the scenario publishes.
	Payments int `yaml:"payments"`
	// Partitions is the partition count of every topic.
	Partitions int32 `yaml:"partitions"`
	// InFlight is the processor's max_in_flight; max_in_flight_per_psp is
	// set to the same value, since every payment goes to one PSP.
	InFlight int `yaml:"in_flight"`
	// MaxPollRecords is the processor's max_poll_records (0: the
	// processor's default).
	MaxPollRecords int `yaml:"max_poll_records"`
	// Rate paces publishing, in payments per second, while the system
	// under test runs; 0 publishes as fast as the broker takes it. Latency
	// figures mean something only when paced below the maximum: at
	// saturation they are dominated by time spent queued in the topic.
	Rate float64 `yaml:"rate"`
	// Backlog publishes every payment before the system under test starts,
	// so it drains a backlog: the drain rate, and peak memory while the
	// backlog is large.
	Backlog bool `yaml:"backlog"`
	// PassThrough also measures, on the same broker and the same records,
	// a plain franz-go consume→produce pass-through (idempotent producer,
	// the ceiling) and a transactional one (for information).
	PassThrough bool `yaml:"pass_through"`
	// Worker, when set, is the command line that runs one system under
	// test in a child process (`payroute bench --worker`). CPU time and
	// peak RSS are then the child's alone: without it they are totals of
	// this process, embedded broker, simulator and load generator included.
	Worker []string `yaml:"worker"`
	// PSPTimeout is the PSP account timeout of the simulated PSP. It must
	// exceed the profile's slowest answer (2 s for heavy-tail), or slow
	// answers become in-doubt inquiries instead of latency.
	PSPTimeout time.Duration `yaml:"psp_timeout"`
	// Timeout bounds one system under test's run; a run that does not
	// finish is an error, not a slow figure.
	Timeout time.Duration `yaml:"timeout"`
	// ProgressInterval is how often a progress line is written.
	ProgressInterval time.Duration `yaml:"progress_interval"`
	// CPUProfile, when set, is a file to write a CPU profile of payroute's
	// run to: of its worker process alone with Worker, else of this whole
	// process (broker, simulator and publisher included).
	CPUProfile string `yaml:"cpu_profile"`
	// MemProfile, when set, is a file to write a heap profile of the same
	// process to, taken when every payment has its result, before the
	// processor stops.
	MemProfile string `yaml:"mem_profile"`
	// Verbose logs the processor's warnings and errors to stderr.
	Verbose bool `yaml:"verbose"`
	// MemoryLimit is payroute's memory.limit in its worker (Worker): auto,
	// payroute's default, derives it from the container's limit and sets
	// none without one; off or a size ("256MiB") emulate a deployment's
	// setting. The report prints the limit in force. GOMEMLIMIT in the
	// environment wins, as it does for payroute. In-process runs set none.
	MemoryLimit memlimit.Limit `yaml:"memory_limit"`
	// Verify reads payments.results back after the run and checks that
	// every payment has exactly one final result. For a paced run it also
	// reads payments.requested and payments.attempts to compute the added
	// latency from record timestamps (millisecond resolution), as a cross-
	// check of the in-process microsecond figure.
	Verify bool `yaml:"verify"`
}

// DefaultConfiguration is the instant PSP, 100,000 payments published as
// fast as possible on six partitions with 1,000 in flight, with the
// pass-through ceiling and the read-back check.
func DefaultConfiguration() Configuration {
	return Configuration{
		PSP:              "instant",
		Payments:         100_000,
		Partitions:       6,
		InFlight:         1000,
		PassThrough:      true,
		PSPTimeout:       10 * time.Second,
		Timeout:          30 * time.Minute,
		ProgressInterval: time.Second,
		Verify:           true,
		MemoryLimit:      memlimit.DefaultConfiguration().Limit,
	}
}

// Validate checks the configuration; errors name the key.
func (c Configuration) Validate() error {
	var errs []error
	if _, ok := profiles[c.PSP]; !ok {
		errs = append(errs, config.Errorf("psp", "unknown profile %q (known: %s)", c.PSP, strings.Join(ProfileNames(), ", ")))
	}
	if c.Payments <= 0 {
		errs = append(errs, config.Errorf("payments", "must be > 0"))
	}
	if c.Partitions <= 0 {
		errs = append(errs, config.Errorf("partitions", "must be > 0"))
	}
	if c.InFlight <= 0 {
		errs = append(errs, config.Errorf("in_flight", "must be > 0"))
	}
	if c.MaxPollRecords < 0 {
		errs = append(errs, config.Errorf("max_poll_records", "must be >= 0"))
	}
	if c.Rate < 0 {
		errs = append(errs, config.Errorf("rate", "must be >= 0"))
	}
	if c.Backlog && c.Rate > 0 {
		errs = append(errs, config.Errorf("rate", "a backlog is published before the run, as fast as possible: rate does not apply"))
	}
	if p, ok := profiles[c.PSP]; ok && c.PSPTimeout <= p.Slowest {
		errs = append(errs, config.Errorf("psp_timeout", "must exceed the %s profile's slowest answer (%s)", c.PSP, p.Slowest))
	}
	if c.Timeout <= 0 {
		errs = append(errs, config.Errorf("timeout", "must be > 0"))
	}
	if c.ProgressInterval <= 0 {
		errs = append(errs, config.Errorf("progress_interval", "must be > 0"))
	}
	if err := c.memory().Validate(); err != nil {
		errs = append(errs, config.Errorf("memory_limit", "%v", err))
	}
	return errors.Join(errs...)
}

// memory is payroute's memory configuration in the worker: its defaults,
// with MemoryLimit.
func (c Configuration) memory() memlimit.Configuration {
	m := memlimit.DefaultConfiguration()
	m.Limit = c.MemoryLimit
	return m
}

// SinkConfiguration is the ClickHouse sink scenario.
type SinkConfiguration struct {
	// ClickHouse is the native address of the server, host:port.
	ClickHouse string `yaml:"clickhouse"`
	// Rows is how many AttemptRecorded records pre-fill payments.attempts.
	Rows int `yaml:"rows"`
	// BatchSize is the sink's analytics.batch_size (0: its default).
	BatchSize int `yaml:"batch_size"`
	// Partitions is the partition count of every topic.
	Partitions int32 `yaml:"partitions"`
	// Timeout bounds the load; a sink that does not finish is an error.
	Timeout time.Duration `yaml:"timeout"`
	// ProgressInterval is how often a progress line is written.
	ProgressInterval time.Duration `yaml:"progress_interval"`
}

// DefaultSinkConfiguration is 500,000 attempts loaded into the server of
// scripts/clickhouse.sh.
func DefaultSinkConfiguration() SinkConfiguration {
	return SinkConfiguration{
		ClickHouse:       "127.0.0.1:19000",
		Rows:             500_000,
		Partitions:       6,
		Timeout:          10 * time.Minute,
		ProgressInterval: time.Second,
	}
}

// Validate checks the configuration; errors name the key.
func (c SinkConfiguration) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.ClickHouse); err != nil {
		errs = append(errs, config.Errorf("clickhouse", "want host:port: %v", err))
	}
	if c.Rows <= 0 {
		errs = append(errs, config.Errorf("rows", "must be > 0"))
	}
	if c.BatchSize < 0 {
		errs = append(errs, config.Errorf("batch_size", "must be >= 0"))
	}
	if c.Partitions <= 0 {
		errs = append(errs, config.Errorf("partitions", "must be > 0"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, config.Errorf("timeout", "must be > 0"))
	}
	if c.ProgressInterval <= 0 {
		errs = append(errs, config.Errorf("progress_interval", "must be > 0"))
	}
	return errors.Join(errs...)
}
