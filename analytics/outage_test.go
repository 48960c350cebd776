package analytics

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// proxy is a TCP relay to ClickHouse that the test can take down and bring
// back, closing every open connection when it goes down: a ClickHouse
// outage without touching the shared server.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	up    bool
	conns map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() {
		_ = ln.Close()
		p.set(false)
	})
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		if !up {
			_ = in.Close()
			continue
		}
		out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// set brings the proxy up or takes it down.
func (p *proxy) set(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

// ClickHouse down at start, then down again in the middle (connections cut
// mid-insert included), then down while the sink stops: Start never fails,
// nothing is committed while rows are not in, and once the server is back
// every row is there exactly once, in the raw tables and the aggregates.
func TestSinkSurvivesClickHouseOutage(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	direct := openTest(t, cfg)
	e := newEnv(t)
	px := newProxy(t, cfg.ClickHouse.Addr)
	viaProxy := cfg
	viaProxy.ClickHouse.Addr = px.addr()
	viaProxy.ClickHouse.DialTimeout = time.Second

	// 1. Down from the start.
	attempts, results, events := dataset("m-1", "one", 40, base)
	e.publish(t, events...)
	s := e.startSink(t, viaProxy)
	waitFor(t, 10*time.Second, "failed migrations", func() bool { return s.Stats().InsertErrors >= 3 })
	if st := s.Stats(); st.Migrated || st.Committed != 0 || st.AttemptsInserted != 0 {
		t.Fatalf("stats while ClickHouse is down: %+v", st)
	}
	px.set(true)
	total := len(events)
	waitFor(t, 30*time.Second, "catch-up after the first outage", func() bool { return s.Stats().Committed == int64(total) })

	// 2. Down while running: rows published meanwhile wait, uncommitted.
	px.set(false)
	a2, r2, ev2 := dataset("m-1", "two", 30, base.Add(time.Hour))
	attempts, results = append(attempts, a2...), append(results, r2...)
	e.publish(t, ev2...)
	errs := s.Stats().InsertErrors
	waitFor(t, 10*time.Second, "failed inserts", func() bool { return s.Stats().InsertErrors >= errs+3 })
	if st := s.Stats(); st.Committed != int64(total) {
		t.Fatalf("committed %d records while ClickHouse was down (had %d)", st.Committed, total)
	}
	px.set(true)
	total += len(ev2)
	waitFor(t, 30*time.Second, "catch-up after the second outage", func() bool { return s.Stats().Committed == int64(total) })

	// 3. Down while stopping: Stop gives up when its context ends, and the
	// rows in hand are loaded by the next sink.
	px.set(false)
	a3, r3, ev3 := dataset("m-1", "three", 10, base.Add(2*time.Hour))
	attempts, results = append(attempts, a3...), append(results, r3...)
	e.publish(t, ev3...)
	errs = s.Stats().InsertErrors
	waitFor(t, 10*time.Second, "failed inserts", func() bool { return s.Stats().InsertErrors >= errs+2 })
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	start := time.Now()
	err := s.Stop(ctx)
	cancel()
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Stop during an outage: err %v after %s; want an error about the rows in hand, promptly", err, time.Since(start))
	}
	t.Logf("Stop during the outage: %v", err)
	if st := s.Stats(); st.Committed != int64(total) {
		t.Fatalf("committed %d, want %d", st.Committed, total)
	}
	px.set(true)
	s2 := e.startSink(t, viaProxy)
	waitFor(t, 30*time.Second, "the next sink to load the rest", func() bool { return s2.Stats().Committed == int64(len(ev3)) })

	for table, want := range map[string]int{"attempts": len(attempts), "payments": len(results)} {
		if n := count(t, direct, "SELECT count() FROM "+direct.table(table)); n != uint64(want) {
			t.Errorf("%s: %d rows, want exactly %d", table, n, want)
		}
	}
	if n := count(t, direct, "SELECT sum(payments) FROM "+direct.table("final_payments_minute")); n != uint64(len(results)) {
		t.Errorf("final_payments_minute counts %d payments, want exactly %d", n, len(results))
	}
}
