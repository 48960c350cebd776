package analytics

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteText prints the report as an aligned table, one line per PSP, then
// the payments by final status. A PSP that is down shows as many psp errors,
// as many failovers out and a high failover%, and the PSPs behind it show
// the failovers in and what they recovered:
//
//	psp    attempts  approved  success%  psp errors  failovers out  failover%  first-choice  failovers in  recovered  finalized
//	psp-a        10         4     40.0%           6              6      60.0%            10             0          0          4
//	psp-b         6         4     66.7%           1              1      16.7%             0             6          4          5
func WriteText(w io.Writer, d *ReportData) error {
	var b strings.Builder
	b.WriteString("payroute report: " + describePeriod(d.Options) + "\n\n")
	header := []string{"psp", "attempts", "approved", "success%", "psp errors", "failovers out", "failover%",
		"first-choice", "failovers in", "recovered", "finalized"}
	table := [][]string{header}
	var tot PSPStats
	for _, p := range d.PSPs {
		table = append(table, pspLine(p))
		tot.Attempts += p.Attempts
		tot.Approved += p.Approved
		tot.PSPErrors += p.PSPErrors
		tot.FailoversOut += p.FailoversOut
		tot.FirstChoice += p.FirstChoice
		tot.FailoversIn += p.FailoversIn
		tot.Recovered += p.Recovered
		tot.Finalized += p.Finalized
	}
	if len(d.PSPs) == 0 {
		b.WriteString("no attempts in this period\n")
	} else {
		tot.PSP = "total"
		tot.SuccessRate = ratio(tot.Approved, tot.Attempts)
		tot.FailoverRate = ratio(tot.FailoversOut, tot.Attempts)
		table = append(table, pspLine(tot))
		writeAligned(&b, table)
	}
	b.WriteString("\npayments by final status:")
	if len(d.Statuses) == 0 {
		b.WriteString(" none")
	}
	for _, s := range d.Statuses {
		fmt.Fprintf(&b, "  %s %d", s.Status, s.Payments)
	}
	fmt.Fprintf(&b, "  (total %d)\n", d.Payments)
	_, err := io.WriteString(w, b.String())
	return err
}

func pspLine(p PSPStats) []string {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	pct := func(r float64) string { return strconv.FormatFloat(100*r, 'f', 1, 64) + "%" }
	return []string{p.PSP, n(p.Attempts), n(p.Approved), pct(p.SuccessRate), n(p.PSPErrors), n(p.FailoversOut),
		pct(p.FailoverRate), n(p.FirstChoice), n(p.FailoversIn), n(p.Recovered), n(p.Finalized)}
}

// writeAligned left-aligns the first column and right-aligns the others,
// two spaces apart.
func writeAligned(b *strings.Builder, table [][]string) {
	widths := make([]int, len(table[0]))
	for _, row := range table {
		for i, cell := range row {
			widths[i] = max(widths[i], len(cell))
		}
	}
	for _, row := range table {
		var line strings.Builder
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-len(cell))
			switch i {
			case 0:
				line.WriteString(cell + pad)
			default:
				line.WriteString("  " + pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

func describePeriod(o ReportOptions) string {
	const layout = "2006-01-02 15:04:05"
	from, to := "the beginning", "now"
	if !o.From.IsZero() {
		from = o.From.UTC().Format(layout)
	}
	if !o.To.IsZero() {
		to = o.To.UTC().Format(layout)
	}
	s := from + " to " + to + " UTC"
	if o.To.IsZero() && o.From.IsZero() {
		s = "all time"
	}
	if o.Merchant != "" {
		s += ", merchant " + o.Merchant
	} else {
		s += ", all merchants"
	}
	return s
}
