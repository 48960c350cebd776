package analytics

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/schemas"
)

// reportDataset is twelve payments of merchant m-1 in the hour after base:
//
//	p01..p04  psp-a approved
//	p05..p08  psp-a psp_error -> psp-b approved
//	p09       psp-a psp_error -> psp-b hard decline
//	p10       psp-a psp_error -> psp-b psp_error -> psp-c approved
//	p11       psp-c soft decline
//	p12       psp-c rate_limited, last rank: FAILED
//
// plus one payment of another merchant and one the day before, which the
// filtered reports must leave out.
func reportDataset() []any {
	var events []any
	at := base.Add(time.Minute)
	add := func(merchant, id string, status schemas.Status, hops ...[2]string) {
		var path []*schemas.AttemptRecorded
		prev := ""
		for i, h := range hops {
			a := attempt(merchant, id, int32(i+1), h[0], prev, schemas.Class(h[1]), at)
			at = at.Add(time.Second)
			path = append(path, a)
			events = append(events, a)
			prev = h[0]
		}
		events = append(events, result(status, path...))
	}
	const ok, pspErr, hard, soft, limited = "", "psp_error", "hard_decline", "soft_decline", "rate_limited"
	for _, id := range []string{"p01", "p02", "p03", "p04"} {
		add("m-1", id, schemas.StatusApproved, [2]string{"psp-a", ok})
	}
	for _, id := range []string{"p05", "p06", "p07", "p08"} {
		add("m-1", id, schemas.StatusApproved, [2]string{"psp-a", pspErr}, [2]string{"psp-b", ok})
	}
	add("m-1", "p09", schemas.StatusDeclined, [2]string{"psp-a", pspErr}, [2]string{"psp-b", hard})
	add("m-1", "p10", schemas.StatusApproved, [2]string{"psp-a", pspErr}, [2]string{"psp-b", pspErr}, [2]string{"psp-c", ok})
	add("m-1", "p11", schemas.StatusDeclined, [2]string{"psp-c", soft})
	add("m-1", "p12", schemas.StatusFailed, [2]string{"psp-c", limited})
	add("m-2", "q01", schemas.StatusApproved, [2]string{"psp-a", pspErr}, [2]string{"psp-b", ok})
	at = base.Add(-24 * time.Hour)
	add("m-1", "old1", schemas.StatusApproved, [2]string{"psp-a", ok})
	return events
}

