package analytics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/payroute/payroute/config"
)

// Conn is a ClickHouse connection (pool) and the database payroute's tables
// live in. Every statement of this package names Database explicitly, so
// the connection itself is not bound to it and works before the database
// exists.
type Conn struct {
	driver.Conn
	// Database is the configured database name, already validated.
	Database string
	// Addr is the server address, for error messages.
	Addr string
}

// Open connects to ClickHouse and checks that it answers, with an error that
// says what to do when it does not. It is for commands (payroute report,
// migrations); the sink connects lazily so that ClickHouse being down at
// start never stops payroute.
func Open(ctx context.Context, cfg ClickHouseConfiguration) (*Conn, error) {
	c, err := dial(cfg)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+2*time.Second)
	defer cancel()
	if err := c.Ping(pingCtx); err != nil {
		_ = c.Close()
		return nil, unreachable(cfg.Addr, err)
	}
	return c, nil
}

// unreachable wraps a connection failure with the address and the hint.
func unreachable(addr string, err error) error {
	return fmt.Errorf("clickhouse at %s: %w (is ClickHouse running? scripts/clickhouse.sh start)", addr, err)
}

// dial builds the connection pool without touching the network.
//
// The native protocol is used, also against Debian's clickhouse-server 18.16
// (protocol revision 54412): clickhouse-go v2 negotiates down to the server's
// revision in the handshake and only sends what that revision knows, so the
// handshake, queries and column-named batch inserts all work there (checked
// by this package's tests). Inserts always name their columns: the column
// list is what clickhouse-go uses to describe the block, and it keeps the
// inserts valid whatever columns later migrations add.
func dial(cfg ClickHouseConfiguration) (*Conn, error) {
	if !identifier.MatchString(cfg.Database) {
		return nil, fmt.Errorf("clickhouse database %q: want letters, digits and underscores", cfg.Database)
	}
	if cfg.Addr == "" {
		return nil, errors.New("clickhouse: no address configured")
	}
	dialTimeout := cfg.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = 5 * time.Second
	}
	tlsCfg, err := cfg.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("clickhouse %w", err)
	}
	password := cfg.Password
	if cfg.PasswordFile != "" {
		if password, err = config.ReadSecretFile(cfg.PasswordFile); err != nil {
			return nil, fmt.Errorf("clickhouse password_file: %w", err)
		}
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol: clickhouse.Native,
		Addr:     []string{cfg.Addr},
		Auth: clickhouse.Auth{
			// No database here: the connection must work before the
			// migrations have created it.
			Username: cfg.Username,
			Password: password,
		},
		TLS:             tlsCfg,
		DialTimeout:     dialTimeout,
		ReadTimeout:     time.Minute,
		MaxOpenConns:    4,
		MaxIdleConns:    2,
		ConnMaxLifetime: 10 * time.Minute,
		ClientInfo: clickhouse.ClientInfo{
			Products: []struct{ Name, Version string }{{Name: "payroute", Version: "analytics"}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse at %s: %w", cfg.Addr, err)
	}
	return &Conn{Conn: conn, Database: cfg.Database, Addr: cfg.Addr}, nil
}

// table qualifies a table name with the database.
func (c *Conn) table(name string) string { return c.Database + "." + name }
