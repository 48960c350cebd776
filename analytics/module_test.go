package analytics

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/schemas"
)

// The module builds the sink from the supplied configuration and runs it
// with the application's lifecycle. Run twice against the same database,
// each time with a new embedded broker (whose offsets start again at 0):
// the second run's records are loaded too, not taken for the first run's.
func TestModule(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	kcfg := kafka.DefaultConfiguration()
	kcfg.Partitions = 2
	for run, payment := range []string{"p1", "p2"} {
		var sink *Sink
		var records *producers.Records
		var cluster *kafka.Cluster
		app := fx.New(
			fx.NopLogger,
			fx.Supply(slog.New(slog.NewTextHandler(io.Discard, nil)), kcfg, schemas.DefaultConfiguration(), cfg),
			kafka.Module, schemas.Module, producers.Module, Module,
			fx.Populate(&sink, &records, &cluster),
		)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
		client, err := cluster.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		a := attempt("m-1", payment, 1, "psp-a", "", schemas.ClassNone, base)
		ra, err := records.Attempt(a)
		if err != nil {
			t.Fatal(err)
		}
		rr, err := records.Result(result(schemas.StatusApproved, a))
		if err != nil {
			t.Fatal(err)
		}
		if err := client.ProduceSync(ctx, ra, rr).FirstErr(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "the module's sink to load", func() bool { return sink.Stats().Committed == 2 })
		if err := app.Stop(ctx); err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		if a, p := sink.Inserted(); a != 1 || p != 1 {
			t.Fatalf("run %d: Inserted() = %d, %d", run+1, a, p)
		}
	}
	c := openTest(t, cfg)
	if n := count(t, c, "SELECT count() FROM "+c.table("attempts")); n != 2 {
		t.Fatalf("%d attempts in ClickHouse after two runs, want 2", n)
	}
}
