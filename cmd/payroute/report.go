package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/payroute/payroute/analytics"
)

func reportCommand(args []string) error {
	fs := newFlagSet("report", "[--config FILE] [--since DURATION | --from TIME --to TIME] [--merchant ID]")
	path := fs.String("config", "", "YAML configuration file; its analytics.clickhouse section is used")
	since := fs.Duration("since", 0, "report the last DURATION (e.g. 1h); overrides --from")
	from := fs.String("from", "", "start of the period, RFC 3339 (e.g. 2026-11-20T10:00:00Z); empty: all data")
	to := fs.String("to", "", "end of the period, RFC 3339, excluded; empty: now")
	merchant := fs.String("merchant", "", "only this merchant's payments")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfiguration(*path)
	if err != nil {
		return err
	}
	opts := analytics.ReportOptions{Merchant: *merchant}
	if opts.From, err = parseTime("from", *from); err != nil {
		return err
	}
	if opts.To, err = parseTime("to", *to); err != nil {
		return err
	}
	if *since > 0 {
		opts.From = time.Now().Add(-*since)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := analytics.Open(ctx, cfg.Analytics.ClickHouse)
	if err != nil {
		return err
	}
	defer conn.Close()
	data, err := analytics.Report(ctx, conn, opts)
	if err != nil {
		return err
	}
	return analytics.WriteText(os.Stdout, data)
}

func parseTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, fmt.Errorf("--%s: %q is not an RFC 3339 time such as 2026-11-20T10:00:00Z", flag, v)
	}
	return t, nil
}
