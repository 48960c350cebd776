package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// replayCommand is `payroute replay --candidate FILE`: historical payment
// requests go through the candidate routing configuration, and the share,
// success rate and cost per PSP it would give, projected from the rates
// observed per PSP, are printed next to what actually happened.
func replayCommand(args []string) error {
	fs := newFlagSet("replay", "--candidate FILE [--config FILE] [--source clickhouse|kafka] [--since DURATION | --from TIME --to TIME] [--merchant ID]")
	path := fs.String("config", "", "YAML configuration of the running payroute: where ClickHouse and Kafka are")
	candidate := fs.String("candidate", "", "YAML configuration to try: its router and psps sections route the payments (the environment does not apply to it)")
	source := fs.String("source", "clickhouse", "where the historical requests come from: clickhouse (the requests table) or kafka (the payments.requested topic)")
	since := fs.Duration("since", 0, "replay the requests of the last DURATION (e.g. 24h); overrides --from")
	from := fs.String("from", "", "start of the period, RFC 3339; empty: all requests")
	to := fs.String("to", "", "end of the period, RFC 3339, excluded; empty: now")
	merchant := fs.String("merchant", "", "only this merchant's payments")
	statsFrom := fs.String("stats-from", "", "start of the window whose attempts give the per-PSP rates, RFC 3339; default: the replay period")
	statsTo := fs.String("stats-to", "", "end of that window, RFC 3339, excluded")
	minAttempts := fs.Int64("min-attempts", 30, "fewest attempts of a PSP in a currency for its rates in that currency to be used (else its overall rates)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *candidate == "" {
		fs.Usage()
		return errors.New("--candidate is required")
	}
	if *source != "clickhouse" && *source != "kafka" {
		return fmt.Errorf("--source: want clickhouse or kafka, got %q", *source)
	}
	opts := analytics.ReplayOptions{Merchant: *merchant, MinAttempts: *minAttempts}
	var err error
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"from", *from, &opts.From}, {"to", *to, &opts.To}, {"stats-from", *statsFrom, &opts.StatsFrom}, {"stats-to", *statsTo, &opts.StatsTo}} {
		if *t.dst, err = parseTime(t.flag, t.v); err != nil {
			return err
		}
	}
	if *since > 0 {
		opts.From = time.Now().Add(-*since)
	}
	cfg, err := LoadConfiguration(*path)
	if err != nil {
		return err
	}
	opts.MaxRanks = cfg.Kafka.MaxRanks
	r, err := candidateRouter(*candidate)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return replay(ctx, cfg, r, *source, opts, os.Stdout)
}

// candidateRouter builds the router of a candidate configuration file, the
// way payroute run would: its router section over the defaults, checked
// against the PSP accounts of its psps section, accounts excluded from
// failover dropped from later ranks.
func candidateRouter(path string) (*router.Router, error) {
	cand := DefaultConfiguration()
	if err := config.Load(path, nil, &cand); err != nil {
		return nil, fmt.Errorf("candidate: %w", err)
	}
	names, opts := routerAccounts(cand.PSPs)
	r, err := router.New(cand.Router, names, opts...)
	if err != nil {
		return nil, fmt.Errorf("candidate %s: %w", path, err)
	}
	return r, nil
}

// replay reads the requests, replays them and prints the comparison.
func replay(ctx context.Context, cfg Configuration, r analytics.Router, source string, opts analytics.ReplayOptions, out io.Writer) error {
	conn, err := analytics.Open(ctx, cfg.Analytics.ClickHouse)
	if err != nil {
		return err
	}
	defer conn.Close()
	var reqs []*schemas.PaymentRequested
	switch source {
	case "kafka":
		if len(cfg.Kafka.Brokers) == 0 {
			return errors.New("--source kafka needs kafka.brokers: an embedded broker keeps no history between runs (use --source clickhouse)")
		}
		cluster, err := kafka.NewCluster(cfg.Kafka, nil)
		if err != nil {
			return err
		}
		serde, err := schemas.New(cfg.Schemas)
		if err != nil {
			return err
		}
		reqs, err = analytics.RequestsFromKafka(ctx, cluster, serde, opts)
		if err != nil {
			return err
		}
	default:
		reqs, err = analytics.RequestsFromClickHouse(ctx, conn, opts)
		if err != nil {
			return err
		}
	}
	res, err := analytics.Replay(ctx, conn, reqs, r, opts)
	if err != nil {
		return err
	}
	return analytics.WriteReplayText(out, res)
}
