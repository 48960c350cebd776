package analytics

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// WriteHTML writes the report as one self-contained HTML page: no script,
// no stylesheet or font to fetch, the charts drawn here as inline SVG, so
// that it opens anywhere, offline, and can be mailed as a file. The page
// has the totals, the success rate over time per PSP, the failover flows
// between PSPs, the cost per approved payment per PSP, and the per-PSP
// table of WriteText.
func WriteHTML(w io.Writer, d *ReportData) error {
	colors := pspColors(d)
	var tot PSPStats
	for _, p := range d.PSPs {
		tot.Attempts += p.Attempts
		tot.Approved += p.Approved
		tot.FailoversOut += p.FailoversOut
	}
	page := htmlPage{
		Title:    "payroute report",
		Period:   describePeriod(d.Options),
		Payments: d.Payments,
		Waiting:  d.ActionRequired,
		Approved: d.Status("APPROVED"),
		Attempts: d.Attempts,
		Rate:     pct(ratio(d.Status("APPROVED"), d.Payments)),
		Failover: pct(ratio(tot.FailoversOut, tot.Attempts)),
		Success:  template.HTML(successChart(d, colors)),
		Flows:    template.HTML(flowChart(d, colors)),
		Cost:     template.HTML(costChart(d, colors)),
		Statuses: d.Statuses,
		Hops:     d.Hops,
		Bucket:   bucketName(d.Bucket),
	}
	for _, p := range d.PSPs {
		page.Rows = append(page.Rows, pspLine(p))
		page.Colors = append(page.Colors, colors[p.PSP])
	}
	page.Header = []string{"psp", "attempts", "approved", "success%", "psp errors", "failovers out", "failover%",
		"first-choice", "failovers in", "recovered", "finalized"}
	return htmlTemplate.Execute(w, page)
}

