package chaos

import (
	"testing"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/schemas"
)

// A plan is a function of the profile: the same seed gives the same
// payments, duplicates and bad inputs, and nothing in it looks like a card
// number.
func TestPlanIsReproducibleAndClean(t *testing.T) {
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	topics := kafka.DefaultConfiguration().Topics()
	records := producers.NewRecords(serde, topics)
	p := ShortProfile()
	p.Payments, p.DuplicateShare, p.BadInputShare = 3000, 0.05, 0.02
	a, err := plan(p, topics.Requested, records)
	if err != nil {
		t.Fatal(err)
	}
	b, err := plan(p, topics.Requested, records)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("plans of one seed differ in length: %d, %d", len(a), len(b))
	}
	var payments, dups, bad int
	ids := map[string]bool{}
	for i := range a {
		switch {
		case a[i].bad != nil:
			bad++
			if string(a[i].bad.Key) != string(b[i].bad.Key) || string(a[i].bad.Value) != string(b[i].bad.Value) {
				t.Fatalf("item %d: bad inputs differ", i)
			}
		case a[i].dup:
			dups++
			if !ids[a[i].payment.PaymentID] {
				t.Fatalf("item %d duplicates %s, which was not published before", i, a[i].payment.PaymentID)
			}
		default:
			payments++
			pa, pb := a[i].payment, b[i].payment
			if pa.PaymentID != pb.PaymentID || pa.PaymentMethod.Token != pb.PaymentMethod.Token || pa.AmountMinor != pb.AmountMinor {
				t.Fatalf("item %d: %+v vs %+v", i, pa, pb)
			}
			if err := pa.Validate(); err != nil {
				t.Fatalf("planned payment %s is invalid: %v", pa.PaymentID, err)
			}
			ids[pa.PaymentID] = true
			rec, err := records.Requested(pa)
			if err != nil {
				t.Fatal(err)
			}
			if schemas.ContainsPAN(string(rec.Value)) || schemas.ContainsPAN(pa.PaymentID) {
				t.Fatalf("payment %s looks like it carries a card number", pa.PaymentID)
			}
		}
	}
	if payments != p.Payments || dups < 100 || dups > 200 || bad < 40 || bad > 80 {
		t.Fatalf("%d payments, %d duplicates, %d bad inputs", payments, dups, bad)
	}
	p.Seed++
	c, err := plan(p, topics.Requested, records)
	if err != nil {
		t.Fatal(err)
	}
	if c[0].payment.PaymentID == a[0].payment.PaymentID {
		t.Fatal("another seed gives the same payment ids")
	}
}
