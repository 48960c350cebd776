package analytics

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"unsafe"

	"github.com/payroute/payroute/schemas"
)

// source is where a row was read in Kafka: the (topic, partition, offset)
// stored with every raw row, from which ClickHouse knows how far it has
// loaded each partition (migration 0002).
type source struct {
	Topic     string
	Partition int32
	Offset    int64
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

// requestRow is one row of <database>.requests.
type requestRow struct {
	r   *schemas.PaymentRequested
	src source
}

// column is one inserted column: its name and the buffer that keeps its
// values for a block, typed for the ClickHouse type of the migration.
// Keeping the name and the value side by side is what keeps the named
// column list of the INSERT and the appended columns in step.
//
// Rows are kept column by column from the moment they are decoded, not as
// events: a batch of a hundred thousand rows then holds a few flat buffers
// (the strings of a column back to back) rather than millions of small
// strings for the garbage collector to trace, and the insert hands each
// column to clickhouse-go as one typed slice instead of boxing every value
// into an interface.
type column[R any] struct {
	name string
	// buffer is an empty buffer with room for rows values (and, for
	// strings, bytes bytes of them).
	buffer func(rows, bytes int) values[R]
}

// values is one column's values in a block.
type values[R any] interface {
	// add appends the row's value.
	add(r *R)
	// column is the values of the rows keep (every row when keep is nil),
	// as the slice clickhouse-go's column takes. The slice may alias the
	// buffer and sc: it is valid until the next call, and only as long as
	// nothing is added.
	column(keep []int32, sc *scratch) any
	// size is how many values the buffer holds, and for strings how many
	// bytes: the room the next batch's buffer starts with.
	size() (rows, bytes int)
}

// scratch is reused by the columns of one insert: clickhouse-go copies
// what it is given, so one slice of string views serves every column.
type scratch struct {
	views []string
}

// number is the Go types of the numeric columns.
type number interface {
	~uint8 | ~int32 | ~uint32 | ~int64 | ~uint64
}

// stringColumn is a String column.
func stringColumn[R any](name string, get func(*R) string) column[R] {
	return column[R]{name, func(rows, bytes int) values[R] {
		return &stringValues[R]{get: get, data: make([]byte, 0, bytes), ends: make([]int, 0, rows)}
	}}
}

// numberColumn is an integer column of the ClickHouse type matching T
// (UInt8, Int32, UInt32, Int64, UInt64).
func numberColumn[R any, T number](name string, get func(*R) T) column[R] {
	return column[R]{name, func(rows, _ int) values[R] { return newSliceValues(get, rows) }}
}

// dateTimeColumn is a DateTime column; get gives epoch seconds (dateTime).
func dateTimeColumn[R any](name string, get func(*R) int64) column[R] {
	return column[R]{name, func(rows, _ int) values[R] { return newSliceValues(get, rows) }}
}

// arrayColumn is an Array(String) or Array(Int32) column. Arrays are rare
// (payments and requests only) and short, so each row keeps its own slice.
func arrayColumn[R any, T string | int32](name string, get func(*R) []T) column[R] {
	return column[R]{name, func(rows, _ int) values[R] { return newSliceValues(get, rows) }}
}

// stringValues keeps a column's strings back to back in data; ends[i] is
// where row i's string ends.
type stringValues[R any] struct {
	get  func(*R) string
	data []byte
	ends []int
}

func (v *stringValues[R]) size() (rows, bytes int) { return len(v.ends), len(v.data) }

func (v *stringValues[R]) add(r *R) {
	v.data = append(v.data, v.get(r)...)
	v.ends = append(v.ends, len(v.data))
}

// column returns views into data, without copying: clickhouse-go copies
// them into its own column buffer before the views are dropped, and data
// is never written once the batch is being inserted.
func (v *stringValues[R]) column(keep []int32, sc *scratch) any {
	n := len(v.ends)
	if keep != nil {
		n = len(keep)
	}
	views := sc.views[:0]
	if cap(views) < n {
		views = make([]string, 0, n)
	}
	view := func(i int) string {
		start := 0
		if i > 0 {
			start = v.ends[i-1]
		}
		if start == v.ends[i] {
			return ""
		}
		return unsafe.String(&v.data[start], v.ends[i]-start)
	}
	if keep == nil {
		for i := range v.ends {
			views = append(views, view(i))
		}
	} else {
		for _, i := range keep {
			views = append(views, view(int(i)))
		}
	}
	sc.views = views
	return views
}

// sliceValues keeps a column's values in a slice.
type sliceValues[R any, T any] struct {
	get  func(*R) T
	vals []T
}

func newSliceValues[R, T any](get func(*R) T, rows int) *sliceValues[R, T] {
	return &sliceValues[R, T]{get: get, vals: make([]T, 0, rows)}
}

func (v *sliceValues[R, T]) size() (rows, bytes int) { return len(v.vals), 0 }

func (v *sliceValues[R, T]) add(r *R) { v.vals = append(v.vals, v.get(r)) }

func (v *sliceValues[R, T]) column(keep []int32, _ *scratch) any {
	if keep == nil {
		return v.vals
	}
	out := make([]T, len(keep))
	for j, i := range keep {
		out[j] = v.vals[i]
	}
	return out
}

var attemptColumns = []column[attemptRow]{
	stringColumn("attempt_id", func(r *attemptRow) string { return r.a.AttemptID }),
	stringColumn("payment_id", func(r *attemptRow) string { return r.a.PaymentID }),
	stringColumn("merchant_id", func(r *attemptRow) string { return r.a.MerchantID }),
	numberColumn("attempt_number", func(r *attemptRow) uint32 { return u32(int64(r.a.AttemptNumber)) }),
	numberColumn("rank", func(r *attemptRow) uint32 { return u32(int64(r.a.Rank)) }),
	stringColumn("psp", func(r *attemptRow) string { return r.a.PSP }),
	stringColumn("method", func(r *attemptRow) string { return r.a.Method }),
	stringColumn("previous_psp", func(r *attemptRow) string { return r.a.PreviousPSP }),
	stringColumn("operation", func(r *attemptRow) string { return string(r.a.Operation) }),
	numberColumn("amount_minor", func(r *attemptRow) int64 { return r.a.AmountMinor }),
	stringColumn("currency", func(r *attemptRow) string { return r.a.Currency }),
	stringColumn("outcome", func(r *attemptRow) string { return string(r.a.Outcome) }),
	stringColumn("class", func(r *attemptRow) string { return string(r.a.Class) }),
	stringColumn("psp_code", func(r *attemptRow) string { return r.a.PSPCode }),
	stringColumn("issuer_code", func(r *attemptRow) string { return r.a.IssuerCode }),
	stringColumn("message", func(r *attemptRow) string { return r.a.Message }),
	stringColumn("psp_reference", func(r *attemptRow) string { return r.a.PSPReference }),
	stringColumn("idempotency_key", func(r *attemptRow) string { return r.a.IdempotencyKey }),
	numberColumn("latency_ms", func(r *attemptRow) uint64 { return u64(r.a.LatencyMs) }),
	numberColumn("fee_minor", func(r *attemptRow) int64 { return r.a.FeeMinor }),
	stringColumn("card_network", func(r *attemptRow) string { return r.a.CardNetwork }),
	stringColumn("card_funding", func(r *attemptRow) string { return r.a.CardFunding }),
	stringColumn("card_bin", func(r *attemptRow) string { return r.a.CardBIN }),
	stringColumn("issuer_country", func(r *attemptRow) string { return r.a.IssuerCountry }),
	stringColumn("config_version", func(r *attemptRow) string { return r.a.ConfigVersion }),
	stringColumn("rule_id", func(r *attemptRow) string { return r.a.RuleID }),
	dateTimeColumn("started_at", func(r *attemptRow) int64 { return dateTime(r.a.StartedAtMs) }),
	numberColumn("started_at_ms", func(r *attemptRow) uint64 { return u64(r.a.StartedAtMs) }),
	numberColumn("finished_at_ms", func(r *attemptRow) uint64 { return u64(r.a.FinishedAtMs) }),
	numberColumn("inquiries", func(r *attemptRow) uint32 { return u32(int64(r.a.Inquiries)) }),
	numberColumn("in_doubt_ms", func(r *attemptRow) uint64 { return u64(r.a.InDoubtMs) }),
	stringColumn("source_topic", func(r *attemptRow) string { return r.src.Topic }),
	numberColumn("source_partition", func(r *attemptRow) int32 { return r.src.Partition }),
	numberColumn("source_offset", func(r *attemptRow) uint64 { return u64(r.src.Offset) }),
}

var paymentColumns = []column[paymentRow]{
	stringColumn("payment_id", func(r *paymentRow) string { return r.p.PaymentID }),
	stringColumn("merchant_id", func(r *paymentRow) string { return r.p.MerchantID }),
	stringColumn("operation", func(r *paymentRow) string { return string(r.p.Operation) }),
	stringColumn("status", func(r *paymentRow) string { return string(r.p.Status) }),
	numberColumn("amount_minor", func(r *paymentRow) int64 { return r.p.AmountMinor }),
	stringColumn("currency", func(r *paymentRow) string { return r.p.Currency }),
	stringColumn("psp", func(r *paymentRow) string { return r.p.PSP }),
	stringColumn("psp_reference", func(r *paymentRow) string { return r.p.PSPReference }),
	stringColumn("first_psp", func(r *paymentRow) string { return r.p.FirstPSP }),
	arrayColumn("psp_path", func(r *paymentRow) []string { return pspPath(r.p) }),
	numberColumn("attempt_count", func(r *paymentRow) uint32 { return u32(int64(r.p.AttemptCount)) }),
	stringColumn("class", func(r *paymentRow) string { return string(r.p.Class) }),
	stringColumn("psp_code", func(r *paymentRow) string { return r.p.PSPCode }),
	stringColumn("reason", func(r *paymentRow) string { return r.p.Reason }),
	numberColumn("retry_after_ms", func(r *paymentRow) uint64 { return u64(r.p.RetryAfterMs) }),
	stringColumn("config_version", func(r *paymentRow) string { return r.p.ConfigVersion }),
	stringColumn("rule_id", func(r *paymentRow) string { return r.p.RuleID }),
	dateTimeColumn("requested_at", func(r *paymentRow) int64 { return dateTime(r.p.RequestedAtMs) }),
	numberColumn("requested_at_ms", func(r *paymentRow) uint64 { return u64(r.p.RequestedAtMs) }),
	dateTimeColumn("completed_at", func(r *paymentRow) int64 { return dateTime(r.p.CompletedAtMs) }),
	numberColumn("completed_at_ms", func(r *paymentRow) uint64 { return u64(r.p.CompletedAtMs) }),
	numberColumn("time_to_final_ms", func(r *paymentRow) uint64 { return timeToFinal(r.p) }),
	stringColumn("source_topic", func(r *paymentRow) string { return r.src.Topic }),
	numberColumn("source_partition", func(r *paymentRow) int32 { return r.src.Partition }),
	numberColumn("source_offset", func(r *paymentRow) uint64 { return u64(r.src.Offset) }),
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

var requestColumns = []column[requestRow]{
	stringColumn("payment_id", func(r *requestRow) string { return r.r.PaymentID }),
	stringColumn("reference_payment_id", func(r *requestRow) string { return r.r.ReferencePaymentID }),
	stringColumn("merchant_id", func(r *requestRow) string { return r.r.MerchantID }),
	stringColumn("operation", func(r *requestRow) string { return string(r.r.Operation) }),
	numberColumn("amount_minor", func(r *requestRow) int64 { return r.r.AmountMinor }),
	stringColumn("currency", func(r *requestRow) string { return r.r.Currency }),
	stringColumn("method_type", func(r *requestRow) string { return r.r.PaymentMethod.Type }),
	stringColumn("card_network", func(r *requestRow) string { return r.r.PaymentMethod.Network }),
	stringColumn("card_funding", func(r *requestRow) string { return r.r.PaymentMethod.Funding }),
	stringColumn("card_bin", func(r *requestRow) string { return r.r.PaymentMethod.BIN }),
	stringColumn("card_last4", func(r *requestRow) string { return r.r.PaymentMethod.Last4 }),
	stringColumn("issuer_country", func(r *requestRow) string { return r.r.PaymentMethod.IssuerCountry }),
	numberColumn("expiry_month", func(r *requestRow) int32 { return r.r.PaymentMethod.ExpiryMonth }),
	numberColumn("expiry_year", func(r *requestRow) int32 { return r.r.PaymentMethod.ExpiryYear }),
	stringColumn("customer_id", func(r *requestRow) string { return r.r.Customer.CustomerID }),
	stringColumn("customer_country", func(r *requestRow) string { return r.r.Customer.Country }),
	numberColumn("recurring", func(r *requestRow) uint8 { return boolUInt8(r.r.Recurring) }),
	stringColumn("route_ref", func(r *requestRow) string { return r.r.Routing.RouteRef }),
	stringColumn("provider_override", func(r *requestRow) string { return r.r.Routing.ProviderOverride }),
	arrayColumn("candidate_psps", func(r *requestRow) []string {
		return candidateField(r.r, func(c schemas.Candidate) string { return c.PSP })
	}),
	arrayColumn("candidate_methods", func(r *requestRow) []string {
		return candidateField(r.r, func(c schemas.Candidate) string { return c.Method })
	}),
	arrayColumn("candidate_ranks", func(r *requestRow) []int32 { return candidateRanks(r.r) }),
	arrayColumn("metadata_keys", func(r *requestRow) []string { k, _ := metadataArrays(r.r.Metadata); return k }),
	arrayColumn("metadata_values", func(r *requestRow) []string { _, v := metadataArrays(r.r.Metadata); return v }),
	dateTimeColumn("requested_at", func(r *requestRow) int64 { return dateTime(r.r.RequestedAtMs) }),
	numberColumn("requested_at_ms", func(r *requestRow) uint64 { return u64(r.r.RequestedAtMs) }),
	stringColumn("source_topic", func(r *requestRow) string { return r.src.Topic }),
	numberColumn("source_partition", func(r *requestRow) int32 { return r.src.Partition }),
	numberColumn("source_offset", func(r *requestRow) uint64 { return u64(r.src.Offset) }),
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

// dateTime turns epoch milliseconds into epoch seconds for a DateTime
// column, which holds whole seconds from 1970 to 2106.
func dateTime(ms int64) int64 {
	return min(max(ms/1000, 0), math.MaxUint32)
}

// rowSource is where a row of a block was read: its partition, as an index
// into the batch's partition table (with the epoch it was polled under),
// and its offset.
type rowSource struct {
	part   int32
	offset int64
}

// block is one table's rows of a batch, column by column, and where each
// row was read.
type block[R any] struct {
	table string
	cols  []column[R]
	vals  []values[R]
	srcs  []rowSource
}

// newBlock is an empty block of table. Its buffers start with the room
// prev's hold (none when prev is nil): batches in a row tend to be alike,
// full ones while a backlog drains, and growing a hundred thousand rows by
// doubling would copy them over and over, and leave up to half of the
// memory unused.
func newBlock[R any](table string, cols []column[R], prev *block[R]) *block[R] {
	b := &block[R]{table: table, cols: cols, vals: make([]values[R], len(cols))}
	for i, c := range cols {
		var rows, bytes int
		if prev != nil {
			rows, bytes = prev.vals[i].size()
		}
		b.vals[i] = c.buffer(rows, bytes)
	}
	if prev != nil {
		b.srcs = make([]rowSource, 0, len(prev.srcs))
	}
	return b
}

// add appends a row read at src.
func (b *block[R]) add(r *R, src rowSource) {
	for _, v := range b.vals {
		v.add(r)
	}
	b.srcs = append(b.srcs, src)
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

// insertBlock inserts the rows keep of b (every row when keep is nil) as
// one batch, which clickhouse-go sends as one native Data block, handing it
// each column as one typed slice. A batch that fails is aborted, never
// half-sent, and the caller retries it whole.
func insertBlock[R any](ctx context.Context, c *Conn, b *block[R], keep []int32) (err error) {
	table := c.table(b.table)
	batch, err := c.PrepareBatch(ctx, insertSQL(table, b.cols))
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	defer func() {
		if err != nil {
			_ = batch.Abort()
		}
	}()
	var sc scratch
	for i, v := range b.vals {
		if err := batch.Column(i).Append(v.column(keep, &sc)); err != nil {
			return fmt.Errorf("append column %s to %s: %w", b.cols[i].name, table, err)
		}
	}
	n := len(b.srcs)
	if keep != nil {
		n = len(keep)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", n, table, err)
	}
	return nil
}
