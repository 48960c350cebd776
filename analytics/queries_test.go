package analytics

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"
)

// Every query of the pack has its truth, and every truth its query.
func TestQueryPackIsComplete(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, q := range qs {
		seen[q.Name] = true
		if _, ok := packTruth[q.Name]; !ok {
			t.Errorf("query %s has no test truth", q.Name)
		}
		if q.Title == "" || strings.Count(q.Doc, "\n") < 5 {
			t.Errorf("query %s is not documented: %q", q.Name, q.Doc)
		}
		sql, err := q.SQL("somedb", ReportOptions{Merchant: "m'1"})
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"payroute.", "{{", "OVER (", "DateTime64", "LowCardinality", "Map("} {
			if strings.Contains(sql, bad) {
				t.Errorf("query %s contains %q", q.Name, bad)
			}
		}
		if !strings.Contains(sql, `merchant_id = 'm\'1'`) {
			t.Errorf("query %s does not filter on the merchant, or does not quote it:\n%s", q.Name, sql)
		}
	}
	for name := range packTruth {
		if !seen[name] {
			t.Errorf("truth for %s, which is not in the pack", name)
		}
	}
	if _, err := QueryByName("nope"); err == nil || !strings.Contains(err.Error(), "success_rate") {
		t.Errorf("unknown query: %v", err)
	}
}

func TestPeriodRoundsToWholeMinutes(t *testing.T) {
	from, to := ReportOptions{From: base.Add(90 * time.Second), To: base.Add(150 * time.Second)}.period()
	if !from.Equal(base.Add(time.Minute)) || !to.Equal(base.Add(3*time.Minute)) {
		t.Fatalf("period %s - %s", from, to)
	}
	from, to = ReportOptions{}.period()
	if from.Unix() != 0 || to.Unix() <= base.Unix() {
		t.Fatalf("unbounded period %s - %s", from, to)
	}
}

// Each query of the pack, run by ClickHouse 18.16 on a generated world,
// gives exactly the numbers computed in Go from the same events: over all
// time, for one merchant, and for a period cutting through the data.
func TestQueryPackExact(t *testing.T) {
	t.Parallel()
	w := newWorld(7, 1500, base)
	_, c := loadWorld(t, w)
	ctx := context.Background()
	scopes := map[string]ReportOptions{
		"all":       {},
		"merchant":  {Merchant: "m-2"},
		"period":    {From: base.Add(35 * time.Minute), To: base.Add(85 * time.Minute)},
		"both":      {From: base.Add(50 * time.Minute), To: base.Add(70 * time.Minute), Merchant: "m-1"},
		"unmatched": {Merchant: "nobody"},
	}
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		for sname, opts := range scopes {
			t.Run(q.Name+"/"+sname, func(t *testing.T) {
				res, err := RunQuery(ctx, c, q.Name, opts)
				if err != nil {
					t.Fatal(err)
				}
				spec := packTruth[q.Name]
				want := spec.truth(w, scopeOf(opts))
				got := resultTable(t, res, spec.keys)
				compareTables(t, got, want)
				if sname == "all" {
					if len(want) < 2 {
						t.Fatalf("the world gives %s too few rows to test: %v", q.Name, want)
					}
					var buf bytes.Buffer
					if err := WriteQueryText(&buf, res); err != nil {
						t.Fatal(err)
					}
					t.Logf("\n%s", buf.String())
				}
			})
		}
	}
}

// resultTable turns a query result into key -> column -> value, numbers as
// float64 (times as Unix seconds).
func resultTable(t *testing.T, r *QueryResult, keys []string) table {
	t.Helper()
	out := table{}
	isKey := map[string]bool{}
	for _, k := range keys {
		isKey[k] = true
		if r.Column(k) < 0 {
			t.Fatalf("result has no key column %s: %v", k, r.Columns)
		}
	}
	for _, row := range r.Rows {
		var kv []string
		for _, k := range keys {
			kv = append(kv, fmt.Sprint(row[r.Column(k)]))
		}
		key := strings.Join(kv, "|")
		if _, dup := out[key]; dup {
			t.Fatalf("key %s twice in the result", key)
		}
		vals := map[string]float64{}
		for i, col := range r.Columns {
			if isKey[col] {
				continue
			}
			switch v := row[i].(type) {
			case uint64:
				vals[col] = float64(v)
			case int64:
				vals[col] = float64(v)
			case uint32:
				vals[col] = float64(v)
			case float64:
				vals[col] = v
			case float32:
				vals[col] = float64(v)
			case time.Time:
				vals[col] = float64(v.Unix())
			default:
				t.Fatalf("column %s: unexpected %T", col, v)
			}
		}
		out[key] = vals
	}
	return out
}

func compareTables(t *testing.T, got, want table) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, ok := got[k]
		if !ok {
			t.Errorf("row %s missing; want %v", k, want[k])
			continue
		}
		for col, wv := range want[k] {
			gv, ok := g[col]
			if !ok {
				t.Errorf("row %s: no column %s", k, col)
				continue
			}
			if gv != wv && math.Abs(gv-wv) > 1e-9*math.Max(1, math.Abs(wv)) {
				t.Errorf("row %s column %s = %v, want %v", k, col, gv, wv)
			}
		}
		for col := range g {
			if _, ok := want[k][col]; !ok {
				t.Errorf("row %s: column %s is not checked", k, col)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected row %s: %v", k, got[k])
		}
	}
}
