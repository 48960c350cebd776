package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/kafka/kafkatest"
	"github.com/payroute/payroute/schemas"
)

// fakeCounters are processor counters a test sets.
type fakeCounters struct {
	mu                                                                           sync.Mutex
	committed, attempts, failovers, dead, duplicates, scheduled, abort, restarts int64
	results                                                                      map[schemas.Status]int64
}

func (f *fakeCounters) get(p *int64) int64 { f.mu.Lock(); defer f.mu.Unlock(); return *p }
func (f *fakeCounters) Committed() int64   { return f.get(&f.committed) }
func (f *fakeCounters) Attempts() int64    { return f.get(&f.attempts) }
func (f *fakeCounters) Failovers() int64   { return f.get(&f.failovers) }
func (f *fakeCounters) DeadLettered() int64 {
	return f.get(&f.dead)
}
func (f *fakeCounters) Duplicates() int64 { return f.get(&f.duplicates) }
func (f *fakeCounters) Scheduled() int64  { return f.get(&f.scheduled) }
func (f *fakeCounters) Aborted() int64    { return f.get(&f.abort) }
func (f *fakeCounters) Restarts() int64   { return f.get(&f.restarts) }
func (f *fakeCounters) Results() map[schemas.Status]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[schemas.Status]int64{}
	for k, v := range f.results {
		out[k] = v
	}
	return out
}

type fakeSink analytics.Stats

func (f fakeSink) Stats() analytics.Stats { return analytics.Stats(f) }

type fakeInFlight int

func (f fakeInFlight) InFlight() int { return int(f) }

type fakeCalls map[string][2]int

func (f fakeCalls) Calls(name string) (running, queued int) { return f[name][0], f[name][1] }

// embeddedCluster is a kfake broker with payroute's topics.
func embeddedCluster(t *testing.T) *kafka.Cluster {
	t.Helper()
	cfg := kafka.DefaultConfiguration()
	cfg.Partitions = 2
	c, _ := kafkatest.Cluster(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.EnsureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// testConfig listens on any free loopback port.
func testConfig() Configuration {
	cfg := DefaultConfiguration()
	cfg.Listen = "127.0.0.1:0"
	cfg.LagInterval = 100 * time.Millisecond
	return cfg
}

// startServer builds and starts a server, stopped at cleanup.
func startServer(t *testing.T, cfg Configuration, src Sources) *Server {
	t.Helper()
	s, err := New(cfg, nil, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// get requests path from h and returns the status and body.
func get(t *testing.T, h http.Handler, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.Bytes()
}

// getJSON requests path and decodes the answer into v.
func getJSON(t *testing.T, h http.Handler, path string, v any) int {
	t.Helper()
	code, body := get(t, h, path)
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, body)
	}
	return code
}

// scrape parses /metrics into families by name.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, h, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	return parseMetrics(t, strings.NewReader(string(body)))
}

func parseMetrics(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include want, and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// testClickHouse is TEST_CLICKHOUSE_ADDR, "" when unset, for tests that
// check more when a server is there.
func testClickHouse() string { return os.Getenv("TEST_CLICKHOUSE_ADDR") }
