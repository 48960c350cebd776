package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/payroute/payroute/analytics"
)

func migrateCommand(args []string) error {
	fs := newFlagSet("migrate", "[--config FILE]")
	path := fs.String("config", "", "YAML configuration file; its analytics.clickhouse section is used")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfiguration(*path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := analytics.Open(ctx, cfg.Analytics.ClickHouse)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := analytics.Migrate(ctx, conn); err != nil {
		return err
	}
	applied, err := analytics.AppliedMigrations(ctx, conn)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "migrate: database %s at %s is at migration %v\n", conn.Database, conn.Addr, applied)
	return nil
}
