package analytics

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/payroute/payroute/schemas"
)

// world is a generated history of payments with everything the analytics
// can be asked about: three PSPs with different success, latency and fees,
// an outage of psp-a, failovers, declines with codes, customer errors, in
// doubt attempts resolved (or not) by a later attempt with the same
// idempotency key, two routing configuration versions with several rules,
// two merchants, currencies and card networks, and requests the processor
// rejects. It is deterministic for a seed; the tests compute the expected
// answers from it in Go and compare them with what ClickHouse says.
type world struct {
	requests []*schemas.PaymentRequested // every request, invalid ones included
	attempts []*schemas.AttemptRecorded
	results  []*schemas.PaymentResult
	// invalid are the requests the processor rejects before routing.
	invalid map[string]bool
	// from and to bound the time of every event.
	from, to time.Time
}

// events lists the world's events in publishing order: each payment's
// request, attempts and result.
func (w *world) events() []any {
	byPayment := map[string][]*schemas.AttemptRecorded{}
	for _, a := range w.attempts {
		byPayment[a.PaymentID] = append(byPayment[a.PaymentID], a)
	}
	results := map[string]*schemas.PaymentResult{}
	for _, r := range w.results {
		results[r.PaymentID] = r
	}
	var out []any
	for _, r := range w.requests {
		out = append(out, r)
		for _, a := range byPayment[r.PaymentID] {
			out = append(out, a)
		}
		if res, ok := results[r.PaymentID]; ok {
			out = append(out, res)
		}
	}
	return out
}

// pspProfile is how a generated PSP behaves: the weight of each outcome
// class ("" approved), latency range, and fee schedule.
type pspProfile struct {
	weights      map[schemas.Class]int
	latencyMin   int64
	latencyMax   int64
	feeBps       int64 // on approved attempts
	feeFixed     int64 // on approved attempts, per currency unit
	declineFee   int64 // on declined attempts
	outageFrom   int   // minute offsets of an outage (psp_error mostly)
	outageTo     int
	outageWeight map[schemas.Class]int
}

var worldPSPs = map[string]pspProfile{
	"psp-a": {
		weights: map[schemas.Class]int{"": 70, schemas.ClassSoftDecline: 6, schemas.ClassHardDecline: 4,
			schemas.ClassCustomerError: 2, schemas.ClassPSPError: 11, schemas.ClassRateLimited: 3, schemas.ClassInDoubt: 4},
		latencyMin: 80, latencyMax: 400, feeBps: 290, feeFixed: 30, declineFee: 5,
		outageFrom: 40, outageTo: 55,
		outageWeight: map[schemas.Class]int{"": 10, schemas.ClassPSPError: 85, schemas.ClassInDoubt: 5},
	},
	"psp-b": {
		weights: map[schemas.Class]int{"": 80, schemas.ClassSoftDecline: 5, schemas.ClassHardDecline: 5,
			schemas.ClassCustomerError: 1, schemas.ClassPSPError: 6, schemas.ClassRateLimited: 1, schemas.ClassInDoubt: 2},
		latencyMin: 120, latencyMax: 600, feeBps: 250, feeFixed: 20, declineFee: 0,
	},
	"psp-c": {
		weights: map[schemas.Class]int{"": 60, schemas.ClassSoftDecline: 10, schemas.ClassHardDecline: 5,
			schemas.ClassCustomerError: 3, schemas.ClassPSPError: 17, schemas.ClassRateLimited: 3, schemas.ClassInDoubt: 2},
		latencyMin: 50, latencyMax: 900, feeBps: 190, feeFixed: 35, declineFee: 10,
	},
}

// Decline and error codes per class, picked at random.
var worldCodes = map[schemas.Class][]string{
	schemas.ClassSoftDecline:   {"insufficient_funds", "try_again_later"},
	schemas.ClassHardDecline:   {"stolen_card", "expired_card", "do_not_honor"},
	schemas.ClassCustomerError: {"incorrect_cvc", "3ds_failed"},
	schemas.ClassPSPError:      {"503", "500"},
	schemas.ClassRateLimited:   {"429"},
	schemas.ClassInDoubt:       {"timeout"},
}

// issuerCodes are the issuer's codes behind the PSP's decline codes.
var issuerCodes = map[string][]string{
	"insufficient_funds": {"51"},
	"try_again_later":    {"91", "96"},
	"stolen_card":        {"43"},
	"expired_card":       {"54"},
	"do_not_honor":       {"05"},
}

