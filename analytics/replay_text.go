package analytics

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// WriteReplayText prints a replay: per PSP the share of payments routed to
// it first, its attempts and success rate, actual next to projected; the
// approved payments overall; the cost per approved payment per PSP and
// currency; and what the candidate could not route.
func WriteReplayText(w io.Writer, r *ReplayResult) error {
	var b strings.Builder
	period := describePeriod(ReportOptions{From: r.Options.From, To: r.Options.To, Merchant: r.Options.Merchant})
	fmt.Fprintf(&b, "payroute replay: %d payments requested %s\n", r.Requests, period)
	version := r.Version
	if version == "" {
		version = "(no payment routed)"
	}
	stats := "the same period"
	if !r.Options.StatsFrom.IsZero() || !r.Options.StatsTo.IsZero() {
		stats = describePeriod(ReportOptions{From: r.Options.StatsFrom, To: r.Options.StatsTo, Merchant: r.Options.Merchant})
	}
	fmt.Fprintf(&b, "candidate configuration %s; outcomes projected from the PSPs' observed rates over %s\n", version, stats)
	fmt.Fprintf(&b, "(per PSP and currency with at least %d attempts, else per PSP); projected figures are expected values\n\n", r.Options.MinAttempts)
	if r.Requests == 0 {
		b.WriteString("no payment requests in this period\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	table := [][]string{{"psp", "share actual", "share projected", "attempts actual", "attempts projected",
		"success% actual", "success% projected"}}
	var assumed []string
	for _, p := range r.PSPs {
		name := p.PSP
		if p.Assumed {
			name += " *"
			assumed = append(assumed, p.PSP)
		}
		table = append(table, []string{name, pct(p.Actual.Share), pct(p.Projected.Share),
			f1(p.Actual.Attempts), f1(p.Projected.Attempts), pct(p.Actual.SuccessRate), pct(p.Projected.SuccessRate)})
	}
	writeAligned(&b, table)
	if len(assumed) > 0 {
		fmt.Fprintf(&b, "* no attempt observed at %s: projected with every PSP's rates together\n", strings.Join(assumed, ", "))
	}
	fmt.Fprintf(&b, "\napproved payments: actual %s (%s), projected %s (%s); projected FAILED (every rank failed) %s\n",
		f1(r.ActualApproved), pct(r.ActualApprovalRate), f1(r.ProjectedApproved), pct(r.ProjectedApprovalRate), f1(r.ProjectedFailed))
	if r.WithoutOutcome > 0 {
		fmt.Fprintf(&b, "%d payments have no outcome in ClickHouse yet (counted as not approved on the actual side)\n", r.WithoutOutcome)
	}
	if len(r.Unrouted) > 0 {
		var reasons []string
		total := 0
		for k, n := range r.Unrouted {
			reasons = append(reasons, k+" "+strconv.Itoa(n))
			total += n
		}
		sort.Strings(reasons)
		fmt.Fprintf(&b, "the candidate cannot route %d payments (they would be REJECTED): %s\n", total, strings.Join(reasons, ", "))
	}
	if len(r.Costs) > 0 {
		b.WriteString("\ncost per approved payment (fees in minor units):\n")
		costs := [][]string{{"psp", "currency", "fees actual", "fees projected", "approved actual", "approved projected",
			"cost/approved actual", "cost/approved projected"}}
		for _, c := range r.Costs {
			costs = append(costs, []string{c.PSP, c.Currency, f1(c.ActualFee), f1(c.ProjectedFee), f1(c.ActualApproved),
				f1(c.ProjectedApproved), money(c.ActualPerApproved, c.ActualApproved), money(c.ProjectedPerApproved, c.ProjectedApproved)})
		}
		writeColumns(&b, costs, 2)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func money(v, approved float64) string {
	if approved == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
