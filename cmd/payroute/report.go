package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/payroute/payroute/analytics"
)

func reportCommand(args []string) error {
	fs := newFlagSet("report", "[--config FILE] [--since DURATION | --from TIME --to TIME] [--merchant ID] [--html FILE] [--query NAME [--sql]]")
	path := fs.String("config", "", "YAML configuration file; its analytics.clickhouse section is used")
	since := fs.Duration("since", 0, "report the last DURATION (e.g. 1h); overrides --from")
	from := fs.String("from", "", "start of the period, RFC 3339 (e.g. 2026-11-20T10:00:00Z); empty: all data")
	to := fs.String("to", "", "end of the period, RFC 3339, excluded; empty: now")
	merchant := fs.String("merchant", "", "only this merchant's payments")
	html := fs.String("html", "", "also write the report with charts (success rate over time, failover flows, cost per PSP) to FILE, a self-contained HTML page")
	query := fs.String("query", "", "run this query of the pack (analytics/queries) instead of the report; \"list\" lists them")
	sql := fs.Bool("sql", false, "with --query: print the query's SQL for the period and merchant (for clickhouse-client) instead of running it")
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
	if *sql && *query == "" {
		return errors.New("--sql goes with --query NAME")
	}
	if *query != "" {
		if *html != "" {
			return errors.New("--html writes the report; it does not go with --query")
		}
		return runPackQuery(cfg, *query, *sql, opts, os.Stdout)
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
	if err := analytics.WriteText(os.Stdout, data); err != nil {
		return err
	}
	if *html != "" {
		if err := writeHTMLReport(*html, data); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "report: wrote %s\n", *html)
	}
	return nil
}

// writeHTMLReport writes the page to a temporary file beside path and
// renames it, so that a reader never sees half a report.
func writeHTMLReport(path string, data *analytics.ReportData) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".report-*.html")
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if err = analytics.WriteHTML(f, data); err != nil {
		_ = f.Close()
		return fmt.Errorf("--html: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	return nil
}

// runPackQuery lists the pack, prints a query's SQL, or runs it.
func runPackQuery(cfg Configuration, name string, sqlOnly bool, opts analytics.ReportOptions, out io.Writer) error {
	if name == "list" {
		qs, err := analytics.Queries()
		if err != nil {
			return err
		}
		for _, q := range qs {
			fmt.Fprintf(out, "%-18s %s\n", q.Name, q.Title)
		}
		return nil
	}
	if sqlOnly {
		q, err := analytics.QueryByName(name)
		if err != nil {
			return err
		}
		sql, err := q.SQL(cfg.Analytics.ClickHouse.Database, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "-- %s\n%s\n", strings.ReplaceAll(q.Doc, "\n", "\n-- "), sql)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := analytics.Open(ctx, cfg.Analytics.ClickHouse)
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := analytics.RunQuery(ctx, conn, name, opts)
	if err != nil {
		return err
	}
	return analytics.WriteQueryText(out, res)
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
