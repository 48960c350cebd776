package admin

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/analytics"
)

func TestReadiness(t *testing.T) {
	var assigned atomic.Bool
	unreachable := analytics.DefaultConfiguration().ClickHouse
	unreachable.Addr = "127.0.0.1:1" // nothing listens on port 1
	unreachable.DialTimeout = 200 * time.Millisecond
	cfg := testConfig()
	cfg.CheckTimeout = 3 * time.Second
	s := startServer(t, cfg, Sources{
		Cluster:    embeddedCluster(t),
		Assignment: AssignmentFunc(assigned.Load),
		ClickHouse: &unreachable,
	})
	h := s.Handler()

	var r Readiness
	if code := getJSON(t, h, "/readyz", &r); code != http.StatusServiceUnavailable || r.Ready {
		t.Fatalf("want 503 not ready, got %d %+v", code, r)
	}
	checks := map[string]Check{}
	for _, c := range r.Checks {
		checks[c.Name] = c
	}
	if !checks["kafka"].OK {
		t.Errorf("kafka check failed: %+v", checks["kafka"])
	}
	if c := checks["clickhouse"]; c.OK || !strings.Contains(c.Error, "127.0.0.1:1") || !strings.Contains(c.Hint, "analytics.clickhouse.addr") {
		t.Errorf("clickhouse check %+v: want a failure naming the address and what to check", c)
	}
	if c := checks["partitions"]; c.OK || c.Hint == "" {
		t.Errorf("partitions check %+v", c)
	}
	// Liveness does not care.
	if code, _ := get(t, h, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d while dependencies are down", code)
	}

	// Real ClickHouse when there is one; partitions assigned.
	assigned.Store(true)
	if addr := testClickHouse(); addr != "" {
		ok := analytics.DefaultConfiguration().ClickHouse
		ok.Addr = addr
		s.ch = &clickhouse{cfg: ok}
		t.Cleanup(s.ch.close)
		if code := getJSON(t, h, "/readyz", &r); code != http.StatusOK || !r.Ready {
			t.Fatalf("want ready, got %d %+v", code, r)
		}
	} else {
		s.ch = nil
		if code := getJSON(t, h, "/readyz", &r); code != http.StatusOK || !r.Ready || len(r.Checks) != 2 {
			t.Fatalf("want ready on kafka and partitions, got %d %+v", code, r)
		}
	}
}

// TestReadinessSinkStopped: a sink that stopped on its own makes the
// instance not ready, with why and what to do, and sets
// payroute_sink_stopped; a running one is ready.
func TestReadinessSinkStopped(t *testing.T) {
	sink := &switchSink{}
	s := startServer(t, testConfig(), Sources{Cluster: embeddedCluster(t), Sink: sink})
	h := s.Handler()
	var r Readiness
	if code := getJSON(t, h, "/readyz", &r); code != http.StatusOK || !r.Ready || len(r.Checks) != 2 {
		t.Fatalf("a running sink: want ready on kafka and analytics_sink, got %d %+v", code, r)
	}
	why := "analytics: payments.attempts partition 1 offset 7 has a schema this build cannot read"
	sink.stopped.Store(&why)
	if code := getJSON(t, h, "/readyz", &r); code != http.StatusServiceUnavailable || r.Ready {
		t.Fatalf("a stopped sink: want 503, got %d %+v", code, r)
	}
	for _, c := range r.Checks {
		if c.Name == "analytics_sink" && (c.OK || c.Error != why || !strings.Contains(c.Hint, "what to do")) {
			t.Errorf("analytics_sink check %+v: want the sink's reason and a hint", c)
		}
	}
	if v, _ := value(scrape(t, h), "payroute_sink_stopped", nil); v != 1 {
		t.Errorf("payroute_sink_stopped = %v, want 1", v)
	}
}

// switchSink is a sink whose Stopped reason the test sets.
type switchSink struct{ stopped atomic.Pointer[string] }

func (s *switchSink) Stats() analytics.Stats {
	st := analytics.Stats{Migrated: true}
	if p := s.stopped.Load(); p != nil {
		st.Stopped = *p
	}
	return st
}

// TestLag commits offsets for a group and checks the lag gauge, the JSON
// and that a group that does not exist yet is not an error.
func TestLag(t *testing.T) {
	cluster := embeddedCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := cluster.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topic := cluster.Topics().Retry[2]
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Key: []byte{byte(i)}, Value: []byte("v")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Records land on partition 0 and 1 by key; commit 3 past the start of
	// each partition that has records.
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total, committed int64
	offsets := kadm.Offsets{}
	ends.Each(func(o kadm.ListedOffset) {
		total += o.Offset
		at := min(o.Offset, 3)
		committed += at
		offsets.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: at})
	})
	if _, err := adm.CommitOffsets(ctx, "payroute-processor", offsets); err != nil {
		t.Fatal(err)
	}

	s := startServer(t, testConfig(), Sources{Cluster: cluster, ProcessorGroup: "payroute-processor", SinkGroup: "not-started-yet"})
	deadline := time.Now().Add(20 * time.Second)
	var flow LiveFlow
	for {
		getJSON(t, s.Handler(), "/api/flow", &flow)
		if flow.LagAt != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if flow.LagError != "" || flow.LagAt == nil {
		t.Fatalf("lag not read: %+v", flow)
	}
	var got int64 = -1
	for _, l := range flow.Lag {
		if l.Group == "payroute-processor" && l.Topic == topic {
			got = l.Lag
		}
		if l.Group == "not-started-yet" {
			t.Errorf("a group without members or commits has no lag to show: %+v", l)
		}
	}
	if got != total-committed {
		t.Errorf("lag of %s = %d, want %d (%+v)", topic, got, total-committed, flow.Lag)
	}
	fams := scrape(t, s.Handler())
	if v, _ := value(fams, "payroute_consumer_lag", map[string]string{"group": "payroute-processor", "topic": topic}); v != float64(total-committed) {
		t.Errorf("payroute_consumer_lag = %v, want %d", v, total-committed)
	}
	if v, _ := value(fams, "payroute_consumer_lag_errors_total", nil); v != 0 {
		t.Errorf("lag errors = %v: a group that does not exist yet is not an error", v)
	}
}
