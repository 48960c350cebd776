package analytics

import (
	"errors"
	"net"
	"regexp"
	"strconv"
	"time"

	"github.com/payroute/payroute/config"
)

// Configuration is the analytics sink: where ClickHouse is, which Kafka
// consumer group loads it, and how rows are batched.
type Configuration struct {
	// Enabled runs the sink inside payroute. It is safe to leave on while
	// ClickHouse is down: the sink waits and catches up, payments never wait
	// for it.
	Enabled bool `yaml:"enabled"`
	// ClickHouse is the server the attempts and results are loaded into.
	ClickHouse ClickHouseConfiguration `yaml:"clickhouse"`
	// Group is the sink's own Kafka consumer group. It is distinct from the
	// payment processor's group, so the sink's progress (or lack of it)
	// never holds back payments.
	Group string `yaml:"group"`
	// BatchSize is the most records (attempts, results and requests
	// together) the sink accumulates before a flush, which inserts each
	// table's rows as one block; a block is applied whole or not at all,
	// which is what exactly-once loading rests on. ClickHouse's cost is
	// mostly per insert (a part for the table and for each materialized
	// view, a few dozen files each), so large batches are what lets the
	// sink keep up with a backlog: on a 2-core machine, 100,000-row
	// batches take the server about half the CPU 50,000-row ones do, and a
	// tenth of 10,000-row ones. Memory grows with it: the batch being
	// inserted, its copy in the ClickHouse client and the batch filling
	// meanwhile take about 1 KiB per row of BatchSize at their peak (some
	// 100 MiB at the default), only while batches are full, that is while
	// a backlog drains.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a row waits in a partial batch before it
	// is inserted anyway (later only while the insert before it is still
	// going).
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// ClickHouseConfiguration says how to reach ClickHouse.
type ClickHouseConfiguration struct {
	// Addr is the native-protocol address, host:port. scripts/clickhouse.sh
	// starts a server on 127.0.0.1:19000.
	Addr string `yaml:"addr"`
	// Database holds payroute's tables; it is created by the migrations.
	// Every statement names it, so several payroute installations (or test
	// runs) can share one server under different names.
	Database string `yaml:"database"`
	// Username and Password authenticate; empty Username is "default".
	// Set the password from the environment
	// (PAYROUTE_ANALYTICS_CLICKHOUSE_PASSWORD) or PasswordFile rather than
	// in the file; it is redacted in `payroute config`.
	Username string `yaml:"username"`
	Password string `yaml:"password" secret:"true"`
	// PasswordFile is a file holding the password, read when the
	// connection pool is created (at start). Set Password or PasswordFile,
	// not both.
	PasswordFile string `yaml:"password_file"`
	// TLS protects the connection (ClickHouse's tcp_port_secure, 9440 by
	// default). Off by default: the embedded setup talks to a loopback
	// server.
	TLS config.TLSConfiguration `yaml:"tls"`
	// DialTimeout bounds connecting to the server.
	DialTimeout time.Duration `yaml:"dial_timeout"`
}

// DefaultConfiguration is the server of scripts/clickhouse.sh, database
// "payroute", batches of up to 100,000 rows flushed at least every second.
func DefaultConfiguration() Configuration {
	return Configuration{
		Enabled: true,
		ClickHouse: ClickHouseConfiguration{
			Addr:        "127.0.0.1:19000",
			Database:    "payroute",
			DialTimeout: 5 * time.Second,
		},
		Group:         "payroute-analytics",
		BatchSize:     100_000,
		FlushInterval: time.Second,
	}
}

// identifier is what a database name may look like. The name is spliced
// into SQL text (ClickHouse has no placeholders for identifiers), so it is
// restricted to letters, digits and underscores.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Validate checks the configuration. Keys are relative to "analytics".
func (c Configuration) Validate() error {
	var errs []error
	if c.Group == "" {
		errs = append(errs, config.Errorf("group", "must not be empty"))
	}
	if c.BatchSize <= 0 {
		errs = append(errs, config.Errorf("batch_size", "must be > 0, got %d", c.BatchSize))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, config.Errorf("flush_interval", "must be > 0"))
	}
	ch := c.ClickHouse
	if host, port, err := net.SplitHostPort(ch.Addr); err != nil || host == "" {
		errs = append(errs, config.Errorf("clickhouse.addr", "want host:port, got %q", ch.Addr))
	} else if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		errs = append(errs, config.Errorf("clickhouse.addr", "invalid port in %q", ch.Addr))
	}
	if !identifier.MatchString(ch.Database) {
		errs = append(errs, config.Errorf("clickhouse.database", "want letters, digits and underscores (not starting with a digit), got %q", ch.Database))
	}
	if ch.Password != "" && ch.Username == "" {
		errs = append(errs, config.Errorf("clickhouse.password", "set without clickhouse.username"))
	}
	if ch.PasswordFile != "" && ch.Username == "" {
		errs = append(errs, config.Errorf("clickhouse.password_file", "set without clickhouse.username"))
	}
	if ch.PasswordFile != "" && ch.Password != "" {
		errs = append(errs, config.Errorf("clickhouse.password", "set password or password_file, not both"))
	}
	if ch.DialTimeout <= 0 {
		errs = append(errs, config.Errorf("clickhouse.dial_timeout", "must be > 0"))
	}
	return errors.Join(errs...)
}
