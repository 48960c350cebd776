package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp/simulator"
	"github.com/payroute/payroute/schemas"
)

// pspNames are the simulated PSPs of a run.
var pspNames = []string{"psp-a", "psp-b", "psp-c"}

// chaosRoute is the stored route payments may name with route_ref.
const chaosRoute = "Route_chaos"

// tokens are the test tokens payments carry, with their weights: mostly
// approvals, and every behaviour the simulator has (declines, a customer
// error that waits for a customer action, PSP errors that fail over,
// timeouts after processing, malformed answers).
var tokens = []struct {
	token  string
	weight int
}{
	{simulator.TokenApprove, 70},
	{simulator.FailAt("psp-a"), 5},
	{simulator.FailAt("psp-b"), 3},
	{simulator.TokenSoftDecline, 3},
	{simulator.TokenHardDecline, 3},
	{simulator.TokenCustomerError, 4},
	{simulator.TokenTimeout, 4},
	{simulator.TokenRateLimited, 2},
	{simulator.TokenPSP503, 2},
	{simulator.TokenPSP500, 2},
	{simulator.TokenMalformed, 2},
}

var currencies = []string{"EUR", "USD", "GBP", "JPY", "CHF"}

// planItem is one record upstream publishes.
type planItem struct {
	payment *schemas.PaymentRequested // nil for bad input
	bad     *kgo.Record               // bad input
	dup     bool                      // a duplicate of an earlier payment
}

// plan builds what upstream publishes, in order: every payment once, a
// share of them again later, and bad input records in between.
func plan(p Profile, topic string, records *producers.Records) ([]planItem, error) {
	rng := rand.New(rand.NewPCG(p.Seed, 0x9e3779b97f4a7c15))
	total := 0
	for _, t := range tokens {
		total += t.weight
	}
	var items []planItem
	var done []*schemas.PaymentRequested
	for i := 0; i < p.Payments; i++ {
		pay := payment(rng, p.Seed, i, total)
		items = append(items, planItem{payment: pay})
		done = append(done, pay)
		if rng.Float64() < p.DuplicateShare && i > 0 {
			// A duplicate of a payment published a little earlier: some are
			// still in flight, some final.
			back := 1 + rng.IntN(min(i, 200))
			items = append(items, planItem{payment: done[i-back], dup: true})
		}
		if rng.Float64() < p.BadInputShare {
			bad, err := badInput(rng, records, topic, fmt.Sprintf("chaos-%d-bad-%06d", p.Seed, i))
			if err != nil {
				return nil, err
			}
			items = append(items, planItem{bad: bad})
		}
	}
	return items, nil
}

// payment is the i-th payment of a run. Ids, fingerprints and references
// are letters and short digit runs only, so that nothing a run writes can
// look like a card number unless payroute put one there.
func payment(rng *rand.Rand, seed uint64, i, totalWeight int) *schemas.PaymentRequested {
	w := rng.IntN(totalWeight)
	token := tokens[0].token
	for _, t := range tokens {
		if w < t.weight {
			token = t.token
			break
		}
		w -= t.weight
	}
	op := schemas.OpCharge
	if rng.IntN(4) == 0 {
		op = schemas.OpAuthorize
	}
	network := "visa"
	if rng.IntN(3) == 0 {
		network = "mastercard"
	}
	p := &schemas.PaymentRequested{
		PaymentID:   fmt.Sprintf("chaos-%d-p%06d", seed, i), // a letter between the digit runs: see ContainsPAN
		MerchantID:  fmt.Sprintf("merchant-%c", 'a'+rune(rng.IntN(5))),
		Operation:   op,
		AmountMinor: 100 + rng.Int64N(500_000),
		Currency:    currencies[rng.IntN(len(currencies))],
		PaymentMethod: schemas.PaymentMethod{
			Token: token, Type: "card", Network: network, Funding: "credit",
			BIN: "424242", Last4: "4242", IssuerCountry: "FR", ExpiryMonth: 12, ExpiryYear: 2030,
			Fingerprint: "fp-" + letters(rng, 12),
		},
		Customer:      schemas.Customer{CustomerID: "cus-" + letters(rng, 8), Country: "FR"},
		RequestedAtMs: time.Now().UnixMilli(),
		Metadata:      map[string]string{"order": "ord-" + letters(rng, 10)},
	}
	switch rng.IntN(4) {
	case 0: // the default route
	case 1:
		p.Routing.RouteRef = chaosRoute
	default: // inline candidates, one to three PSPs in random order
		perm := rng.Perm(len(pspNames))
		for rank, j := range perm[:1+rng.IntN(len(pspNames))] {
			p.Routing.Candidates = append(p.Routing.Candidates, schemas.Candidate{PSP: pspNames[j], Method: "card", Rank: int32(rank + 1)})
		}
	}
	return p
}

func letters(rng *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(byte('a' + rng.IntN(26)))
	}
	return b.String()
}

// badInput is one bad record for payments.requested, keyed by id.
func badInput(rng *rand.Rand, records *producers.Records, topic, id string) (*kgo.Record, error) {
	rec := &kgo.Record{Topic: topic, Key: []byte(id)}
	switch rng.IntN(5) {
	case 0: // not Avro at all
		rec.Value = []byte("garbage for " + id)
	case 1: // truncated Avro
		good, err := records.Requested(&schemas.PaymentRequested{PaymentID: id, Operation: schemas.OpCharge, AmountMinor: 100, Currency: "EUR",
			PaymentMethod: schemas.PaymentMethod{Token: simulator.TokenApprove}})
		if err != nil {
			return nil, err
		}
		rec.Value = good.Value[:len(good.Value)/2]
	case 2: // an unknown schema id
		rec.Value = []byte{0, 0, 0, 3, 231, 2, 4, 6}
	case 3: // negative amount
		r, err := records.Requested(&schemas.PaymentRequested{PaymentID: id, Operation: schemas.OpCharge, AmountMinor: -5, Currency: "EUR",
			PaymentMethod: schemas.PaymentMethod{Token: simulator.TokenApprove}})
		if err != nil {
			return nil, err
		}
		rec.Value = r.Value
	default: // unknown currency
		r, err := records.Requested(&schemas.PaymentRequested{PaymentID: id, Operation: schemas.OpCharge, AmountMinor: 100, Currency: "XQQ",
			PaymentMethod: schemas.PaymentMethod{Token: simulator.TokenApprove}})
		if err != nil {
			return nil, err
		}
		rec.Value = r.Value
	}
	return rec, nil
}
