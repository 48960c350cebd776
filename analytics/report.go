package analytics

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/payroute/payroute/schemas"
)

// ReportOptions selects what a report (or a query of the pack) covers.
// Zero values mean no bound.
type ReportOptions struct {
	// From and To bound the period, From included, To excluded, in whole
	// minutes (the resolution of the aggregates): From is rounded down and
	// To up. Attempts count by the minute they started, payments by the
	// minute their final result was published.
	From, To time.Time
	// Merchant restricts the report to one merchant_id.
	Merchant string
}

// ReportData is the per-PSP comparison behind `payroute report`. Every
// figure comes from the aggregates the materialized views keep, which
// count each event exactly once.
type ReportData struct {
	// Options are the options asked for, with the period as applied
	// (rounded to whole minutes; zero when unbounded).
	Options ReportOptions
	// PSPs is one entry per PSP with an attempt or a final result in the
	// period, most often first choice first.
	PSPs []PSPStats
	// Statuses counts the payments finalized in the period by status, in
	// the order of schemas.Statuses. ACTION_REQUIRED is not among them: it
	// is not final.
	Statuses []StatusCount
	// ActionRequired counts the ACTION_REQUIRED results published in the
	// period: payments that waited for their customer, some of them ended
	// since (and so in Payments too), the others still waiting.
	ActionRequired int64
	// Attempts and Payments are the totals.
	Attempts, Payments int64
	// Hops are the failover flows between PSPs, most frequent first.
	Hops []HopStats
	// Costs are the fees per PSP and currency, by PSP then currency.
	Costs []CostStats
	// Series is the success rate over time per PSP, in buckets of Bucket.
	Series []SeriesPoint
	Bucket time.Duration
}

// PSPStats is one PSP's line of the report.
type PSPStats struct {
	PSP string
	// Attempts made at this PSP, and how many were approved or declined.
	Attempts, Approved, Declined int64
	// PSPErrors are attempts that failed on the PSP's side (classes
	// psp_error and rate_limited), the failures that trigger failover.
	PSPErrors int64
	// FailoversOut are attempts at another PSP that directly followed an
	// attempt at this one: payments this PSP handed on.
	FailoversOut int64
	// FirstChoice are attempts that were a payment's first;
	// FirstChoiceApproved of them were approved.
	FirstChoice, FirstChoiceApproved int64
	// FailoversIn are attempts that came here right after an attempt at
	// another PSP; Recovered of them were approved.
	FailoversIn, Recovered int64
	// Finalized are payments whose final result came from this PSP;
	// FinalApproved of them were approved.
	Finalized, FinalApproved int64
	// SuccessRate is Approved/Attempts, FailoverRate FailoversOut/Attempts,
	// FirstChoiceSuccessRate FirstChoiceApproved/FirstChoice (0 when the
	// denominator is).
	SuccessRate, FailoverRate, FirstChoiceSuccessRate float64
	// LatencyP50, LatencyP95 and LatencyP99 are in milliseconds
	// (quantileTiming: exact below 1024 ms or up to 5670 attempts, else
	// within 16 ms).
	LatencyP50, LatencyP95, LatencyP99 float64
}

// StatusCount is the number of payments with one final status.
type StatusCount struct {
	Status   schemas.Status
	Payments int64
}

// HopStats is the failover flow from one PSP to another.
type HopStats struct {
	From, To string
	// Hops are attempts at To right after an attempt at From; Recovered of
	// them were approved.
	Hops, Recovered int64
	RecoveryRate    float64
}

// CostStats is what one PSP charged in one currency.
type CostStats struct {
	PSP, Currency string
	// Attempts at the PSP in the currency and their fees (minor units).
	Attempts, FeeMinor int64
	// Approved are payments approved at the PSP in the currency.
	Approved int64
	// CostPerApproved is FeeMinor / Approved (0 when none was approved).
	CostPerApproved float64
}

// SeriesPoint is one PSP's attempts in one time bucket.
type SeriesPoint struct {
	At                 time.Time
	PSP                string
	Attempts, Approved int64
}

// PSP returns the line of one PSP.
func (d *ReportData) PSP(name string) (PSPStats, bool) {
	for _, p := range d.PSPs {
		if p.PSP == name {
			return p, true
		}
	}
	return PSPStats{}, false
}

// Status returns the number of payments finalized with a status.
func (d *ReportData) Status(st schemas.Status) int64 {
	for _, s := range d.Statuses {
		if s.Status == st {
			return s.Payments
		}
	}
	return 0
}

// where is the period and merchant condition on a table's time column.
func (o ReportOptions) where(col string) string {
	from, to := o.period()
	p := queryParams{from: from, to: to, merchant: o.Merchant}
	return " WHERE " + p.Period(col) + " AND " + p.Merchant("merchant_id")
}

// applied is the options with the period as applied.
func (o ReportOptions) applied() ReportOptions {
	from, to := o.period()
	out := ReportOptions{Merchant: o.Merchant}
	if !from.Equal(minDateTime) {
		out.From = from
	}
	if !to.Equal(maxDateTime) {
		out.To = to
	}
	return out
}