// newWorld generates n payments (plus invalid requests) starting at start
// and spread over two hours.
func newWorld(seed uint64, n int, start time.Time) *world {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := &world{invalid: map[string]bool{}, from: start, to: start.Add(2*time.Hour + time.Minute)}
	pick := func(weights map[schemas.Class]int) schemas.Class {
		keys := make([]string, 0, len(weights))
		total := 0
		for k, v := range weights {
			keys = append(keys, string(k))
			total += v
		}
		sort.Strings(keys)
		x := rng.IntN(total)
		for _, k := range keys {
			x -= weights[schemas.Class(k)]
			if x < 0 {
				return schemas.Class(k)
			}
		}
		panic("unreachable")
	}
	one := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	span := 2 * time.Hour
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(int64(span) * int64(i) / int64(n))).Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		minute := int(at.Sub(start) / time.Minute)
		merchant := "m-1"
		if rng.IntN(10) < 3 {
			merchant = "m-2"
		}
		currency := one([]string{"EUR", "EUR", "USD"})
		network := one([]string{"visa", "visa", "mastercard"})
		req := &schemas.PaymentRequested{
			PaymentID:   fmt.Sprintf("pay-%05d", i),
			MerchantID:  merchant,
			Operation:   schemas.OpAuthorize,
			AmountMinor: int64(500 + rng.IntN(49500)),
			Currency:    currency,
			PaymentMethod: schemas.PaymentMethod{
				Token: fmt.Sprintf("tok_%05d", i), Type: "card", Network: network, Funding: one([]string{"credit", "debit"}),
				BIN: one([]string{"411111", "550000", "424242"}), Last4: fmt.Sprintf("%04d", rng.IntN(10000)),
				IssuerCountry: one([]string{"FR", "DE", "US"}), ExpiryMonth: int32(1 + rng.IntN(12)), ExpiryYear: 2030,
				Fingerprint: fmt.Sprintf("fp_%05d", i),
			},
			Customer:      schemas.Customer{CustomerID: fmt.Sprintf("cus-%03d", rng.IntN(300)), Country: "FR"},
			Recurring:     rng.IntN(5) == 0,
			Metadata:      map[string]string{"channel": one([]string{"web", "app"})},
			RequestedAtMs: at.UnixMilli(),
		}
		// Every 50th request is one the processor rejects (amount 0): it
		// has a REJECTED result and no attempt.
		if i%50 == 49 {
			req.AmountMinor = 0
			w.requests = append(w.requests, req)
			w.invalid[req.PaymentID] = true
			w.results = append(w.results, &schemas.PaymentResult{
				PaymentID: req.PaymentID, MerchantID: merchant, Operation: schemas.OpAuthorize,
				Status: schemas.StatusRejected, Currency: currency, Class: schemas.ClassInvalidRequest,
				Reason: "amount_minor: must be > 0", RequestedAtMs: req.RequestedAtMs, CompletedAtMs: req.RequestedAtMs + 2,
			})
			continue
		}
		// Routing: configuration v1 for the first hour, v2 after; some
		// payments carry their own routing.
		version, rule := "v1", "default"
		route := []string{"psp-a", "psp-b", "psp-c"}
		if minute >= 60 {
			version = "v2"
			if currency == "EUR" {
				rule, route = "eu-cards", []string{"psp-b", "psp-a", "psp-c"}
			} else {
				route = []string{"psp-a", "psp-c", "psp-b"}
			}
		}
		switch rng.IntN(20) {
		case 0:
			rule, route = "override", []string{"psp-c"}
			req.Routing.ProviderOverride = "psp-c"
		case 1:
			rule, route = "inline", []string{"psp-c", "psp-a"}
			req.Routing.Candidates = []schemas.Candidate{{PSP: "psp-c", Rank: 1}, {PSP: "psp-a", Rank: 2}}
		}
		w.requests = append(w.requests, req)

		// Attempts, as the processor makes them.
		var path []*schemas.AttemptRecorded
		clock := at.Add(3 * time.Millisecond)
		status := schemas.Status("")
		record := func(psp string, rank int, class schemas.Class, latency int64, code string) *schemas.AttemptRecorded {
			prof := worldPSPs[psp]
			outcome := schemas.OutcomeApproved
			switch class {
			case schemas.ClassNone:
			case schemas.ClassHardDecline, schemas.ClassSoftDecline:
				outcome = schemas.OutcomeDeclined
			default:
				outcome = schemas.OutcomeError
			}
			var fee int64
			switch outcome {
			case schemas.OutcomeApproved:
				fee = req.AmountMinor*prof.feeBps/10000 + prof.feeFixed
			case schemas.OutcomeDeclined:
				fee = prof.declineFee
			}
			prev := ""
			if len(path) > 0 {
				prev = path[len(path)-1].PSP
			}
			a := &schemas.AttemptRecorded{
				AttemptID: fmt.Sprintf("%s#%d", req.PaymentID, len(path)+1), PaymentID: req.PaymentID, MerchantID: merchant,
				AttemptNumber: int32(len(path) + 1), Rank: int32(rank), PSP: psp, Method: "card", PreviousPSP: prev,
				Operation: schemas.OpAuthorize, AmountMinor: req.AmountMinor, Currency: currency,
				Outcome: outcome, Class: class, PSPCode: code, Message: string(class),
				PSPReference: fmt.Sprintf("%s-ref-%d", psp, i), IdempotencyKey: req.PaymentID + ":" + psp + ":AUTHORIZE",
				LatencyMs: latency, FeeMinor: fee, CardNetwork: network, CardFunding: req.PaymentMethod.Funding,
				CardBIN: req.PaymentMethod.BIN, IssuerCountry: req.PaymentMethod.IssuerCountry,
				ConfigVersion: version, RuleID: rule,
				StartedAtMs: clock.UnixMilli(), FinishedAtMs: clock.UnixMilli() + latency,
			}
			if class == schemas.ClassNone {
				a.PSPCode = "approved"
			}
			if ic, ok := issuerCodes[code]; ok {
				a.IssuerCode = ic[rng.IntN(len(ic))]
			}
			clock = clock.Add(time.Duration(latency+7) * time.Millisecond)
			path = append(path, a)
			w.attempts = append(w.attempts, a)
			return a
		}
	ranks:
		for rank := 1; rank <= len(route); rank++ {
			psp := route[rank-1]
			prof := worldPSPs[psp]
			weights := prof.weights
			if prof.outageWeight != nil && minute >= prof.outageFrom && minute < prof.outageTo {
				weights = prof.outageWeight
			}
			class := pick(weights)
			code := "approved"
			if class != schemas.ClassNone {
				code = one(worldCodes[class])
			}
			latency := prof.latencyMin + rng.Int64N(prof.latencyMax-prof.latencyMin+1)
			if class != schemas.ClassInDoubt {
				record(psp, rank, class, latency, code)
			} else {
				// The call timed out (latency: the timeout), and status
				// inquiries at the same PSP with the same key followed
				// within the same attempt, which is recorded once with
				// what they found: mostly an answer (approved, or never
				// processed: fail over), sometimes none (in doubt).
				inquiries, lasted := int32(1+rng.IntN(6)), int64(200+rng.IntN(3000))
				switch rng.IntN(10) {
				case 0, 1, 2:
					inquiries, lasted = 9, 20000 // the whole inquiry window
				case 3, 4, 5, 6:
					class, code = schemas.ClassNone, "approved"
				default:
					class, code = schemas.ClassPSPError, "not_processed"
				}
				a := record(psp, rank, class, 5000, code)
				a.Inquiries, a.InDoubtMs = inquiries, lasted
				a.FinishedAtMs += lasted
				clock = clock.Add(time.Duration(lasted) * time.Millisecond)
				if class == schemas.ClassInDoubt {
					status = schemas.StatusInDoubt
					break ranks
				}
			}
			switch {
			case class == schemas.ClassNone:
				status = schemas.StatusApproved
			case class == schemas.ClassHardDecline || class == schemas.ClassSoftDecline:
				status = schemas.StatusDeclined
			case class == schemas.ClassCustomerError:
				status = schemas.StatusActionRequired
			case class.FailsOver():
				if rank < len(route) {
					continue
				}
				status = schemas.StatusFailed
			}
			break
		}
		first, last := path[0], path[len(path)-1]
		res := &schemas.PaymentResult{
			PaymentID: req.PaymentID, MerchantID: merchant, Operation: schemas.OpAuthorize, Status: status,
			AmountMinor: req.AmountMinor, Currency: currency, PSP: last.PSP, PSPReference: last.PSPReference,
			FirstPSP: first.PSP, AttemptCount: int32(len(path)), Class: last.Class, PSPCode: last.PSPCode,
			ConfigVersion: version, RuleID: rule, RequestedAtMs: req.RequestedAtMs, CompletedAtMs: clock.UnixMilli() + 1,
		}
		for _, a := range path {
			res.Path = append(res.Path, schemas.AttemptSummary{AttemptID: a.AttemptID, PSP: a.PSP, Rank: a.Rank,
				Outcome: a.Outcome, Class: a.Class, PSPCode: a.PSPCode})
		}
		w.results = append(w.results, res)
	}
	return w
}
