package analytics

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// Historical payment requests, for replay: from ClickHouse's requests table
// (what the sink loaded) or straight from the payments.requested topic.
// Either way only requests the processor accepts are returned, each
// payment once (the first request of a payment_id, as the processor
// handles it), in the order they were requested.

// RequestsFromClickHouse reads the requests of the replay period and
// merchant from <database>.requests. The vault token and card fingerprint
// are not stored there, so they come back empty; routing never reads them.
func RequestsFromClickHouse(ctx context.Context, c *Conn, opts ReplayOptions) ([]*schemas.PaymentRequested, error) {
	q := `SELECT payment_id, reference_payment_id, merchant_id, operation, amount_minor, currency,
    method_type, card_network, card_funding, card_bin, card_last4, issuer_country, expiry_month, expiry_year,
    customer_id, customer_country, recurring, route_ref, provider_override,
    candidate_psps, candidate_methods, candidate_ranks, metadata_keys, metadata_values, requested_at_ms
FROM ` + c.table("requests") + ` WHERE ` + opts.requestedWhere() + `
ORDER BY source_topic, source_partition, source_offset`
	var out []*schemas.PaymentRequested
	err := scan(ctx, c, q, func(r scanner) error {
		p := &schemas.PaymentRequested{}
		var op, routeRef, override string
		var recurring uint8
		var psps, methods, keys, values []string
		var ranks []int32
		var at uint64
		pm := &p.PaymentMethod
		if err := r.Scan(&p.PaymentID, &p.ReferencePaymentID, &p.MerchantID, &op, &p.AmountMinor, &p.Currency,
			&pm.Type, &pm.Network, &pm.Funding, &pm.BIN, &pm.Last4, &pm.IssuerCountry, &pm.ExpiryMonth, &pm.ExpiryYear,
			&p.Customer.CustomerID, &p.Customer.Country, &recurring, &routeRef, &override,
			&psps, &methods, &ranks, &keys, &values, &at); err != nil {
			return err
		}
		p.Operation = schemas.Operation(op)
		p.Recurring = recurring != 0
		p.Routing.RouteRef, p.Routing.ProviderOverride = routeRef, override
		for i := range psps {
			cand := schemas.Candidate{PSP: psps[i]}
			if i < len(methods) {
				cand.Method = methods[i]
			}
			if i < len(ranks) {
				cand.Rank = ranks[i]
			}
			p.Routing.Candidates = append(p.Routing.Candidates, cand)
		}
		if len(keys) > 0 {
			p.Metadata = make(map[string]string, len(keys))
			for i, k := range keys {
				if i < len(values) {
					p.Metadata[k] = values[i]
				}
			}
		}
		p.RequestedAtMs = int64(at)
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.table("requests"), err)
	}
	out = firstPerPayment(out)
	sortRequests(out)
	return out, nil
}

// requestedWhere bounds requested_at_ms by the replay period, to the
// millisecond, and the merchant.
func (o ReplayOptions) requestedWhere() string {
	cond := "1"
	if !o.From.IsZero() {
		cond += fmt.Sprintf(" AND requested_at_ms >= %d", max(0, o.From.UnixMilli()))
	}
	if !o.To.IsZero() {
		cond += fmt.Sprintf(" AND requested_at_ms < %d", max(0, o.To.UnixMilli()))
	}
	if o.Merchant != "" {
		cond += " AND merchant_id = " + quoteString(o.Merchant)
	}
	return cond
}

// inPeriod says whether a request belongs to the replay.
func (o ReplayOptions) inPeriod(p *schemas.PaymentRequested) bool {
	return (o.Merchant == "" || p.MerchantID == o.Merchant) &&
		(o.From.IsZero() || p.RequestedAtMs >= o.From.UnixMilli()) &&
		(o.To.IsZero() || p.RequestedAtMs < o.To.UnixMilli())
}

// firstPerPayment keeps the first request of each payment_id, in the order
// given: the order of the records, which is the processor's (all
// the records of one payment are in one partition).
func firstPerPayment(in []*schemas.PaymentRequested) []*schemas.PaymentRequested {
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, p := range in {
		if !seen[p.PaymentID] {
			seen[p.PaymentID] = true
			out = append(out, p)
		}
	}
	return out
}

// kafkaLookback is how far before the period the topic is read from: a
// record's timestamp (when it was produced) normally follows the request's
// requested_at, but producers' clocks differ.
const kafkaLookback = time.Hour

// kafkaIdle is how long reading the topic waits for more records before it
// takes the partitions as read.
const kafkaIdle = 2 * time.Second

// RequestsFromKafka reads the requests of the replay period and merchant
// from payments.requested: every partition from the first record produced
// an hour before the period (or the beginning) up to the end offsets at the
// time of the call. Records that do not decode, or that the processor would
// reject, are skipped.
func RequestsFromKafka(ctx context.Context, cluster *kafka.Cluster, decoder Decoder, opts ReplayOptions) ([]*schemas.PaymentRequested, error) {
	topic := cluster.Topics().Requested
	admClient, err := cluster.NewClient()
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(admClient)
	defer adm.Close()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	var starts kadm.ListedOffsets
	if opts.From.IsZero() {
		starts, err = adm.ListStartOffsets(ctx, topic)
	} else {
		starts, err = adm.ListOffsetsAfterMilli(ctx, opts.From.Add(-kafkaLookback).UnixMilli(), topic)
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	if err := starts.Error(); err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	from := map[int32]kgo.Offset{}
	remaining := map[int32]int64{} // partition -> end offset still to reach
	ends.Each(func(e kadm.ListedOffset) {
		s, ok := starts.Lookup(topic, e.Partition)
		if !ok || s.Offset >= e.Offset {
			return
		}
		from[e.Partition] = kgo.NewOffset().At(s.Offset)
		remaining[e.Partition] = e.Offset
	})
	if len(from) == 0 {
		return nil, nil
	}
	client, err := cluster.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	var out []*schemas.PaymentRequested
	for len(remaining) > 0 {
		// The last offsets before the end may be transaction markers or
		// aborted records, which are never delivered: a partition is done
		// when its record at end-1 is read, or when nothing more comes for
		// kafkaIdle.
		pctx, cancel := context.WithTimeout(ctx, kafkaIdle)
		fetches := client.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", topic, err)
		}
		var ferr error
		fetches.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("read %s partition %d: %w", topic, p, err)
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		if fetches.NumRecords() == 0 {
			break
		}
		fetches.EachRecord(func(rec *kgo.Record) {
			end, ok := remaining[rec.Partition]
			if !ok || rec.Offset >= end {
				return
			}
			if rec.Offset >= end-1 {
				delete(remaining, rec.Partition)
			}
			p := new(schemas.PaymentRequested)
			if err := decoder.Decode(rec.Value, p); err == nil && p.Validate() == nil && opts.inPeriod(p) {
				out = append(out, p)
			}
		})
	}
	out = firstPerPayment(out)
	sortRequests(out)
	return out, nil
}

// sortRequests orders requests by time, then payment_id.
func sortRequests(ps []*schemas.PaymentRequested) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].RequestedAtMs != ps[j].RequestedAtMs {
			return ps[i].RequestedAtMs < ps[j].RequestedAtMs
		}
		return ps[i].PaymentID < ps[j].PaymentID
	})
}
