package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// chromiumPath is Debian's chromium package (scripts/test.sh installs it).
const chromiumPath = "/usr/bin/chromium"

// syncBuffer is a bytes.Buffer the demo's goroutines may write at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// headless runs Chromium on url with args (--dump-dom or --screenshot) and
// returns its standard output. The flags keep it off the network: the
// machine may have none, and Chromium would hang looking things up.
func headless(t *testing.T, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--hide-scrollbars", "--user-data-dir=" + t.TempDir(), "--window-size=1400,1900",
		// Let the page's timers run and its requests finish before the
		// DOM or the screenshot is taken.
		"--virtual-time-budget=8000"}
	cmd := exec.CommandContext(ctx, chromiumPath, append(append(base, args...), url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestConsoleShowsLiveDemo runs the demo with its admin port, loads the
// console in headless Chromium while payments flow, and checks that the
// page shows real data: the processor's counts, each PSP's last minute,
// the routing version, consumer lag and the ClickHouse charts. It takes a
// screenshot (kept in $TEST_CONSOLE_SCREENSHOT when set, for a person to
// look at) and checks the live-flow chart was drawn in it. It also scrapes
// /metrics during the run for the series operators rely on.
func TestConsoleShowsLiveDemo(t *testing.T) {
	addr := need(t, "TEST_CLICKHOUSE_ADDR", "run scripts/clickhouse.sh start and set TEST_CLICKHOUSE_ADDR=127.0.0.1:19000")
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: scripts/test.sh installs Debian's chromium package", chromiumPath)
		}
		t.Skipf("%s is missing (apt-get install chromium, or run scripts/test.sh)", chromiumPath)
	}
	cfg := DefaultConfiguration()
	cfg.Log.Level = "warn"
	cfg.Analytics.ClickHouse.Addr = addr
	cfg.Analytics.ClickHouse.Database = "payroute_console_" + randomSuffix(t)
	cfg.Analytics.FlushInterval = 200 * time.Millisecond
	const payments = 3000
	o := demoOptions{payments: payments, rate: 150, outageFrom: 0.2, outageTo: 0.5, settleAfter: 2 * time.Minute,
		admin: "127.0.0.1:0", keepRunning: true}
	var out, progress syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := runDemo(ctx, cfg, o, &out, &progress)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("the demo did not stop")
		}
		if conn, err := openCH(cfg); err == nil {
			_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Analytics.ClickHouse.Database)
			_ = conn.Close()
		}
	})

	// The demo prints the console's URL once the application runs.
	urlRe := regexp.MustCompile(`console at (http://127\.0\.0\.1:\d+/)`)
	var url string
	waitFor(t, "the console URL", done, &progress, func() bool {
		m := urlRe.FindStringSubmatch(progress.String())
		if m != nil {
			url = m[1]
		}
		return url != ""
	})
	// Wait until payments are flowing, psp-a has been down (failovers)
	// and the sink has put attempts into ClickHouse: then the console has
	// something to show in every panel.
	waitFor(t, "failovers and ClickHouse rows", done, &progress, func() bool {
		var f struct {
			Totals struct{ Final, Failovers int64 }
		}
		var c struct{ Attempts int64 }
		return getAPI(url+"api/flow", &f) == nil && getAPI(url+"api/charts/psps?minutes=5", &c) == nil &&
			f.Totals.Final > 200 && f.Totals.Failovers > 0 && c.Attempts > 0
	})
	if strings.Contains(progress.String(), "all 3000 payments have a final result") {
		t.Log("note: the demo finished publishing before the console was loaded (a slow machine)")
	}

	checkMetrics(t, url)

	dom := string(headless(t, url, "--dump-dom"))
	num := func(what, pattern string) int64 {
		t.Helper()
		m := regexp.MustCompile(pattern).FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("the console shows no %s (/%s/) in:\n%s", what, pattern, dom)
		}
		n, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return int64(n)
	}
	if n := num("final results", `id="total-final" data-value="([0-9.]+)"`); n <= 200 || n > payments {
		t.Errorf("console shows %d final results, want within (200, %d]", n, payments)
	}
	if n := num("failovers", `id="total-failovers" data-value="([0-9.]+)"`); n == 0 {
		t.Error("console shows no failovers although psp-a went down")
	}
	if n := num("psp-a's live attempts", `(?s)<tr data-psp="psp-a">.*?data-field="attempts" data-value="([0-9]+)"`); n == 0 {
		t.Error("console shows no attempts at psp-a in the last minute")
	}
	if n := num("psp-a's attempts from ClickHouse", `(?s)<table id="ch-table">.*?<tr data-psp="psp-a">.*?data-field="attempts" data-value="([0-9]+)"`); n == 0 {
		t.Error("the ClickHouse table shows no attempts at psp-a")
	}
	for what, want := range map[string]string{
		"routing version":              `data-version="demo-v1"`,
		"readiness":                    `data-ready="true"`,
		"live-flow line":               `data-series="payments/s"`,
		"ClickHouse success-rate bars": `data-bar="success rate"`,
		"retry-rank lag":               `<tr data-topic="payments.retry.rank-2">`,
		"ClickHouse charts loaded":     `data-charts-loaded="true"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("console lacks the %s (%s)", what, want)
		}
	}

	shot := filepath.Join(t.TempDir(), "console.png")
	if p := os.Getenv("TEST_CONSOLE_SCREENSHOT"); p != "" {
		shot = p
	}
	headless(t, url, "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 1900 {
		t.Fatalf("screenshot is %v", b.Size())
	}
	// The payments/s line is drawn in #2f6fde: count pixels close to it.
	var blue int
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if near(r>>8, 0x2f) && near(g>>8, 0x6f) && near(b>>8, 0xde) {
				blue++
			}
		}
	}
	if blue < 200 {
		t.Errorf("the screenshot has %d pixels of the payments/s line colour: the live chart was not drawn", blue)
	}
	t.Logf("console screenshot: %s", shot)
}

func near(v, want uint32) bool { return v+24 >= want && v <= want+24 }

// waitFor polls cond until it holds, failing when the demo ends first or a
// minute and a half passes.
func waitFor(t *testing.T, what string, done chan error, progress *syncBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the demo ended (%v) before %s\n%s", err, what, progress.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s\n%s", what, progress.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func getAPI(url string, v any) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

// checkMetrics scrapes /metrics and checks the series issue #10 lists:
// payments by status, attempts by PSP and class, failovers, PSP health
// state (when the application tracks health), retry-topic lag, sink lag
// and batch size, and franz-go's client metrics. Lag is read every two
// seconds, and the sink's group exists only once it joined, so it scrapes
// until every series is there or half a minute has passed.
func checkMetrics(t *testing.T, url string) {
	t.Helper()
	var missing []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		missing = missingSeries(t, url)
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, m := range missing {
		t.Errorf("/metrics lacks %s during the demo", m)
	}
	if len(missing) > 0 {
		var flow struct {
			LagError string `json:"lag_error"`
		}
		_ = getAPI(url+"api/flow", &flow)
		t.Logf("the lag reader's last error: %q", flow.LagError)
	}
}

func missingSeries(t *testing.T, url string) []string {
	t.Helper()
	res, err := http.Get(url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	has := func(name string, labels map[string]string) bool {
		f, ok := fams[name]
		if !ok {
			return false
		}
	next:
		for _, m := range f.Metric {
			for k, v := range labels {
				found := false
				for _, l := range m.Label {
					found = found || (l.GetName() == k && l.GetValue() == v)
				}
				if !found {
					continue next
				}
			}
			return true
		}
		return false
	}
	want := []struct {
		name   string
		labels map[string]string
	}{
		{"payroute_payments_total", map[string]string{"status": "APPROVED"}},
		{"payroute_psp_attempts_total", map[string]string{"psp": "psp-a", "class": "psp_error"}},
		{"payroute_psp_attempts_total", map[string]string{"psp": "psp-b", "class": "none"}},
		{"payroute_psp_attempt_duration_seconds", map[string]string{"psp": "psp-a"}},
		{"payroute_failovers_total", nil},
		{"payroute_consumer_lag", map[string]string{"group": "payroute-processor", "topic": "payments.retry.rank-2"}},
		{"payroute_consumer_lag", map[string]string{"group": "payroute-analytics", "topic": "payments.attempts"}},
		{"payroute_sink_rows_total", map[string]string{"table": "attempts"}},
		{"payroute_sink_batches_total", nil},
		{"payroute_processor_assigned", nil},
		{"payroute_config_info", map[string]string{"version": "demo-v1"}},
		{"payroute_kafka_produce_records_total", map[string]string{"client": "payroute-processor", "topic": "payments.results"}},
	}
	var psps struct {
		HealthTracked bool `json:"health_tracked"`
	}
	if err := getAPI(url+"api/psps", &psps); err != nil {
		t.Fatal(err)
	}
	if psps.HealthTracked {
		want = append(want, struct {
			name   string
			labels map[string]string
		}{"payroute_psp_health", map[string]string{"psp": "psp-a"}})
	}
	var missing []string
	for _, w := range want {
		if !has(w.name, w.labels) {
			missing = append(missing, fmt.Sprintf("%s%v", w.name, w.labels))
		}
	}
	return missing
}
