package health

import (
	"fmt"
	"testing"

	"github.com/payroute/payroute/schemas"
)

// BenchmarkPayment is the Tracker's cost per payment on the processor's
// path: one Order of three candidates and one Observe, with one candidate
// down and one probing.
func BenchmarkPayment(b *testing.B) {
	cfg := DefaultConfiguration()
	tr, err := New(cfg, quiet)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		tr.Observe(Observation{PSP: "down", Class: schemas.ClassPSPError})
	}
	list := cands("down", "a", "b")
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("pay-%d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		order := tr.Order(list, "EUR", "visa", ids[i%len(ids)])
		tr.Observe(Observation{PSP: order[0].PSP, Currency: "EUR", Network: "visa"})
	}
}
