package analytics

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/payroute/payroute/schemas"
)

// ReportOptions selects what a report covers. Zero values mean no bound.
type ReportOptions struct {
	// From and To bound the period, From included, To excluded: attempts by
	// the time they started, payments by the time their final result was
	// published.
	From, To time.Time
	// Merchant restricts the report to one merchant_id.
	Merchant string
}

// ReportData is the per-PSP comparison behind `payroute report`.
type ReportData struct {
	Options ReportOptions
	// PSPs is one entry per PSP with an attempt or a final result in the
	// period, most often first choice first.
	PSPs []PSPStats
	// Statuses counts the payments finalized in the period by status, in
	// the order of schemas.Statuses.
	Statuses []StatusCount
	// Attempts and Payments are the totals.
	Attempts, Payments int64
}

// PSPStats is one PSP's line of the report. Counts are exact: they are read
// with FINAL, so re-delivered rows count once.
type PSPStats struct {
	PSP string
	// Attempts made at this PSP, and how many were approved or declined.
	Attempts, Approved, Declined int64
	// PSPErrors are attempts that failed on the PSP's side (classes
	// psp_error and rate_limited), the failures that trigger failover.
	PSPErrors int64
	// FailoversOut are PSP errors that were followed by another attempt
	// (at the next rank): payments this PSP handed on.
	FailoversOut int64
	// FirstChoice are attempts that were a payment's first;
	// FirstChoiceApproved of them were approved.
	FirstChoice, FirstChoiceApproved int64
	// FailoversIn are attempts that came here after another PSP failed
	// (previous_psp set to a different PSP); Recovered of them were approved.
	FailoversIn, Recovered int64
	// Finalized are payments whose final result came from this PSP;
	// FinalApproved of them were approved.
	Finalized, FinalApproved int64
	// SuccessRate is Approved/Attempts, FailoverRate FailoversOut/Attempts,
	// FirstChoiceSuccessRate FirstChoiceApproved/FirstChoice (0 when the
	// denominator is).
	SuccessRate, FailoverRate, FirstChoiceSuccessRate float64
}

// StatusCount is the number of payments with one final status.
type StatusCount struct {
	Status   schemas.Status
	Payments int64
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

// filter is a WHERE clause and its positional arguments.
type filter struct {
	conds []string
	args  []any
}

func (f *filter) add(cond string, args ...any) {
	f.conds = append(f.conds, cond)
	f.args = append(f.args, args...)
}

func (f filter) where() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.conds, " AND ")
}

func ms(t time.Time) uint64 { return u64(t.UnixMilli()) }

// Report computes the per-PSP report. Every count is exact: tables are read
// with FINAL so rows loaded twice after a sink crash count once.
func Report(ctx context.Context, c *Conn, opts ReportOptions) (*ReportData, error) {
	var att filter // attempts in the period
	if !opts.From.IsZero() {
		att.add("started_at_ms >= ?", ms(opts.From))
	}
	if !opts.To.IsZero() {
		att.add("started_at_ms < ?", ms(opts.To))
	}
	if opts.Merchant != "" {
		att.add("merchant_id = ?", opts.Merchant)
	}
	// The attempts that follow another one: their (payment, number - 1)
	// names the attempt they followed. Only a lower time bound applies (a
	// follow-up starts after the attempt it follows, possibly after To).
	// Copies do not matter to IN, so this side is read without FINAL.
	var next filter
	next.add("attempt_number > 1")
	if !opts.From.IsZero() {
		next.add("started_at_ms >= ?", ms(opts.From))
	}
	if opts.Merchant != "" {
		next.add("merchant_id = ?", opts.Merchant)
	}
	const pspError = "class IN ('psp_error', 'rate_limited')"
	const hopIn = "previous_psp != '' AND previous_psp != psp"
	q := `SELECT
    psp,
    count(),
    countIf(outcome = 'APPROVED'),
    countIf(outcome = 'DECLINED'),
    countIf(` + pspError + `),
    countIf(` + pspError + ` AND (payment_id, attempt_number) IN (
        SELECT payment_id, toUInt32(attempt_number - 1) FROM ` + c.table("attempts") + next.where() + `)),
    countIf(attempt_number = 1),
    countIf(attempt_number = 1 AND outcome = 'APPROVED'),
    countIf(` + hopIn + `),
    countIf(` + hopIn + ` AND outcome = 'APPROVED')
FROM ` + c.table("attempts") + ` FINAL` + att.where() + `
GROUP BY psp`
	// The subquery's placeholders come first in the text.
	args := append(append([]any{}, next.args...), att.args...)
	byPSP := map[string]*PSPStats{}
	get := func(name string) *PSPStats {
		p, ok := byPSP[name]
		if !ok {
			p = &PSPStats{PSP: name}
			byPSP[name] = p
		}
		return p
	}
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("report attempts: %w", err)
	}
	for rows.Next() {
		var name string
		var v [9]uint64
		if err := rows.Scan(&name, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]); err != nil {
			rows.Close()
			return nil, fmt.Errorf("report attempts: %w", err)
		}
		p := get(name)
		p.Attempts, p.Approved, p.Declined = int64(v[0]), int64(v[1]), int64(v[2])
		p.PSPErrors, p.FailoversOut = int64(v[3]), int64(v[4])
		p.FirstChoice, p.FirstChoiceApproved = int64(v[5]), int64(v[6])
		p.FailoversIn, p.Recovered = int64(v[7]), int64(v[8])
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("report attempts: %w", err)
	}

	var pay filter // payments finalized in the period
	if !opts.From.IsZero() {
		pay.add("completed_at_ms >= ?", ms(opts.From))
	}
	if !opts.To.IsZero() {
		pay.add("completed_at_ms < ?", ms(opts.To))
	}
	if opts.Merchant != "" {
		pay.add("merchant_id = ?", opts.Merchant)
	}
	rows, err = c.Query(ctx, `SELECT psp, status, count() FROM `+c.table("payments")+` FINAL`+pay.where()+`
GROUP BY psp, status`, pay.args...)
	if err != nil {
		return nil, fmt.Errorf("report payments: %w", err)
	}
	statuses := map[schemas.Status]int64{}
	for rows.Next() {
		var name, status string
		var n uint64
		if err := rows.Scan(&name, &status, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("report payments: %w", err)
		}
		statuses[schemas.Status(status)] += int64(n)
		if name == "" { // rejected before any PSP was tried
			continue
		}
		p := get(name)
		p.Finalized += int64(n)
		if schemas.Status(status) == schemas.StatusApproved {
			p.FinalApproved += int64(n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("report payments: %w", err)
	}

	d := &ReportData{Options: opts}
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
	for _, st := range schemas.Statuses {
		if n, ok := statuses[st]; ok {
			d.Statuses = append(d.Statuses, StatusCount{Status: st, Payments: n})
			d.Payments += n
			delete(statuses, st)
		}
	}
	var other []string
	for st := range statuses {
		other = append(other, string(st))
	}
	sort.Strings(other)
	for _, st := range other {
		n := statuses[schemas.Status(st)]
		d.Statuses = append(d.Statuses, StatusCount{Status: schemas.Status(st), Payments: n})
		d.Payments += n
	}
	return d, nil
}

func ratio(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}
