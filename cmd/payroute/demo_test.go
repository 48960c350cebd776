package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/analytics"
)

// TestDemoShowsFailoverAwayFromDownedPrimary runs the demo at a small scale
// and checks what it prints from ClickHouse: every payment is accounted for,
// the primary handed payments on while it was down, and the backup took
// exactly those.
func TestDemoShowsFailoverAwayFromDownedPrimary(t *testing.T) {
	addr := need(t, "TEST_CLICKHOUSE_ADDR", "run scripts/clickhouse.sh start and set TEST_CLICKHOUSE_ADDR=127.0.0.1:19000")
	cfg := DefaultConfiguration()
	cfg.Log.Level = "warn"
	cfg.Analytics.ClickHouse.Addr = addr
	cfg.Analytics.ClickHouse.Database = "payroute_demo_" + randomSuffix(t)
	cfg.Analytics.FlushInterval = 100 * time.Millisecond
	// Publishing takes 4 s, psp-a is down for the middle 2 s: time enough
	// for payments to meet the outage on a 2-core machine that also runs
	// other packages' tests (CI saw a run stall through a 1 s outage).
	o := demoOptions{payments: 400, rate: 100, outageFrom: 0.25, outageTo: 0.75, settleAfter: time.Minute,
		database: cfg.Analytics.ClickHouse.Database}
	var out, progress syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data, err := runDemo(ctx, cfg, o, &out, &progress)
	defer func() {
		if conn, err := openCH(cfg); err == nil {
			_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Analytics.ClickHouse.Database)
			_ = conn.Close()
		}
	}()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, progress.String())
	}
	// Customer errors wait for an action the demo does not send: their
	// ACTION_REQUIRED is their answer, and no final result.
	if data.Payments+data.ActionRequired != 400 {
		t.Errorf("report counts %d payments finalized and %d waiting for their customer, want 400", data.Payments, data.ActionRequired)
	}
	a, okA := data.PSP("psp-a")
	b, okB := data.PSP("psp-b")
	if !okA || !okB {
		t.Fatalf("report lacks psp-a or psp-b:\n%s", out.String())
	}
	// Before the outage is detected, payments fail over from psp-a; once the
	// health tracker marks it down, they go to psp-b first; after recovery
	// psp-a is first choice again.
	firsts := a.FirstChoice + b.FirstChoice
	if c, ok := data.PSP("psp-c"); ok {
		firsts += c.FirstChoice
	}
	if firsts != 400 || a.FirstChoice == 400 || b.FirstChoice == 0 {
		t.Errorf("first choices psp-a %d, psp-b %d (of 400): want psp-b first while psp-a was known down", a.FirstChoice, b.FirstChoice)
	}
	if a.FailoversOut == 0 || b.FailoversIn != a.FailoversOut {
		t.Errorf("psp-a failovers out %d, psp-b failovers in %d: want equal and > 0\n%s", a.FailoversOut, b.FailoversIn, out.String())
	}
	if a.Approved == 0 {
		t.Errorf("psp-a approved nothing: it is down only part of the run")
	}
	for _, want := range []string{"psp-a", "psp-b", "failovers out", "payments by final status"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed report lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(progress.String(), "kcat -b 127.0.0.1:") {
		t.Errorf("demo does not print the embedded broker address for kcat:\n%s", progress.String())
	}
}

func TestHelpListsEverySubcommand(t *testing.T) {
	var b bytes.Buffer
	usage(&b)
	for name := range commands {
		if !strings.Contains(b.String(), "  "+name+" ") {
			t.Errorf("payroute --help does not list %q:\n%s", name, b.String())
		}
	}
}

func TestConfigurationErrorsNameTheKey(t *testing.T) {
	t.Setenv("PAYROUTE_KAFKA_PARTITIONS", "0")
	t.Setenv("PAYROUTE_LOG_FORMAT", "xml")
	_, err := LoadConfiguration("")
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, key := range []string{"kafka.partitions", "log.format"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

func TestRouterRanksMustHaveRetryTopics(t *testing.T) {
	t.Setenv("PAYROUTE_ROUTER_MAX_RANKS", "6")
	t.Setenv("PAYROUTE_KAFKA_MAX_RANKS", "3")
	_, err := LoadConfiguration("")
	if err == nil || !strings.Contains(err.Error(), "router.max_ranks") {
		t.Fatalf("want an error naming router.max_ranks, got %v", err)
	}
}

func openCH(cfg Configuration) (interface {
	Exec(ctx context.Context, q string, args ...any) error
	Close() error
}, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return analytics.Open(ctx, cfg.Analytics.ClickHouse)
}
