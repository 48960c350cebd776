package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/fx"

	"github.com/payroute/payroute/admin"
	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/simulator"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// demoOptions are the demo's knobs.
type demoOptions struct {
	payments    int
	rate        float64
	duration    time.Duration
	clickhouse  string
	kafkaPort   int
	outageFrom  float64
	outageTo    float64
	verbose     bool
	settleAfter time.Duration
	// admin is the admin port's address ("" runs none); keepRunning keeps
	// it (and the console) up after the report until interrupted.
	admin       string
	keepRunning bool
	// database is the demo's own ClickHouse database, emptied at start.
	database string
}

func demoCommand(args []string) error {
	fs := newFlagSet("demo", "[--payments N] [--rate R] [--duration D] [--clickhouse ADDR]")
	o := demoOptions{}
	path := fs.String("config", "", "YAML configuration file to start from (kafka, router and psps are set by the demo)")
	fs.IntVar(&o.payments, "payments", 2000, "payments to publish")
	fs.Float64Var(&o.rate, "rate", 200, "payments per second")
	fs.DurationVar(&o.duration, "duration", 0, "stop publishing after this long even if fewer payments were sent (0: no limit)")
	fs.StringVar(&o.clickhouse, "clickhouse", "", "ClickHouse native address (default: analytics.clickhouse.addr, 127.0.0.1:19000)")
	fs.StringVar(&o.database, "database", "payroute_demo", "ClickHouse database of the demo; it is emptied at the start of every run")
	fs.IntVar(&o.kafkaPort, "kafka-port", 0, "loopback port of the embedded Kafka broker (0: any free port)")
	fs.Float64Var(&o.outageFrom, "outage-from", 0.3, "when the primary PSP goes down, as a share of the publishing time")
	fs.Float64Var(&o.outageTo, "outage-to", 0.6, "when the primary PSP recovers, as a share of the publishing time")
	fs.BoolVar(&o.verbose, "verbose", false, "log every failover and rejection")
	fs.DurationVar(&o.settleAfter, "wait", 2*time.Minute, "how long to wait for every payment's result and its ClickHouse rows after publishing")
	fs.StringVar(&o.admin, "admin", "127.0.0.1:0", "address of the admin port and web console (port 0: any free port; the URL is printed; \"\": none)")
	fs.BoolVar(&o.keepRunning, "keep-running", false, "after the report, keep the console and everything else up until interrupted (Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.payments <= 0 && o.duration <= 0 {
		return errors.New("--payments or --duration must be set, or the demo never ends")
	}
	if o.rate <= 0 {
		return errors.New("--rate must be > 0: the outage is placed on the publishing timeline")
	}
	if o.outageFrom < 0 || o.outageTo <= o.outageFrom || o.outageTo > 1 {
		return errors.New("--outage-from and --outage-to must satisfy 0 <= from < to <= 1")
	}
	cfg, err := LoadConfiguration(*path)
	if err != nil {
		return err
	}
	if !o.verbose {
		cfg.Log.Level = "warn"
	}
	if o.clickhouse != "" {
		cfg.Analytics.ClickHouse.Addr = o.clickhouse
	}
	cfg.Analytics.ClickHouse.Database = o.database
	applyMemoryLimit(cfg.Memory, cfg.Log.NewLogger(os.Stderr))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err = runDemo(ctx, cfg, o, os.Stdout, os.Stderr)
	return err
}

