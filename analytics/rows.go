package analytics

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/payroute/payroute/schemas"
)

// source is where a row was read in Kafka: the (topic, partition, offset)
// stored with every raw row, from which ClickHouse knows how far it has
// loaded each partition (migration 0002). epoch is the sink's assignment of
// the partition the record was polled under; it is not stored.
type source struct {
	Topic     string
	Partition int32
	Offset    int64
	epoch     uint64
}

// attemptRow is one row of <database>.attempts.
type attemptRow struct {
	a   *schemas.AttemptRecorded
	src source
}

// paymentRow is one row of <database>.payments.
type paymentRow struct {
	p   *schemas.PaymentResult
	src source
}

// column is one inserted column: its name and how a row gives its value, in
// the Go type clickhouse-go expects for the ClickHouse type of the
// migration. Keeping name and value side by side is what keeps the named
// column list of the INSERT and the appended values in step.
type column[R any] struct {
	name  string
	value func(*R) any
}

var attemptColumns = []column[attemptRow]{
	{"attempt_id", func(r *attemptRow) any { return r.a.AttemptID }},
	{"payment_id", func(r *attemptRow) any { return r.a.PaymentID }},
	{"merchant_id", func(r *attemptRow) any { return r.a.MerchantID }},
	{"attempt_number", func(r *attemptRow) any { return u32(int64(r.a.AttemptNumber)) }},
	{"rank", func(r *attemptRow) any { return u32(int64(r.a.Rank)) }},
	{"psp", func(r *attemptRow) any { return r.a.PSP }},
	{"method", func(r *attemptRow) any { return r.a.Method }},
	{"previous_psp", func(r *attemptRow) any { return r.a.PreviousPSP }},
	{"operation", func(r *attemptRow) any { return string(r.a.Operation) }},
	{"amount_minor", func(r *attemptRow) any { return r.a.AmountMinor }},
	{"currency", func(r *attemptRow) any { return r.a.Currency }},
	{"outcome", func(r *attemptRow) any { return string(r.a.Outcome) }},
	{"class", func(r *attemptRow) any { return string(r.a.Class) }},
	{"psp_code", func(r *attemptRow) any { return r.a.PSPCode }},
	{"issuer_code", func(r *attemptRow) any { return r.a.IssuerCode }},
	{"message", func(r *attemptRow) any { return r.a.Message }},
	{"psp_reference", func(r *attemptRow) any { return r.a.PSPReference }},
	{"idempotency_key", func(r *attemptRow) any { return r.a.IdempotencyKey }},
	{"latency_ms", func(r *attemptRow) any { return u64(r.a.LatencyMs) }},
	{"fee_minor", func(r *attemptRow) any { return r.a.FeeMinor }},
	{"card_network", func(r *attemptRow) any { return r.a.CardNetwork }},
	{"card_funding", func(r *attemptRow) any { return r.a.CardFunding }},
	{"card_bin", func(r *attemptRow) any { return r.a.CardBIN }},
	{"issuer_country", func(r *attemptRow) any { return r.a.IssuerCountry }},
	{"config_version", func(r *attemptRow) any { return r.a.ConfigVersion }},
	{"rule_id", func(r *attemptRow) any { return r.a.RuleID }},
	{"started_at", func(r *attemptRow) any { return dateTime(r.a.StartedAtMs) }},
	{"started_at_ms", func(r *attemptRow) any { return u64(r.a.StartedAtMs) }},
	{"finished_at_ms", func(r *attemptRow) any { return u64(r.a.FinishedAtMs) }},
	{"source_topic", func(r *attemptRow) any { return r.src.Topic }},
	{"source_partition", func(r *attemptRow) any { return r.src.Partition }},
	{"source_offset", func(r *attemptRow) any { return u64(r.src.Offset) }},
}

