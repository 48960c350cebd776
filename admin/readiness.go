package admin

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/payroute/payroute/analytics"
)

// Check is one readiness check's answer.
type Check struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Hint says what to do when the check fails.
	Hint string `json:"hint,omitempty"`
}

// Readiness is /readyz's answer.
type Readiness struct {
	Ready  bool    `json:"ready"`
	Checks []Check `json:"checks"`
}

// clickhouse holds the admin port's own ClickHouse pool, opened on first
// use and kept, for the readiness check and the console's charts. It is
// separate from the sink's pool, so a slow chart query never delays an
// insert.
type clickhouse struct {
	cfg analytics.ClickHouseConfiguration

	mu   sync.Mutex
	conn *analytics.Conn
}

// get returns the pool, opening it (and checking the server answers) when
// there is none yet.
func (c *clickhouse) get(ctx context.Context) (*analytics.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		return c.conn, nil
	}
	conn, err := analytics.Open(ctx, c.cfg)
	if err != nil {
		return nil, err
	}
	c.conn = conn
	return conn, nil
}

func (c *clickhouse) ping(ctx context.Context) error {
	conn, err := c.get(ctx)
	if err != nil {
		return err
	}
	return conn.Ping(ctx)
}

func (c *clickhouse) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// readiness runs the checks concurrently, each bounded by CheckTimeout:
//
//   - kafka: a broker answers (a metadata round trip on the admin port's
//     own client);
//   - clickhouse, when analytics is enabled: the server answers a ping;
//   - analytics_sink, when this instance runs the sink: it has not stopped
//     on its own (analytics.Stats.Stopped);
//   - partitions, when this instance runs the processor: it has joined its
//     group and restored the state of its partitions.
//
// Readiness is for traffic and rollouts, not restarts: liveness (/healthz)
// never looks at Kafka or ClickHouse, so that an outage of either never
// gets payroute killed (the processor waits for Kafka; the sink catches up
// after ClickHouse; payments never wait for ClickHouse).
func (s *Server) readiness(ctx context.Context) Readiness {
	type check struct {
		name, hint string
		run        func(context.Context) error
	}
	checks := []check{{
		name: "kafka", hint: "check kafka.brokers and that the brokers are up",
		run: func(ctx context.Context) error {
			s.mu.Lock()
			cl := s.kafka
			s.mu.Unlock()
			if cl == nil {
				return errors.New("the admin port is not started")
			}
			return cl.Ping(ctx)
		},
	}}
	if s.ch != nil {
		checks = append(checks, check{
			name: "clickhouse", hint: "check analytics.clickhouse.addr and that ClickHouse is up (payments are not affected: the sink catches up)",
			run: s.ch.ping,
		})
	}
	if sink := s.src.Sink; sink != nil {
		checks = append(checks, check{
			name: "analytics_sink", hint: "the analytics sink stopped rather than lose rows and loads nothing on this instance until it is restarted (payments are not affected); the error says why and what to do (docs/operators.md: Upgrading, A topic deleted and created again)",
			run: func(context.Context) error {
				if why := sink.Stats().Stopped; why != "" {
					return errors.New(why)
				}
				return nil
			},
		})
	}
	if a := s.src.Assignment; a != nil {
		checks = append(checks, check{
			name: "partitions", hint: "the processor is joining its consumer group or restoring payment state; see the log",
			run: func(context.Context) error {
				if !a.Assigned() {
					return errors.New("partitions not assigned yet")
				}
				return nil
			},
		})
	}
	out := Readiness{Ready: true, Checks: make([]Check, len(checks))}
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
			defer cancel()
			res := Check{Name: c.name, OK: true}
			if err := c.run(cctx); err != nil {
				res = Check{Name: c.name, Error: err.Error(), Hint: c.hint}
			}
			out.Checks[i] = res
		}()
	}
	wg.Wait()
	for _, c := range out.Checks {
		out.Ready = out.Ready && c.OK
	}
	return out
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	res := s.readiness(r.Context())
	status := http.StatusOK
	if !res.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, res)
}

// handleHealthz is liveness: the process serves HTTP. It deliberately
// checks nothing else (see readiness).
func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "uptime_seconds": int64(time.Since(s.started).Seconds())})
}