type htmlPage struct {
	Title, Period, Rate, Failover, Bucket string
	Payments, Approved, Attempts, Waiting int64
	Success, Flows, Cost                  template.HTML
	Header                                []string
	Rows                                  [][]string
	Colors                                []string
	Statuses                              []StatusCount
	Hops                                  []HopStats
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"pct": pct}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}: {{.Period}}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px 32px; color: #1f2937; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; }
.period { color: #6b7280; margin-bottom: 16px; }
.tiles { display: flex; gap: 16px; flex-wrap: wrap; }
.tile { border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 16px; min-width: 140px; }
.tile .v { font-size: 22px; font-weight: 600; }
.tile .k { color: #6b7280; font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e5e7eb; text-align: right; }
th:first-child, td:first-child, .t { text-align: left; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.note { color: #6b7280; font-size: 12px; }
svg text { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<div class="period">{{.Period}}</div>
<div class="tiles">
<div class="tile"><div class="v">{{.Payments}}</div><div class="k">payments finalized</div></div>
<div class="tile"><div class="v">{{.Rate}}</div><div class="k">approved ({{.Approved}})</div></div>
<div class="tile"><div class="v">{{.Attempts}}</div><div class="k">attempts</div></div>
<div class="tile"><div class="v">{{.Failover}}</div><div class="k">attempts failed over</div></div>
</div>

<h2>Success rate over time per PSP</h2>
<div class="note">approved attempts / attempts, per {{.Bucket}}</div>
{{.Success}}

<h2>Failover flows between PSPs</h2>
<div class="note">band width: attempts at the right-hand PSP right after an attempt at the left-hand one; darker part: recovered (approved)</div>
{{.Flows}}
{{if .Hops}}<table>
<tr><th>from</th><th class="t">to</th><th>hops</th><th>recovered</th><th>recovery%</th></tr>
{{range .Hops}}<tr><td>{{.From}}</td><td class="t">{{.To}}</td><td>{{.Hops}}</td><td>{{.Recovered}}</td><td>{{pct .RecoveryRate}}</td></tr>
{{end}}</table>{{end}}

<h2>Cost per approved payment per PSP</h2>
<div class="note">all fees charged by the PSP (declines included) / payments it approved, in minor units of each currency</div>
{{.Cost}}

<h2>Per PSP</h2>
<table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range $i, $row := .Rows}}<tr>{{range $j, $cell := $row}}<td>{{if eq $j 0}}<span class="swatch" style="background:{{index $.Colors $i}}"></span>{{end}}{{$cell}}</td>{{end}}</tr>
{{end}}</table>

<h2>Payments by final status</h2>
<table>
<tr><th>status</th><th>payments</th></tr>
{{range .Statuses}}<tr><td>{{.Status}}</td><td>{{.Payments}}</td></tr>
{{end}}<tr><td><b>total</b></td><td><b>{{.Payments}}</b></td></tr>
{{if .Waiting}}<tr><td>ACTION_REQUIRED results (not final)</td><td>{{.Waiting}}</td></tr>
{{end}}</table>
</body>
</html>
`))

// palette gives PSPs distinct colours, in name order.
var palette = []string{"#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"}

func pspColors(d *ReportData) map[string]string {
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" {
			seen[n] = true
		}
	}
	for _, p := range d.PSPs {
		add(p.PSP)
	}
	for _, h := range d.Hops {
		add(h.From)
		add(h.To)
	}
	for _, c := range d.Costs {
		add(c.PSP)
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	out := map[string]string{}
	for i, n := range names {
		out[n] = palette[i%len(palette)]
	}
	return out
}

// esc escapes text for SVG (XML) content and attributes.
func esc(s string) string { return template.HTMLEscapeString(s) }

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// successChart is a line per PSP of approved/attempts per time bucket, with
// a gap where a PSP had no attempt.
func successChart(d *ReportData, colors map[string]string) string {
	if len(d.Series) == 0 {
		return `<p class="note">no attempts in this period</p>`
	}
	const width, height = 960.0, 340.0
	const left, right, top, bottom = 56.0, 150.0, 16.0, 40.0
	pw, ph := width-left-right, height-top-bottom
	first, last := d.Series[0].At, d.Series[0].At
	byPSP := map[string]map[time.Time]SeriesPoint{}
	for _, p := range d.Series {
		if p.At.Before(first) {
			first = p.At
		}
		if p.At.After(last) {
			last = p.At
		}
		if byPSP[p.PSP] == nil {
			byPSP[p.PSP] = map[time.Time]SeriesPoint{}
		}
		byPSP[p.PSP][p.At] = p
	}
	buckets := int(last.Sub(first)/d.Bucket) + 1
	x := func(t time.Time) float64 {
		if buckets == 1 {
			return left + pw/2
		}
		return left + pw*float64(t.Sub(first)/d.Bucket)/float64(buckets-1)
	}
	y := func(rate float64) float64 { return top + ph*(1-rate) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="success rate over time per PSP">`, width, height, width, height)
	for _, r := range []float64{0, 0.25, 0.5, 0.75, 1} {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e5e7eb"/>`, f1(left), f1(y(r)), f1(left+pw), f1(y(r)))
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="11" text-anchor="end" fill="#6b7280">%.0f%%</text>`, f1(left-6), f1(y(r)+4), 100*r)
	}
	// About six time labels.
	step := max(1, buckets/6)
	layout := "15:04"
	if d.Bucket >= 24*time.Hour || last.Sub(first) >= 48*time.Hour {
		layout = "Jan 2"
	} else if last.Sub(first) >= 24*time.Hour {
		layout = "Jan 2 15:04"
	}
	for i := 0; i < buckets; i += step {
		t := first.Add(time.Duration(i) * d.Bucket)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#9ca3af"/>`, f1(x(t)), f1(top+ph), f1(x(t)), f1(top+ph+4))
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="11" text-anchor="middle" fill="#6b7280">%s</text>`, f1(x(t)), f1(top+ph+18), esc(t.UTC().Format(layout)))
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="11" text-anchor="middle" fill="#6b7280">time (UTC)</text>`, f1(left+pw/2), f1(height-4))
	names := make([]string, 0, len(byPSP))
	for n := range byPSP {
		names = append(names, n)
	}
	sort.Strings(names)
	for li, name := range names {
		color := colors[name]
		var path strings.Builder
		pen := false
		var dots strings.Builder
		for i := 0; i < buckets; i++ {
			t := first.Add(time.Duration(i) * d.Bucket)
			p, ok := byPSP[name][t]
			if !ok || p.Attempts == 0 {
				pen = false
				continue
			}
			r := ratio(p.Approved, p.Attempts)
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%s %s ", cmd, f1(x(t)), f1(y(r)))
			pen = true
			fmt.Fprintf(&dots, `<circle cx="%s" cy="%s" r="2.5" fill="%s"><title>%s %s: %s (%d/%d)</title></circle>`,
				f1(x(t)), f1(y(r)), color, esc(name), esc(t.UTC().Format("2006-01-02 15:04")), pct(r), p.Approved, p.Attempts)
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.TrimSpace(path.String()), color)
		b.WriteString(dots.String())
		ly := top + 14 + float64(li)*20
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="14" height="4" fill="%s"/>`, f1(left+pw+16), f1(ly-6), color)
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="12" fill="#1f2937">%s</text>`, f1(left+pw+36), f1(ly), esc(name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// flowChart is a two-column flow diagram: PSPs payments failed over from on
// the left, PSPs they went to on the right, one band per hop as wide as its
// attempts, the recovered share darker.
func flowChart(d *ReportData, colors map[string]string) string {
	if len(d.Hops) == 0 {
		return `<p class="note">no failovers in this period</p>`
	}
	const width = 960.0
	const left, right, nodeW, gap = 170.0, 170.0, 14.0, 18.0
	var total int64
	out, in := map[string]int64{}, map[string]int64{}
	for _, h := range d.Hops {
		total += h.Hops
		out[h.From] += h.Hops
		in[h.To] += h.Hops
	}
	froms, tos := sortedKeys(out), sortedKeys(in)
	const scaleH = 260.0
	unit := scaleH / float64(total)
	height := scaleH + gap*float64(max(len(froms), len(tos))-1) + 40
	// Node positions.
	place := func(names []string, sizes map[string]int64) map[string]float64 {
		pos := map[string]float64{}
		yy := 20.0
		for _, n := range names {
			pos[n] = yy
			yy += float64(sizes[n])*unit + gap
		}
		return pos
	}
	fromY, toY := place(froms, out), place(tos, in)
	xl, xr := left, width-right-nodeW
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="failover flows between PSPs">`, width, height, width, height)
	// Bands, in a stable order: by source, then target.
	hops := append([]HopStats(nil), d.Hops...)
	sort.Slice(hops, func(i, j int) bool {
		if hops[i].From != hops[j].From {
			return hops[i].From < hops[j].From
		}
		return hops[i].To < hops[j].To
	})
	outUsed, inUsed := map[string]float64{}, map[string]float64{}
	for _, h := range hops {
		th := float64(h.Hops) * unit
		y0 := fromY[h.From] + outUsed[h.From]
		y1 := toY[h.To] + inUsed[h.To]
		outUsed[h.From] += th
		inUsed[h.To] += th
		color := colors[h.From]
		band := func(a0, a1, hgt float64, opacity string, label string) {
			mx := (xl + nodeW + xr) / 2
			fmt.Fprintf(&b, `<path d="M%s %s C%s %s %s %s %s %s L%s %s C%s %s %s %s %s %s Z" fill="%s" fill-opacity="%s"><title>%s</title></path>`,
				f1(xl+nodeW), f1(a0), f1(mx), f1(a0), f1(mx), f1(a1), f1(xr), f1(a1),
				f1(xr), f1(a1+hgt), f1(mx), f1(a1+hgt), f1(mx), f1(a0+hgt), f1(xl+nodeW), f1(a0+hgt),
				color, opacity, esc(label))
		}
		label := fmt.Sprintf("%s → %s: %d hops, %d recovered (%s)", h.From, h.To, h.Hops, h.Recovered, pct(h.RecoveryRate))
		band(y0, y1, th, "0.25", label)
		if h.Recovered > 0 {
			band(y0, y1, float64(h.Recovered)*unit, "0.55", label)
		}
		// Bands leave each source node stacked, so labels there never
		// overlap; thin bands go without.
		if th >= 12 {
			fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="11" fill="#1f2937">%s</text>`,
				f1(xl+nodeW+6), f1(y0+th/2+4), esc(fmt.Sprintf("→ %s  %d hops, %s recovered", h.To, h.Hops, pct(h.RecoveryRate))))
		}
	}
	for _, n := range froms {
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, f1(xl), f1(fromY[n]), f1(nodeW), f1(math.Max(1, float64(out[n])*unit)), colors[n])
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="12" text-anchor="end" fill="#1f2937">%s (%d out)</text>`, f1(xl-8), f1(fromY[n]+float64(out[n])*unit/2+4), esc(n), out[n])
	}
	for _, n := range tos {
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, f1(xr), f1(toY[n]), f1(nodeW), f1(math.Max(1, float64(in[n])*unit)), colors[n])
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="12" fill="#1f2937">%s (%d in)</text>`, f1(xr+nodeW+8), f1(toY[n]+float64(in[n])*unit/2+4), esc(n), in[n])
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// costChart is a horizontal bar per PSP and currency: the cost per approved
// payment, each currency on its own scale.
func costChart(d *ReportData, colors map[string]string) string {
	if len(d.Costs) == 0 {
		return `<p class="note">no attempts in this period</p>`
	}
	const width = 960.0
	const left, right, barH, gap = 170.0, 340.0, 22.0, 8.0
	byCur := map[string][]CostStats{}
	for _, c := range d.Costs {
		byCur[c.Currency] = append(byCur[c.Currency], c)
	}
	currencies := make([]string, 0, len(byCur))
	for c := range byCur {
		currencies = append(currencies, c)
	}
	sort.Strings(currencies)
	height := 10.0
	for _, c := range currencies {
		height += 24 + float64(len(byCur[c]))*(barH+gap)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="cost per approved payment per PSP">`, width, height, width, height)
	yy := 10.0
	pw := width - left - right
	for _, cur := range currencies {
		rows := byCur[cur]
		top := 0.0
		for _, r := range rows {
			top = math.Max(top, r.CostPerApproved)
		}
		fmt.Fprintf(&b, `<text x="0" y="%s" font-size="13" font-weight="600" fill="#1f2937">%s</text>`, f1(yy+14), esc(cur))
		yy += 24
		for _, r := range rows {
			w := 0.0
			if top > 0 {
				w = pw * r.CostPerApproved / top
			}
			fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="12" text-anchor="end" fill="#1f2937">%s</text>`, f1(left-8), f1(yy+barH/2+4), esc(r.PSP))
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s %s: %s fees / %d approved</title></rect>`,
				f1(left), f1(yy), f1(math.Max(1, w)), f1(barH), colors[r.PSP], esc(r.PSP), esc(cur), strconv.FormatInt(r.FeeMinor, 10), r.Approved)
			value := strconv.FormatFloat(r.CostPerApproved, 'f', 2, 64)
			if r.Approved == 0 {
				value = "no approval"
			}
			fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="12" fill="#1f2937">%s  (fees %d / %d approved, %d attempts)</text>`,
				f1(left+math.Max(1, w)+8), f1(yy+barH/2+4), esc(value), r.FeeMinor, r.Approved, r.Attempts)
			yy += barH + gap
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// bucketName is a bucket size for people: "5 minutes", "1 hour".
func bucketName(b time.Duration) string {
	switch {
	case b >= 24*time.Hour && b%(24*time.Hour) == 0:
		return plural(int64(b/(24*time.Hour)), "day")
	case b >= time.Hour && b%time.Hour == 0:
		return plural(int64(b/time.Hour), "hour")
	default:
		return plural(int64(b/time.Minute), "minute")
	}
}

func plural(n int64, unit string) string {
	if n == 1 {
		return unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}