var paymentColumns = []column[paymentRow]{
	{"payment_id", func(r *paymentRow) any { return r.p.PaymentID }},
	{"merchant_id", func(r *paymentRow) any { return r.p.MerchantID }},
	{"operation", func(r *paymentRow) any { return string(r.p.Operation) }},
	{"status", func(r *paymentRow) any { return string(r.p.Status) }},
	{"amount_minor", func(r *paymentRow) any { return r.p.AmountMinor }},
	{"currency", func(r *paymentRow) any { return r.p.Currency }},
	{"psp", func(r *paymentRow) any { return r.p.PSP }},
	{"psp_reference", func(r *paymentRow) any { return r.p.PSPReference }},
	{"first_psp", func(r *paymentRow) any { return r.p.FirstPSP }},
	{"psp_path", func(r *paymentRow) any { return pspPath(r.p) }},
	{"attempt_count", func(r *paymentRow) any { return u32(int64(r.p.AttemptCount)) }},
	{"class", func(r *paymentRow) any { return string(r.p.Class) }},
	{"psp_code", func(r *paymentRow) any { return r.p.PSPCode }},
	{"reason", func(r *paymentRow) any { return r.p.Reason }},
	{"retry_after_ms", func(r *paymentRow) any { return u64(r.p.RetryAfterMs) }},
	{"config_version", func(r *paymentRow) any { return r.p.ConfigVersion }},
	{"rule_id", func(r *paymentRow) any { return r.p.RuleID }},
	{"requested_at", func(r *paymentRow) any { return dateTime(r.p.RequestedAtMs) }},
	{"requested_at_ms", func(r *paymentRow) any { return u64(r.p.RequestedAtMs) }},
	{"completed_at", func(r *paymentRow) any { return dateTime(r.p.CompletedAtMs) }},
	{"completed_at_ms", func(r *paymentRow) any { return u64(r.p.CompletedAtMs) }},
	{"time_to_final_ms", func(r *paymentRow) any { return timeToFinal(r.p) }},
	{"source_topic", func(r *paymentRow) any { return r.src.Topic }},
	{"source_partition", func(r *paymentRow) any { return r.src.Partition }},
	{"source_offset", func(r *paymentRow) any { return u64(r.src.Offset) }},
}

// timeToFinal is the time_to_final_ms of a result: from the request to the
// result, or 0 when the request time is unknown. A request that could not
// be decoded has none (its REJECTED result carries requested_at_ms 0), and
// completed_at_ms - 0 would be a duration of half a century that swamps
// every average; a result completed before its request (clocks apart) has
// no meaningful duration either. 0 therefore means unknown: aggregates and
// queries count only rows with requested_at_ms > 0 and completed_at_ms >=
// requested_at_ms (migration 0005).
func timeToFinal(p *schemas.PaymentResult) uint64 {
	if p.RequestedAtMs <= 0 || p.CompletedAtMs < p.RequestedAtMs {
		return 0
	}
	return uint64(p.CompletedAtMs - p.RequestedAtMs)
}

// requestRow is one row of <database>.requests.
type requestRow struct {
	r   *schemas.PaymentRequested
	src source
}

var requestColumns = []column[requestRow]{
	{"payment_id", func(r *requestRow) any { return r.r.PaymentID }},
	{"reference_payment_id", func(r *requestRow) any { return r.r.ReferencePaymentID }},
	{"merchant_id", func(r *requestRow) any { return r.r.MerchantID }},
	{"operation", func(r *requestRow) any { return string(r.r.Operation) }},
	{"amount_minor", func(r *requestRow) any { return r.r.AmountMinor }},
	{"currency", func(r *requestRow) any { return r.r.Currency }},
	{"method_type", func(r *requestRow) any { return r.r.PaymentMethod.Type }},
	{"card_network", func(r *requestRow) any { return r.r.PaymentMethod.Network }},
	{"card_funding", func(r *requestRow) any { return r.r.PaymentMethod.Funding }},
	{"card_bin", func(r *requestRow) any { return r.r.PaymentMethod.BIN }},
	{"card_last4", func(r *requestRow) any { return r.r.PaymentMethod.Last4 }},
	{"issuer_country", func(r *requestRow) any { return r.r.PaymentMethod.IssuerCountry }},
	{"expiry_month", func(r *requestRow) any { return r.r.PaymentMethod.ExpiryMonth }},
	{"expiry_year", func(r *requestRow) any { return r.r.PaymentMethod.ExpiryYear }},
	{"customer_id", func(r *requestRow) any { return r.r.Customer.CustomerID }},
	{"customer_country", func(r *requestRow) any { return r.r.Customer.Country }},
	{"recurring", func(r *requestRow) any { return boolUInt8(r.r.Recurring) }},
	{"route_ref", func(r *requestRow) any { return r.r.Routing.RouteRef }},
	{"provider_override", func(r *requestRow) any { return r.r.Routing.ProviderOverride }},
	{"candidate_psps", func(r *requestRow) any { return candidateField(r.r, func(c schemas.Candidate) string { return c.PSP }) }},
	{"candidate_methods", func(r *requestRow) any {
		return candidateField(r.r, func(c schemas.Candidate) string { return c.Method })
	}},
	{"candidate_ranks", func(r *requestRow) any { return candidateRanks(r.r) }},
	{"metadata_keys", func(r *requestRow) any { k, _ := metadataArrays(r.r.Metadata); return k }},
	{"metadata_values", func(r *requestRow) any { _, v := metadataArrays(r.r.Metadata); return v }},
	{"requested_at", func(r *requestRow) any { return dateTime(r.r.RequestedAtMs) }},
	{"requested_at_ms", func(r *requestRow) any { return u64(r.r.RequestedAtMs) }},
	{"source_topic", func(r *requestRow) any { return r.src.Topic }},
	{"source_partition", func(r *requestRow) any { return r.src.Partition }},
	{"source_offset", func(r *requestRow) any { return u64(r.src.Offset) }},
}