// runDemo runs the demo, writes the report to out and progress to progress,
// and returns the report's figures.
func runDemo(ctx context.Context, cfg Configuration, o demoOptions, out, progress io.Writer) (*analytics.ReportData, error) {
	log := cfg.Log.NewLogger(progress)
	say := func(format string, args ...any) { fmt.Fprintf(progress, "demo: "+format+"\n", args...) }

	// Every run starts a new embedded Kafka, whose offsets start again at
	// zero, while the sink loads each record exactly once by remembering, in
	// ClickHouse, the offsets it loaded: a database of an earlier run would
	// take the new records for ones already loaded. So the demo has its own
	// database and empties it first.
	if err := resetDatabase(ctx, cfg.Analytics.ClickHouse); err != nil {
		return nil, err
	}

	// Simulated PSPs: psp-a is the primary and goes down mid-run; psp-b and
	// psp-c are the backups.
	sim, err := simulator.New(simulator.Configuration{
		Listen: "127.0.0.1:0", Seed: 42, MaxHold: 10 * time.Second,
		PSPs: map[string]simulator.Profile{
			"psp-a": {Preset: "stable"},
			"psp-b": {Preset: "stable"},
			"psp-c": {Preset: "stable"},
		},
	}, simulator.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if err := sim.Start(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = sim.Stop(context.Background()) }()
	say("simulated PSPs psp-a (primary), psp-b, psp-c at %s", sim.URL())

	cfg.Simulator.Enabled = false
	cfg.PSPs = sim.RegistryConfiguration(2 * time.Second)
	// Prices of the kind PSPs quote, so the report's cost per PSP means
	// something: the primary is the cheapest, which is why it is primary.
	for name, fees := range demoFees {
		a := cfg.PSPs.Accounts[name]
		a.Fees = fees
		cfg.PSPs.Accounts[name] = a
	}
	cfg.Router.Version = "demo-v1"
	cfg.Router.Routes = map[string][]router.Candidate{
		"cards": {{PSP: "psp-a", Method: "card"}, {PSP: "psp-b", Method: "card"}, {PSP: "psp-c", Method: "card"}},
	}
	cfg.Router.DefaultRoute = "cards"
	cfg.Kafka.Brokers = nil
	cfg.Kafka.Embedded.Port = o.kafkaPort
	cfg.Analytics.Enabled = true
	cfg.Admin.Enabled = o.admin != ""
	cfg.Admin.Listen = o.admin
	cfg.Admin.LagInterval = 2 * time.Second

	var (
		embedded *kafka.Embedded
		cluster  *kafka.Cluster
		proc     *consumers.Processor
		sink     *analytics.Sink
		records  *producers.Records
		console  consoleURL
	)
	app := fx.New(appOptions(cfg, log, fx.Populate(&embedded, &cluster, &proc, &sink, &records, &console))...)
	if err := app.Err(); err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = app.Stop(stopCtx)
	}()
	addr := embedded.Addrs()[0]
	say("embedded Kafka at %s — try: kcat -b %s -C -t %s -o beginning", addr, addr, cluster.Topics().Results)
	say("ClickHouse at %s, database %s", cfg.Analytics.ClickHouse.Addr, cfg.Analytics.ClickHouse.Database)
	if url := console.url(); url != "" {
		say("console at %s (metrics at %smetrics)", url, url)
	}

	client, err := cluster.NewClient()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	gcfg := producers.DefaultGeneratorConfiguration()
	gcfg.Payments = o.payments
	gcfg.Rate = o.rate
	gcfg.Duration = o.duration
	gcfg.IDPrefix = fmt.Sprintf("demo-%d", time.Now().Unix())
	gen, err := producers.NewGenerator(gcfg, records, client)
	if err != nil {
		return nil, err
	}

	// The processor must hold its partitions before the load starts: the
	// outage sits on the publishing timeline, and a processor still joining
	// its group would take the payments published meanwhile after it (a
	// loaded machine's run showed no failover at all).
	for !proc.Assigned() {
		if proc.Err() != nil {
			return nil, proc.Err()
		}
		select {
		case <-startCtx.Done():
			return nil, fmt.Errorf("the processor did not join its group: %w", startCtx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}

	// The outage sits on the publishing timeline so the report shows traffic
	// before, during and after it.
	publishing := time.Duration(float64(o.payments) / o.rate * float64(time.Second))
	if o.duration > 0 && (o.payments == 0 || o.duration < publishing) {
		publishing = o.duration
	}
	downAt := time.Duration(o.outageFrom * float64(publishing))
	upAt := time.Duration(o.outageTo * float64(publishing))
	start := time.Now()
	down := time.AfterFunc(downAt, func() {
		_ = sim.SetDown("psp-a", true)
		say("psp-a is DOWN (%.1fs in): payments fail over to psp-b", time.Since(start).Seconds())
	})
	defer down.Stop()
	up := time.AfterFunc(upAt, func() {
		_ = sim.SetDown("psp-a", false)
		say("psp-a is back UP (%.1fs in)", time.Since(start).Seconds())
	})
	defer up.Stop()

	say("publishing %d payments at %.0f/s to %s", o.payments, o.rate, cluster.Topics().Requested)
	sent, err := gen.Run(ctx, func(n int) {
		st := proc.Stats()
		say("published %d, results %d, failovers %d", n, st.TotalResults(), st.Failovers())
	})
	if err != nil {
		return nil, fmt.Errorf("publishing: %w", err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	say("published %d payments in %.1fs; waiting for their results and ClickHouse rows", sent, time.Since(start).Seconds())

	deadline := time.Now().Add(o.settleAfter)
	for {
		// Customer errors wait for an action the demo does not send: their
		// ACTION_REQUIRED is the answer.
		results := proc.Stats().TotalResults() + proc.Stats().Results()[schemas.StatusActionRequired]
		_, rows := sink.Inserted()
		if results >= int64(sent) && rows >= int64(sent) {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("gave up waiting: %d of %d results published, %d payment rows in ClickHouse (is ClickHouse at %s up?)",
				results, sent, rows, cfg.Analytics.ClickHouse.Addr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	st := proc.Stats()
	say("all %d payments have a final result: %v; %d attempts, %d failovers", sent, st.Results(), st.Attempts(), st.Failovers())

	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := analytics.Open(rctx, cfg.Analytics.ClickHouse)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	data, err := analytics.Report(rctx, conn, analytics.ReportOptions{From: start.Add(-time.Second)})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "\nRead back from ClickHouse (psp-a was down from %.1fs to %.1fs of %.1fs):\n\n",
		downAt.Seconds(), upAt.Seconds(), publishing.Seconds())
	if err := analytics.WriteText(out, data); err != nil {
		return data, err
	}
	if o.keepRunning {
		say("still running: console at %s; Ctrl-C to stop", console.url())
		<-ctx.Done()
	}
	return data, nil
}

// resetDatabase drops the demo's database; the sink creates it again.
func resetDatabase(ctx context.Context, ch analytics.ClickHouseConfiguration) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := analytics.Open(ctx, ch)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ch.Database); err != nil {
		return fmt.Errorf("empty the demo database %s: %w", ch.Database, err)
	}
	return nil
}

// demoFees are the demo PSPs' fee schedules: percent + fixed per approved
// payment, a surcharge on cards issued outside the US, and a fee per
// declined attempt at the backups.
var demoFees = map[string]psp.FeeSchedule{
	"psp-a": {DomesticCountries: []string{"US"}, CrossBorderPercent: psp.MustDecimal("1"),
		Rates: []psp.FeeRate{{Percent: psp.MustDecimal("1.4"), Fixed: psp.MustDecimal("0.20")}}},
	"psp-b": {DomesticCountries: []string{"US"}, CrossBorderPercent: psp.MustDecimal("1.5"),
		Rates: []psp.FeeRate{{Percent: psp.MustDecimal("2.9"), Fixed: psp.MustDecimal("0.30"), DeclinedFixed: psp.MustDecimal("0.05")}}},
	"psp-c": {DomesticCountries: []string{"US"}, CrossBorderPercent: psp.MustDecimal("1.5"),
		Rates: []psp.FeeRate{{Percent: psp.MustDecimal("2.5"), Fixed: psp.MustDecimal("0.25"), DeclinedFixed: psp.MustDecimal("0.05")}}},
}

// consoleURL is the admin port of the demo's application, when it has one.
type consoleURL struct {
	fx.In
	Server *admin.Server `optional:"true"`
}

func (c consoleURL) url() string {
	if c.Server == nil {
		return ""
	}
	return c.Server.URL()
}
