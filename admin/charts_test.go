package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/analytics/clickhousetest"
)

func TestTimelineStep(t *testing.T) {
	for _, c := range []struct{ window, step time.Duration }{
		{time.Minute, 5 * time.Second}, {5 * time.Minute, 5 * time.Second}, {15 * time.Minute, 15 * time.Second},
		{time.Hour, time.Minute}, {24 * time.Hour, 30 * time.Minute}, {31 * 24 * time.Hour, 24 * time.Hour},
	} {
		if got := timelineStep(c.window); got != c.step {
			t.Errorf("timelineStep(%s) = %s, want %s", c.window, got, c.step)
		}
		if c.window/timelineStep(c.window) > 60 && c.step != 24*time.Hour {
			t.Errorf("%s gives more than 60 buckets", c.window)
		}
	}
}

// TestChartsReadClickHouse loads a few attempts and payments into a fresh
// database and checks what the chart endpoints make of them.
func TestChartsReadClickHouse(t *testing.T) {
	addr := clickhousetest.Addr(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	chCfg := analytics.DefaultConfiguration().ClickHouse
	chCfg.Addr = addr
	chCfg.Database = "payroute_admin_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := analytics.Open(ctx, chCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+chCfg.Database)
		_ = conn.Close()
	})
	if err := analytics.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	// Two 5-second buckets, well inside a 5-minute window.
	base := time.Now().Add(-time.Minute).Truncate(5 * time.Second)
	type att struct {
		id, psp, outcome, class string
		at                      time.Time
	}
	for i, a := range []att{
		{"a1", "psp-a", "APPROVED", "", base},
		{"a2", "psp-a", "APPROVED", "", base.Add(time.Second)},
		{"a3", "psp-a", "ERROR", "psp_error", base.Add(2 * time.Second)},
		{"a4", "psp-b", "APPROVED", "", base.Add(6 * time.Second)},
	} {
		q := fmt.Sprintf(`INSERT INTO %s.attempts (attempt_id, payment_id, attempt_number, psp, outcome, class, started_at, started_at_ms, source_offset)
SELECT '%s', 'p%d', 1, '%s', '%s', '%s', toDateTime(%d), %d, %d`,
			chCfg.Database, a.id, i, a.psp, a.outcome, a.class, a.at.Unix(), a.at.UnixMilli(), i)
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	q := fmt.Sprintf(`INSERT INTO %s.payments (payment_id, status, psp, requested_at, requested_at_ms, completed_at, completed_at_ms, source_offset)
SELECT 'p0', 'APPROVED', 'psp-a', toDateTime(%d), %d, toDateTime(%d), %d, 1`,
		chCfg.Database, base.Unix(), base.UnixMilli(), base.Unix(), base.UnixMilli())
	if err := conn.Exec(ctx, q); err != nil {
		t.Fatal(err)
	}

	s, err := New(testConfig(), nil, Sources{Cluster: embeddedCluster(t), ClickHouse: &chCfg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.ch.close)

	var tl Timeline
	if code := getJSON(t, s.Handler(), "/api/charts/timeline?minutes=5", &tl); code != http.StatusOK {
		t.Fatalf("timeline status %d", code)
	}
	if tl.StepSeconds != 5 || len(tl.Buckets) != 2 {
		t.Fatalf("timeline %+v", tl)
	}
	a, bb := tl.Buckets[0], tl.Buckets[1]
	if a.PSP != "psp-a" || a.Attempts != 3 || a.Approved != 2 || a.PSPErrors != 1 || !a.At.Equal(base) {
		t.Errorf("psp-a bucket %+v (want at %v)", a, base)
	}
	if bb.PSP != "psp-b" || bb.Attempts != 1 || !bb.At.Equal(base.Add(5*time.Second)) {
		t.Errorf("psp-b bucket %+v", bb)
	}

	var pc PSPCharts
	if code := getJSON(t, s.Handler(), "/api/charts/psps?minutes=5", &pc); code != http.StatusOK {
		t.Fatalf("psps status %d", code)
	}
	if pc.Attempts != 4 || pc.Payments != 1 || pc.Statuses["APPROVED"] != 1 || len(pc.PSPs) != 2 {
		t.Fatalf("psps %+v", pc)
	}
	if p := pc.PSPs[0]; p.PSP != "psp-a" || p.Attempts != 3 || p.PSPErrors != 1 || p.SuccessRate < 0.66 || p.SuccessRate > 0.67 {
		t.Errorf("psp-a %+v", p)
	}

	// A window that ends before the data: nothing.
	if code := getJSON(t, s.Handler(), "/api/charts/timeline?minutes=0", &map[string]string{}); code != http.StatusBadRequest {
		t.Errorf("minutes=0 gives %d, want 400", code)
	}
}

// TestChartsWithoutClickHouse: analytics off is a 404 that says so; a
// server that does not answer is a 503 naming it.
func TestChartsWithoutClickHouse(t *testing.T) {
	s, err := New(testConfig(), nil, Sources{Cluster: embeddedCluster(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]string
	if code := getJSON(t, s.Handler(), "/api/charts/psps", &e); code != http.StatusNotFound || e["error"] == "" {
		t.Errorf("analytics off: %d %v", code, e)
	}
	down := analytics.DefaultConfiguration().ClickHouse
	down.Addr = "127.0.0.1:1"
	down.DialTimeout = 200 * time.Millisecond
	s, err = New(testConfig(), nil, Sources{Cluster: embeddedCluster(t), ClickHouse: &down}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := getJSON(t, s.Handler(), "/api/charts/timeline", &e); code != http.StatusServiceUnavailable || e["error"] == "" {
		t.Errorf("ClickHouse down: %d %v", code, e)
	}
}
