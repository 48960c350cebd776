package health

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

func TestModuleStartsTheTrackerOnTheCluster(t *testing.T) {
	b := newBroker(t)
	var tr *Tracker
	app := fx.New(
		fx.NopLogger,
		fx.Supply(DefaultConfiguration(), slog.New(slog.DiscardHandler)),
		fx.Provide(func() *kafka.Cluster { return b.cluster }, func() *schemas.Serde { return b.serde }),
		Module,
		fx.Populate(&tr),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		tr.Observe(Observation{PSP: "psp-x", Class: schemas.ClassPSPError})
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	r, ok := b.latest(t, "psp-x", WholeAccount)
	if !ok || r.State != schemas.HealthDown || r.InstanceID != tr.InstanceID() {
		t.Fatalf("after stop, the topic holds %+v (found %v)", r, ok)
	}
}