func TestReport(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	e := newEnv(t)
	c := openTest(t, cfg)
	events := reportDataset()
	e.publish(t, events...)
	s := e.startSink(t, cfg)
	waitFor(t, 30*time.Second, "the dataset to load", func() bool { return s.Stats().Committed == int64(len(events)) })

	ctx := context.Background()
	d, err := Report(ctx, c, ReportOptions{From: base, To: base.Add(time.Hour), Merchant: "m-1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []PSPStats{
		{PSP: "psp-a", Attempts: 10, Approved: 4, Declined: 0, PSPErrors: 6, FailoversOut: 6, FirstChoice: 10, FirstChoiceApproved: 4,
			FailoversIn: 0, Recovered: 0, Finalized: 4, FinalApproved: 4, SuccessRate: 0.4, FailoverRate: 0.6, FirstChoiceSuccessRate: 0.4,
			LatencyP50: 42, LatencyP95: 42, LatencyP99: 42},
		{PSP: "psp-c", Attempts: 3, Approved: 1, Declined: 1, PSPErrors: 1, FailoversOut: 0, FirstChoice: 2, FirstChoiceApproved: 0,
			FailoversIn: 1, Recovered: 1, Finalized: 3, FinalApproved: 1, SuccessRate: 1.0 / 3,
			LatencyP50: 42, LatencyP95: 42, LatencyP99: 42},
		{PSP: "psp-b", Attempts: 6, Approved: 4, Declined: 1, PSPErrors: 1, FailoversOut: 1, FirstChoice: 0, FirstChoiceApproved: 0,
			FailoversIn: 6, Recovered: 4, Finalized: 5, FinalApproved: 4, SuccessRate: 4.0 / 6, FailoverRate: 1.0 / 6,
			LatencyP50: 42, LatencyP95: 42, LatencyP99: 42},
	}
	if len(d.PSPs) != len(want) {
		t.Fatalf("report has %d PSPs, want %d: %+v", len(d.PSPs), len(want), d.PSPs)
	}
	for i, w := range want {
		if d.PSPs[i] != w {
			t.Errorf("line %d:\n got %+v\nwant %+v", i, d.PSPs[i], w)
		}
	}
	if d.Attempts != 19 || d.Payments != 12 || d.Status(schemas.StatusApproved) != 9 ||
		d.Status(schemas.StatusDeclined) != 2 || d.Status(schemas.StatusFailed) != 1 || len(d.Statuses) != 3 {
		t.Errorf("totals: attempts %d payments %d statuses %+v", d.Attempts, d.Payments, d.Statuses)
	}

	wantHops := []HopStats{{From: "psp-a", To: "psp-b", Hops: 6, Recovered: 4, RecoveryRate: 4.0 / 6},
		{From: "psp-b", To: "psp-c", Hops: 1, Recovered: 1, RecoveryRate: 1}}
	if !reflect.DeepEqual(d.Hops, wantHops) {
		t.Errorf("hops %+v, want %+v", d.Hops, wantHops)
	}
	wantCosts := []CostStats{{PSP: "psp-a", Currency: "EUR", Attempts: 10, FeeMinor: 310, Approved: 4, CostPerApproved: 77.5},
		{PSP: "psp-b", Currency: "EUR", Attempts: 6, FeeMinor: 186, Approved: 4, CostPerApproved: 46.5},
		{PSP: "psp-c", Currency: "EUR", Attempts: 3, FeeMinor: 93, Approved: 1, CostPerApproved: 93}}
	if !reflect.DeepEqual(d.Costs, wantCosts) {
		t.Errorf("costs %+v, want %+v", d.Costs, wantCosts)
	}
	// One hour in one-minute buckets; every attempt started in 09:01.
	minute := base.Add(time.Minute)
	wantSeries := []SeriesPoint{{At: minute, PSP: "psp-a", Attempts: 10, Approved: 4},
		{At: minute, PSP: "psp-b", Attempts: 6, Approved: 4}, {At: minute, PSP: "psp-c", Attempts: 3, Approved: 1}}
	if d.Bucket != time.Minute || !reflect.DeepEqual(d.Series, wantSeries) {
		t.Errorf("series in %s buckets %+v, want %+v", d.Bucket, d.Series, wantSeries)
	}
	if !d.Options.From.Equal(base) || !d.Options.To.Equal(base.Add(time.Hour)) {
		t.Errorf("applied period %+v", d.Options)
	}

	// A period not on whole minutes is widened to them.
	wide, err := Report(ctx, c, ReportOptions{From: base.Add(61 * time.Second), To: base.Add(62 * time.Second), Merchant: "m-1"})
	if err != nil {
		t.Fatal(err)
	}
	if wide.Attempts != 19 || !wide.Options.From.Equal(minute) || !wide.Options.To.Equal(minute.Add(time.Minute)) {
		t.Errorf("period inside 09:01: %d attempts over %+v", wide.Attempts, wide.Options)
	}

	// All merchants, all time: q01 and old1 come in.
	all, err := Report(ctx, c, ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := all.PSP("psp-a")
	b, _ := all.PSP("psp-b")
	if all.Payments != 14 || all.Attempts != 22 || a.Attempts != 12 || a.FailoversOut != 7 || a.Approved != 5 ||
		b.FailoversIn != 7 || b.Recovered != 5 || all.Status(schemas.StatusApproved) != 11 {
		t.Errorf("unfiltered report: %+v", all)
	}

	var buf bytes.Buffer
	if err := WriteText(&buf, d); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	t.Logf("\n%s", out)
	for _, line := range []string{
		"psp    attempts  approved  success%  psp errors  failovers out  failover%  first-choice  failovers in  recovered  finalized",
		"psp-a        10         4     40.0%           6              6      60.0%            10             0          0          4",
		"psp-c         3         1     33.3%           1              0       0.0%             2             1          1          3",
		"psp-b         6         4     66.7%           1              1      16.7%             0             6          4          5",
		"total        19         9     47.4%           8              7      36.8%            12             7          5         12",
		"payments by final status:  APPROVED 9  DECLINED 2  FAILED 1  (total 12)",
		"psp-a  psp-b     6          4      66.7%",
		"psp-a  EUR             10   310         4          77.50",
		"psp    currency  attempts  fees  approved  cost/approved",
		"psp-a   42   42   42",
		"2026-03-14 09:00:00 to 2026-03-14 10:00:00 UTC, merchant m-1",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("report text lacks %q", line)
		}
	}
}

func TestWriteTextEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, &ReportData{}); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, "no attempts in this period") || !strings.Contains(got, "all time, all merchants") {
		t.Fatalf("empty report:\n%s", got)
	}
}