// Report computes the per-PSP report, the failover flows, the costs and
// the success rate over time.
func Report(ctx context.Context, c *Conn, opts ReportOptions) (*ReportData, error) {
	d := &ReportData{Options: opts.applied()}
	byPSP := map[string]*PSPStats{}
	get := func(name string) *PSPStats {
		p, ok := byPSP[name]
		if !ok {
			p = &PSPStats{PSP: name}
			byPSP[name] = p
		}
		return p
	}
	if err := scan(ctx, c, `SELECT psp, sum(attempts), sum(approved), sum(declined), sum(psp_errors) + sum(rate_limited),
    sum(first_attempts), sum(first_approved), sum(failovers_in), sum(recovered)
FROM `+c.table("psp_minute")+opts.where("minute")+` GROUP BY psp`, func(r scanner) error {
		var name string
		var v [8]uint64
		if err := r.Scan(&name, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]); err != nil {
			return err
		}
		p := get(name)
		p.Attempts, p.Approved, p.Declined, p.PSPErrors = int64(v[0]), int64(v[1]), int64(v[2]), int64(v[3])
		p.FirstChoice, p.FirstChoiceApproved = int64(v[4]), int64(v[5])
		p.FailoversIn, p.Recovered = int64(v[6]), int64(v[7])
		return nil
	}); err != nil {
		return nil, fmt.Errorf("report attempts: %w", err)
	}
	if err := scan(ctx, c, `SELECT from_psp, sum(hops) FROM `+c.table("hops_minute")+opts.where("minute")+` GROUP BY from_psp`, func(r scanner) error {
		var name string
		var n uint64
		if err := r.Scan(&name, &n); err != nil {
			return err
		}
		get(name).FailoversOut = int64(n)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("report failovers: %w", err)
	}
	if err := scan(ctx, c, `SELECT psp, quantilesTimingMerge(0.5, 0.95, 0.99)(latency_quantiles)
FROM `+c.table("psp_latency_minute")+opts.where("minute")+` GROUP BY psp`, func(r scanner) error {
		var name string
		var q []float32
		if err := r.Scan(&name, &q); err != nil {
			return err
		}
		if len(q) == 3 {
			p := get(name)
			p.LatencyP50, p.LatencyP95, p.LatencyP99 = float64(q[0]), float64(q[1]), float64(q[2])
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("report latency: %w", err)
	}
	statuses := map[schemas.Status]int64{}
	if err := scan(ctx, c, `SELECT psp, status, sum(payments), sum(results) FROM `+c.table("final_payments_minute")+opts.where("minute")+`
GROUP BY psp, status`, func(r scanner) error {
		var name, status string
		var n, results uint64
		if err := r.Scan(&name, &status, &n, &results); err != nil {
			return err
		}
		if schemas.Status(status) == schemas.StatusActionRequired {
			d.ActionRequired += int64(results)
			return nil
		}
		statuses[schemas.Status(status)] += int64(n)
		if name == "" { // rejected before any PSP was tried
			return nil
		}
		p := get(name)
		p.Finalized += int64(n)
		if schemas.Status(status) == schemas.StatusApproved {
			p.FinalApproved += int64(n)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("report payments: %w", err)
	}
	for _, p := range byPSP {
		p.SuccessRate = ratio(p.Approved, p.Attempts)
		p.FailoverRate = ratio(p.FailoversOut, p.Attempts)
		p.FirstChoiceSuccessRate = ratio(p.FirstChoiceApproved, p.FirstChoice)
		d.PSPs = append(d.PSPs, *p)
		d.Attempts += p.Attempts
	}
	sort.Slice(d.PSPs, func(i, j int) bool {
		a, b := d.PSPs[i], d.PSPs[j]
		if a.FirstChoice != b.FirstChoice {
			return a.FirstChoice > b.FirstChoice
		}
		if a.Attempts != b.Attempts {
			return a.Attempts > b.Attempts
		}
		return a.PSP < b.PSP
	})
	d.Statuses, d.Payments = orderStatuses(statuses)

	var err error
	if d.Hops, err = reportHops(ctx, c, opts); err != nil {
		return nil, err
	}
	if d.Costs, err = reportCosts(ctx, c, opts); err != nil {
		return nil, err
	}
	if d.Series, d.Bucket, err = reportSeries(ctx, c, opts); err != nil {
		return nil, err
	}
	return d, nil
}

// orderStatuses lists the counts in the order of schemas.Statuses, unknown
// statuses after them by name.
func orderStatuses(counts map[schemas.Status]int64) ([]StatusCount, int64) {
	var out []StatusCount
	var total int64
	seen := map[schemas.Status]bool{}
	for _, st := range schemas.Statuses {
		if n, ok := counts[st]; ok {
			out = append(out, StatusCount{Status: st, Payments: n})
			total += n
			seen[st] = true
		}
	}
	var other []string
	for st := range counts {
		if !seen[st] {
			other = append(other, string(st))
		}
	}
	sort.Strings(other)
	for _, st := range other {
		n := counts[schemas.Status(st)]
		out = append(out, StatusCount{Status: schemas.Status(st), Payments: n})
		total += n
	}
	return out, total
}

// reportHops reads the failover flows with the pack's recovery_by_hop.
func reportHops(ctx context.Context, c *Conn, opts ReportOptions) ([]HopStats, error) {
	res, err := RunQuery(ctx, c, "recovery_by_hop", opts)
	if err != nil {
		return nil, err
	}
	from, to, hops, rec := res.Column("from_psp"), res.Column("to_psp"), res.Column("hops"), res.Column("recovered")
	if min(from, to, hops, rec) < 0 {
		return nil, fmt.Errorf("recovery_by_hop: missing columns in %v", res.Columns)
	}
	var out []HopStats
	for _, row := range res.Rows {
		h := HopStats{From: row[from].(string), To: row[to].(string), Hops: asInt(row[hops]), Recovered: asInt(row[rec])}
		h.RecoveryRate = ratio(h.Recovered, h.Hops)
		out = append(out, h)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Hops > out[j].Hops })
	return out, nil
}

// reportCosts reads the fees with the pack's cost_per_approved.
func reportCosts(ctx context.Context, c *Conn, opts ReportOptions) ([]CostStats, error) {
	res, err := RunQuery(ctx, c, "cost_per_approved", opts)
	if err != nil {
		return nil, err
	}
	psp, cur, att, fee, appr := res.Column("psp"), res.Column("currency"), res.Column("attempts"), res.Column("fee_minor"), res.Column("approved_payments")
	if min(psp, cur, att, fee, appr) < 0 {
		return nil, fmt.Errorf("cost_per_approved: missing columns in %v", res.Columns)
	}
	var out []CostStats
	for _, row := range res.Rows {
		cs := CostStats{PSP: row[psp].(string), Currency: row[cur].(string), Attempts: asInt(row[att]),
			FeeMinor: asInt(row[fee]), Approved: asInt(row[appr])}
		if cs.PSP == "" { // payments rejected before any PSP
			continue
		}
		cs.CostPerApproved = ratio(cs.FeeMinor, cs.Approved)
		out = append(out, cs)
	}
	return out, nil
}

// seriesBuckets are the bucket sizes the success-rate series may use; the
// smallest giving at most maxSeriesBuckets buckets is taken.
var seriesBuckets = []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour,
	12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

const maxSeriesBuckets = 120

// reportSeries reads attempts and approvals per PSP per time bucket. The
// bucket fits the period, or the data when the period is unbounded.
func reportSeries(ctx context.Context, c *Conn, opts ReportOptions) ([]SeriesPoint, time.Duration, error) {
	from, to := opts.period()
	if from.Equal(minDateTime) || to.Equal(maxDateTime) {
		var first, last time.Time
		var n uint64
		if err := c.QueryRow(ctx, `SELECT min(minute), max(minute), count() FROM `+c.table("psp_minute")+opts.where("minute")).Scan(&first, &last, &n); err != nil {
			return nil, 0, fmt.Errorf("report series: %w", err)
		}
		if n == 0 {
			return nil, time.Minute, nil
		}
		if from.Equal(minDateTime) {
			from = first
		}
		if to.Equal(maxDateTime) {
			to = last.Add(time.Minute)
		}
	}
	bucket := seriesBuckets[len(seriesBuckets)-1]
	for _, b := range seriesBuckets {
		if to.Sub(from)/b <= maxSeriesBuckets {
			bucket = b
			break
		}
	}
	secs := int64(bucket / time.Second)
	var out []SeriesPoint
	err := scan(ctx, c, fmt.Sprintf(`SELECT toDateTime(intDiv(toUInt32(minute), %d) * %d) AS bucket, psp, sum(attempts), sum(approved)
FROM %s%s
GROUP BY bucket, psp
ORDER BY bucket, psp`, secs, secs, c.table("psp_minute"), opts.where("minute")), func(r scanner) error {
		var p SeriesPoint
		var a, ok uint64
		if err := r.Scan(&p.At, &p.PSP, &a, &ok); err != nil {
			return err
		}
		p.Attempts, p.Approved = int64(a), int64(ok)
		p.At = p.At.UTC()
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("report series: %w", err)
	}
	return out, bucket, nil
}

// scanner is one row of a query.
type scanner interface{ Scan(dest ...any) error }

// scan runs a query and calls row for each row.
func scan(ctx context.Context, c *Conn, query string, row func(scanner) error, args ...any) error {
	rows, err := c.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// asInt reads a count column of a query result.
func asInt(v any) int64 {
	switch x := v.(type) {
	case uint64:
		return int64(x)
	case int64:
		return x
	case uint32:
		return int64(x)
	case int32:
		return int64(x)
	}
	return 0
}

func ratio(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}
