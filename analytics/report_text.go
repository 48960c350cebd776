package analytics

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteText prints the report as an aligned table, one line per PSP, then
// the payments by final status, the failover flows, the cost per approved
// payment and the latency. A PSP that is down shows as many psp errors,
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
	fmt.Fprintf(&b, "  (total %d)", d.Payments)
	if d.ActionRequired > 0 {
		fmt.Fprintf(&b, "; ACTION_REQUIRED results (not final) %d", d.ActionRequired)
	}
	b.WriteString("\n")

	if len(d.Hops) > 0 {
		b.WriteString("\nfailover flows:\n")
		flows := [][]string{{"from", "to", "hops", "recovered", "recovery%"}}
		for _, h := range d.Hops {
			flows = append(flows, []string{h.From, h.To, itoa(h.Hops), itoa(h.Recovered), pct(h.RecoveryRate)})
		}
		writeColumns(&b, flows, 2)
	}
	if len(d.Costs) > 0 {
		b.WriteString("\ncost per approved payment (fees in minor units):\n")
		costs := [][]string{{"psp", "currency", "attempts", "fees", "approved", "cost/approved"}}
		for _, c := range d.Costs {
			costs = append(costs, []string{c.PSP, c.Currency, itoa(c.Attempts), itoa(c.FeeMinor), itoa(c.Approved),
				strconv.FormatFloat(c.CostPerApproved, 'f', 2, 64)})
		}
		writeColumns(&b, costs, 2)
	}
	if len(d.PSPs) > 0 {
		b.WriteString("\nlatency (ms):\n")
		lat := [][]string{{"psp", "p50", "p95", "p99"}}
		for _, p := range d.PSPs {
			if p.Attempts == 0 {
				continue
			}
			lat = append(lat, []string{p.PSP, ms0(p.LatencyP50), ms0(p.LatencyP95), ms0(p.LatencyP99)})
		}
		writeAligned(&b, lat)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func itoa(v int64) string  { return strconv.FormatInt(v, 10) }
func pct(r float64) string { return strconv.FormatFloat(100*r, 'f', 1, 64) + "%" }
func ms0(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

func pspLine(p PSPStats) []string {
	return []string{p.PSP, itoa(p.Attempts), itoa(p.Approved), pct(p.SuccessRate), itoa(p.PSPErrors), itoa(p.FailoversOut),
		pct(p.FailoverRate), itoa(p.FirstChoice), itoa(p.FailoversIn), itoa(p.Recovered), itoa(p.Finalized)}
}

// writeAligned left-aligns the first column and right-aligns the others,
// two spaces apart.
func writeAligned(b *strings.Builder, table [][]string) { writeColumns(b, table, 1) }

// writeColumns left-aligns the first text columns and right-aligns the
// others, two spaces apart.
func writeColumns(b *strings.Builder, table [][]string, text int) {
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
			if i > 0 {
				line.WriteString("  ")
			}
			if i < text {
				line.WriteString(cell + pad)
			} else {
				line.WriteString(pad + cell)
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
