package bench

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// Verification is what reading payments.results back found: a fast run
// that lost or doubled results would be no result at all.
type Verification struct {
	// Results are the final results read; Payments the distinct payments
	// they are for; Duplicates the payments with more than one.
	Results, Payments, Duplicates int
	// Approved counts APPROVED results (every benchmark payment is
	// approvable).
	Approved int
}

// OK reports whether every one of n payments has exactly one result, and
// it approved.
func (v Verification) OK(n int) bool {
	return v.Payments == n && v.Results == n && v.Duplicates == 0 && v.Approved == n
}

// verifyResults reads payments.results and counts results per payment.
func verifyResults(ctx context.Context, cluster *kafka.Cluster, decoder interface{ Decode([]byte, any) error }, payments int) (Verification, error) {
	seen := make([]uint8, payments)
	var v Verification
	err := readTopic(ctx, cluster, cluster.Topics().Results, func(r *kgo.Record) error {
		var res schemas.PaymentResult
		if err := decoder.Decode(r.Value, &res); err != nil {
			return err
		}
		v.Results++
		if res.Status == schemas.StatusApproved {
			v.Approved++
		}
		i := paymentIndex([]byte(res.PaymentID))
		if i < 0 || i >= payments {
			return nil
		}
		switch seen[i] {
		case 0:
			v.Payments++
		case 1:
			v.Duplicates++
		}
		if seen[i] < 2 {
			seen[i]++
		}
		return nil
	})
	return v, err
}
