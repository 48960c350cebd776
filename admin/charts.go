package admin

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/payroute/payroute/analytics"
)

// The console's charts read ClickHouse, the record of every attempt and
// payment of the whole cluster (not only this instance), through the admin
// port's own pool. A chart request that ClickHouse cannot answer is a 503
// saying so; nothing else on the admin port depends on ClickHouse.

// maxChartWindow bounds ?minutes= so a console cannot ask for a scan of
// the whole history.
const maxChartWindow = 31 * 24 * time.Hour

// chartQueryTimeout bounds one chart's queries.
const chartQueryTimeout = 20 * time.Second

// chartWindow reads ?minutes=, defaulting to the configured window.
func (s *Server) chartWindow(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("minutes")
	if v == "" {
		return s.cfg.ChartWindow, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || time.Duration(n)*time.Minute > maxChartWindow {
		return 0, fmt.Errorf("minutes must be a whole number within [1,%d], got %q", int(maxChartWindow.Minutes()), v)
	}
	return time.Duration(n) * time.Minute, nil
}

// chartConn returns the ClickHouse pool, or writes the error.
func (s *Server) chartConn(ctx context.Context, w http.ResponseWriter) *analytics.Conn {
	if s.ch == nil {
		writeError(w, http.StatusNotFound, "analytics is disabled on this instance (analytics.enabled: false): no ClickHouse to chart")
		return nil
	}
	conn, err := s.ch.get(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return nil
	}
	return conn
}

// PSPChart is one PSP's line of /api/charts/psps.
type PSPChart struct {
	PSP                    string  `json:"psp"`
	Attempts               int64   `json:"attempts"`
	Approved               int64   `json:"approved"`
	Declined               int64   `json:"declined"`
	PSPErrors              int64   `json:"psp_errors"`
	FailoversOut           int64   `json:"failovers_out"`
	FailoversIn            int64   `json:"failovers_in"`
	Recovered              int64   `json:"recovered"`
	SuccessRate            float64 `json:"success_rate"`
	FailoverRate           float64 `json:"failover_rate"`
	FirstChoiceSuccessRate float64 `json:"first_choice_success_rate"`
}

// PSPCharts is /api/charts/psps: the per-PSP report over the window.
type PSPCharts struct {
	From     time.Time        `json:"from"`
	Attempts int64            `json:"attempts"`
	Payments int64            `json:"payments"`
	Statuses map[string]int64 `json:"statuses"`
	PSPs     []PSPChart       `json:"psps"`
}

func (s *Server) handlePSPCharts(w http.ResponseWriter, r *http.Request) {
	window, err := s.chartWindow(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), chartQueryTimeout)
	defer cancel()
	conn := s.chartConn(ctx, w)
	if conn == nil {
		return
	}
	from := time.Now().Add(-window)
	d, err := analytics.Report(ctx, conn, analytics.ReportOptions{From: from})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	out := PSPCharts{From: from, Attempts: d.Attempts, Payments: d.Payments, Statuses: map[string]int64{}, PSPs: []PSPChart{}}
	for _, st := range d.Statuses {
		out.Statuses[string(st.Status)] = st.Payments
	}
	for _, p := range d.PSPs {
		out.PSPs = append(out.PSPs, PSPChart{
			PSP: p.PSP, Attempts: p.Attempts, Approved: p.Approved, Declined: p.Declined, PSPErrors: p.PSPErrors,
			FailoversOut: p.FailoversOut, FailoversIn: p.FailoversIn, Recovered: p.Recovered,
			SuccessRate: p.SuccessRate, FailoverRate: p.FailoverRate, FirstChoiceSuccessRate: p.FirstChoiceSuccessRate,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// TimelineBucket is one PSP's attempts in one time bucket.
type TimelineBucket struct {
	At        time.Time `json:"at"`
	PSP       string    `json:"psp"`
	Attempts  int64     `json:"attempts"`
	Approved  int64     `json:"approved"`
	PSPErrors int64     `json:"psp_errors"`
}

// Timeline is /api/charts/timeline: attempts per PSP over time.
type Timeline struct {
	From        time.Time        `json:"from"`
	StepSeconds int64            `json:"step_seconds"`
	Buckets     []TimelineBucket `json:"buckets"`
}

// timelineStep picks a bucket width that gives at most 60 buckets, from a
// list of round widths.
func timelineStep(window time.Duration) time.Duration {
	for _, s := range []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour} {
		if window/s <= 60 {
			return s
		}
	}
	return 24 * time.Hour
}

// timeline reads attempts per PSP and bucket since from. Raw rows are
// counted without FINAL: the sink inserts each record once, and a chart
// does not need FINAL's cost.
func timeline(ctx context.Context, conn *analytics.Conn, from time.Time, step time.Duration) (Timeline, error) {
	stepMs := uint64(step.Milliseconds())
	q := `SELECT intDiv(started_at_ms, ?) * ? AS bucket, psp, count(),
    countIf(outcome = 'APPROVED'), countIf(class IN ('psp_error', 'rate_limited'))
FROM ` + conn.Database + `.attempts
WHERE started_at_ms >= ?
GROUP BY bucket, psp
ORDER BY bucket, psp`
	out := Timeline{From: from, StepSeconds: int64(step.Seconds()), Buckets: []TimelineBucket{}}
	rows, err := conn.Query(ctx, q, stepMs, stepMs, uint64(from.UnixMilli()))
	if err != nil {
		return out, fmt.Errorf("timeline: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var bucket, n, approved, pspErrors uint64
		var psp string
		if err := rows.Scan(&bucket, &psp, &n, &approved, &pspErrors); err != nil {
			return out, fmt.Errorf("timeline: %w", err)
		}
		out.Buckets = append(out.Buckets, TimelineBucket{
			At: time.UnixMilli(int64(bucket)).UTC(), PSP: psp,
			Attempts: int64(n), Approved: int64(approved), PSPErrors: int64(pspErrors),
		})
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("timeline: %w", err)
	}
	return out, nil
}

func (s *Server) handleTimeline(w http.ResponseWriter, r *http.Request) {
	window, err := s.chartWindow(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), chartQueryTimeout)
	defer cancel()
	conn := s.chartConn(ctx, w)
	if conn == nil {
		return
	}
	step := timelineStep(window)
	from := time.Now().Add(-window).Truncate(step)
	t, err := timeline(ctx, conn, from, step)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, t)
}
