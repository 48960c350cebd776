// Package admin is payroute's admin HTTP port: what operators, their
// probes, Prometheus and the web console talk to.
//
//	GET  /healthz              liveness: the process serves HTTP
//	GET  /readyz               readiness: Kafka, ClickHouse, partitions (503 when not ready)
//	GET  /metrics              Prometheus metrics
//	GET  /api                  the list of endpoints
//	GET  /api/psps             PSP accounts, health state, last minute of attempts
//	GET  /api/config           routing configuration in force, versions seen
//	GET  /api/flow             live flow: payments/s, approvals, failovers; consumer lag
//	GET  /api/charts/psps      per-PSP report from ClickHouse (?minutes=)
//	GET  /api/charts/timeline  attempts per PSP over time from ClickHouse (?minutes=)
//	GET|POST /api/explain      how a payment would be routed (router.ExplainHandler)
//	GET  /                     the web console
//
// # Metrics
//
// Metrics come from three places, none of which needs the components to
// carry metrics code: the components' own counters (consumers.Stats,
// analytics.Stats) and the PSP health tracker, read at scrape time by a
// collector; franz-go's client metrics (kprom), one set per Kafka client,
// installed with kafka.Cluster.AddClientHooks; and the AttemptRecorded
// records this instance's processor produces, read by a client hook as
// they are acknowledged, for the per-PSP attempt series. Consumer-group lag
// is read from Kafka every lag_interval. docs/operators.md lists every
// series.
//
// # Console
//
// The console is plain HTML, CSS and JavaScript with inline SVG charts,
// embedded in the binary (console/): no CDN, no build step, no network
// access beyond the admin port itself. It polls the JSON API.
//
// # Failure modes
//
// Failing to listen fails the application's start (the port is taken:
// change admin.listen). Kafka or ClickHouse being down never fails the
// admin port: /readyz and the console say so, and /healthz stays up so
// that an outage does not get payroute restarted.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// sampleInterval is how often the live flow samples the processor.
const sampleInterval = time.Second

// Server is the admin HTTP port.
type Server struct {
	cfg     Configuration
	src     Sources
	metrics *Metrics
	log     *slog.Logger
	live    *liveWindow
	flow    *flow
	ch      *clickhouse
	handler http.Handler
	started time.Time

	mu     sync.Mutex
	kafka  *kgo.Client
	lag    *lagReader
	ln     net.Listener
	srv    *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds the admin port over src; Start serves it. It installs, on
// src.Cluster, the Kafka client hooks of the metrics (kprom, and the
// per-PSP attempt tap when src.Decoder is set): build it before the
// components that create Kafka clients start, as the fx module does.
// metrics may be nil (a fresh registry is made).
func New(cfg Configuration, metrics *Metrics, src Sources, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if src.Cluster == nil {
		return nil, errors.New("admin: a Kafka cluster is required")
	}
	if metrics == nil {
		metrics = NewMetrics()
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		cfg: cfg, src: src, metrics: metrics, log: log.With("component", "admin"),
		live: newLiveWindow(time.Now), flow: &flow{},
	}
	if src.ClickHouse != nil {
		s.ch = &clickhouse{cfg: *src.ClickHouse}
	}
	if err := metrics.registry.Register(sourceCollector{src: src}); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	var tap *attemptTap
	if src.Decoder != nil {
		tap = metrics.newAttemptTap(src.Cluster.Topics().Attempts, src.Decoder, multiObserver{metrics, s.live})
	}
	src.Cluster.AddClientHooks(func() []kgo.Hook { return metrics.kafkaHooks(tap) })
	s.handler = s.routes()
	return s, nil
}

// multiObserver tells each of its observers.
type multiObserver []AttemptObserver

func (m multiObserver) ObserveAttempt(psp string, class schemas.Class, latency time.Duration) {
	for _, o := range m {
		o.ObserveAttempt(psp, class, latency)
	}
}

// Handler is the admin port's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics is the Prometheus registry the port serves.
func (s *Server) Metrics() *Metrics { return s.metrics }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	endpoints := []string{
		"GET /healthz", "GET /readyz", "GET /metrics", "GET /api/psps", "GET /api/config", "GET /api/flow",
		"GET /api/charts/psps", "GET /api/charts/timeline",
	}
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.HandleFunc("GET /api/psps", s.handlePSPs)
	mux.HandleFunc("GET /api/config", s.handleConfig)
	mux.HandleFunc("GET /api/flow", s.handleFlow)
	mux.HandleFunc("GET /api/charts/psps", s.handlePSPCharts)
	mux.HandleFunc("GET /api/charts/timeline", s.handleTimeline)
	if s.src.Router != nil {
		explain := router.ExplainHandler(s.src.Router)
		mux.Handle("GET /api/explain", explain)
		mux.Handle("POST /api/explain", explain)
		endpoints = append(endpoints, "GET|POST /api/explain")
	}
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"endpoints": endpoints})
	})
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path+" (GET /api lists them)")
	})
	if s.cfg.Console {
		mux.Handle("GET /", consoleHandler())
	}
	return mux
}

// Start listens and serves, and starts sampling the live flow and reading
// consumer lag. It fails only when the address cannot be listened on.
func (s *Server) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("admin: already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w (set admin.listen to a free address)", s.cfg.Listen, err)
	}
	client, err := s.src.Cluster.NewClient()
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("admin: kafka client: %w", err)
	}
	s.ln, s.kafka, s.started = ln, client, time.Now()
	var groups []string
	for _, g := range []string{s.src.ProcessorGroup, s.src.SinkGroup} {
		if g != "" {
			groups = append(groups, g)
		}
	}
	s.lag = &lagReader{adm: kadm.NewClient(client), groups: groups, metrics: s.metrics}
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin port stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.lag.run(ctx, s.cfg.LagInterval, s.cfg.CheckTimeout*2)
	}()
	go func() {
		defer s.wg.Done()
		s.sampleLoop(ctx)
	}()
	s.log.Info("admin port listening", "url", urlOf(ln))
	return nil
}

// sampleLoop samples the processor's counters and the routing version once
// a second for the live flow.
func (s *Server) sampleLoop(ctx context.Context) {
	t := time.NewTicker(sampleInterval)
	defer t.Stop()
	for {
		now := time.Now()
		if s.src.Counters != nil {
			s.flow.sample(now, s.src.Counters)
		}
		if s.src.Router != nil {
			s.flow.noteVersion(now, s.src.Router.Current().Version())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// URL is where the port serves, e.g. http://127.0.0.1:8080 ("" before
// Start). An address listening on every interface is shown as loopback.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return urlOf(s.ln)
}

func urlOf(ln net.Listener) string {
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port)) + "/"
}

// Stop stops serving (in-flight requests get until ctx is done), stops
// sampling and closes the Kafka client and the ClickHouse pool.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv, cancel, client := s.srv, s.cancel, s.kafka
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	cancel()
	s.wg.Wait()
	client.Close()
	if s.ch != nil {
		s.ch.close()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		_ = srv.Close()
		err = nil
	}
	return err
}
