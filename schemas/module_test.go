package schemas

import (
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

func TestModule(t *testing.T) {
	var s *Serde
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(DefaultConfiguration()),
		Module,
		fx.Populate(&s),
	)
	app.RequireStart().RequireStop()
	if s == nil || s.SchemaIDs()[NamePaymentRequested] != SchemaIDPaymentRequested {
		t.Fatalf("module built %+v", s)
	}
}
