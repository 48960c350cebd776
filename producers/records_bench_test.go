package producers

import (
	"testing"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// BenchmarkRecords builds the records the processor emits for a payment
// approved at its first PSP, the common case: its AttemptRecorded and its
// PaymentResult.
//
//	go test -run '^$' -bench Records -benchmem ./producers/
func BenchmarkRecords(b *testing.B) {
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		b.Fatal(err)
	}
	r := NewRecords(serde, kafka.DefaultConfiguration().Topics())
	attempt := &schemas.AttemptRecorded{
		AttemptID: "bench-0000042-1", PaymentID: "bench-0000042", MerchantID: "merchant-7", AttemptNumber: 1, Rank: 1,
		PSP: "bench-psp", Method: "card", Operation: schemas.OpAuthorize, AmountMinor: 1999, Currency: "EUR",
		Outcome: schemas.OutcomeApproved, Message: "approved", PSPReference: "sim-bench-psp-000042",
		IdempotencyKey: "bench-0000042:bench-psp:AUTHORIZE", LatencyMs: 1, CardNetwork: "visa", CardFunding: "credit",
		CardBIN: "424242", IssuerCountry: "DE", ConfigVersion: "bench", StartedAtMs: 1_760_000_000_500, FinishedAtMs: 1_760_000_000_501,
	}
	result := &schemas.PaymentResult{
		PaymentID: "bench-0000042", MerchantID: "merchant-7", Operation: schemas.OpAuthorize, Status: schemas.StatusApproved,
		AmountMinor: 1999, Currency: "EUR", PSP: "bench-psp", PSPReference: "sim-bench-psp-000042", FirstPSP: "bench-psp",
		AttemptCount: 1, Path: []schemas.AttemptSummary{{AttemptID: "bench-0000042-1", PSP: "bench-psp", Rank: 1, Outcome: schemas.OutcomeApproved}},
		Reason: "approved", ConfigVersion: "bench", RequestedAtMs: 1_760_000_000_000, CompletedAtMs: 1_760_000_000_502,
	}
	b.Run("Attempt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Attempt(attempt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Result", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Result(result); err != nil {
				b.Fatal(err)
			}
		}
	})
}