func boolUInt8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// candidateField is one field of the request's inline candidates, in order.
func candidateField(r *schemas.PaymentRequested, f func(schemas.Candidate) string) []string {
	out := make([]string, len(r.Routing.Candidates))
	for i, c := range r.Routing.Candidates {
		out[i] = f(c)
	}
	return out
}

func candidateRanks(r *schemas.PaymentRequested) []int32 {
	out := make([]int32, len(r.Routing.Candidates))
	for i, c := range r.Routing.Candidates {
		out[i] = c.Rank
	}
	return out
}

// metadataArrays is the metadata as parallel arrays sorted by key, so that
// equal maps always give equal rows.
func metadataArrays(m map[string]string) (keys, values []string) {
	keys = make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	values = make([]string, len(keys))
	for i, k := range keys {
		values[i] = m[k]
	}
	return keys, values
}

// pspPath is the PSPs of a payment's attempts, oldest first.
func pspPath(p *schemas.PaymentResult) []string {
	out := make([]string, 0, len(p.Path))
	for _, s := range p.Path {
		out = append(out, s.PSP)
	}
	return out
}

// Out-of-range values are clamped rather than refused: a row the database
// cannot take would otherwise be retried forever and stop the sink. None of
// these limits is reachable by a real event.
func u32(v int64) uint32 {
	switch {
	case v < 0:
		return 0
	case v > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(v)
}

func u64(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// dateTime turns epoch milliseconds into a value for a DateTime column,
// which holds whole seconds from 1970 to 2106.
func dateTime(ms int64) time.Time {
	s := ms / 1000
	switch {
	case s < 0:
		s = 0
	case s > math.MaxUint32:
		s = math.MaxUint32
	}
	return time.Unix(s, 0).UTC()
}

// insertSQL is "INSERT INTO <db>.<table> (c1, c2, ...)". Naming the columns
// is required with clickhouse-go v2 against 18.16, and keeps inserts valid
// when a later migration adds columns.
func insertSQL[R any](table string, cols []column[R]) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ")"
}

// insertRows inserts rows into table as one batch. A batch that fails is
// aborted, never half-sent, and the caller retries it whole.
func insertRows[R any](ctx context.Context, c *Conn, table string, cols []column[R], rows []R) (err error) {
	if len(rows) == 0 {
		return nil
	}
	batch, err := c.PrepareBatch(ctx, insertSQL(c.table(table), cols))
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", c.table(table), err)
	}
	defer func() {
		if err != nil {
			_ = batch.Abort()
		}
	}()
	vals := make([]any, len(cols))
	for i := range rows {
		for j, col := range cols {
			vals[j] = col.value(&rows[i])
		}
		if err := batch.Append(vals...); err != nil {
			return fmt.Errorf("append to %s: %w", c.table(table), err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", len(rows), c.table(table), err)
	}
	return nil
}
