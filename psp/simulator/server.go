package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// PaymentRequest is the body of POST /v1/{psp}/payments.
type PaymentRequest struct {
	IdempotencyKey         string            `json:"idempotency_key"`
	PaymentID              string            `json:"payment_id"`
	MerchantID             string            `json:"merchant_id,omitempty"`
	Operation              schemas.Operation `json:"operation"`
	AmountMinor            int64             `json:"amount_minor"`
	Currency               string            `json:"currency"`
	Method                 string            `json:"method,omitempty"`
	Token                  string            `json:"token,omitempty"`
	BIN                    string            `json:"bin,omitempty"`
	Last4                  string            `json:"last4,omitempty"`
	Network                string            `json:"network,omitempty"`
	AuthorizationReference string            `json:"authorization_reference,omitempty"`
}

// PaymentResponse is the 200 answer to a processed payment request, and the
// stored answer returned for a repeated idempotency key or a status inquiry.
type PaymentResponse struct {
	Status         string            `json:"status"` // "approved", "declined" or "requires_action"
	Code           string            `json:"code,omitempty"`
	IssuerCode     string            `json:"issuer_code,omitempty"`
	AdviceCode     string            `json:"advice_code,omitempty"`
	Message        string            `json:"message,omitempty"`
	Reference      string            `json:"reference"`
	RetryAfterMs   int64             `json:"retry_after_ms,omitempty"`
	PSP            string            `json:"psp"`
	IdempotencyKey string            `json:"idempotency_key"`
	PaymentID      string            `json:"payment_id"`
	Operation      schemas.Operation `json:"operation"`
	AmountMinor    int64             `json:"amount_minor"`
	Currency       string            `json:"currency"`
	// ActionURL is, for requires_action, where the customer completes the
	// 3-D Secure challenge of this very request (GET or POST
	// /sim/{psp}/3ds/{idempotency_key}).
	ActionURL string `json:"action_url,omitempty"`
}

// ErrorResponse is the body of every non-200 answer.
type ErrorResponse struct {
	Code         string `json:"code"`
	Message      string `json:"message,omitempty"`
	RetryAfterMs int64  `json:"retry_after_ms,omitempty"`
}

// Response statuses.
const (
	StatusApproved = "approved"
	StatusDeclined = "declined"
	// StatusRequiresAction: the PSP asks for a 3-D Secure challenge
	// (tok_3ds) before it authorizes; nothing is approved.
	StatusRequiresAction = "requires_action"
)

// Approval is one approval the simulator granted, kept in its ledger.
type Approval struct {
	PSP            string            `json:"psp"`
	PaymentID      string            `json:"payment_id"`
	IdempotencyKey string            `json:"idempotency_key"`
	Operation      schemas.Operation `json:"operation"`
	Reference      string            `json:"reference"`
	AmountMinor    int64             `json:"amount_minor"`
	Currency       string            `json:"currency"`
	At             time.Time         `json:"at"`
}

// PSPStats are the counters and state of one simulated PSP.
type PSPStats struct {
	Down            bool  `json:"down"`     // taken down with SetDown
	Outage          bool  `json:"outage"`   // inside a configured outage window now
	Requests        int64 `json:"requests"` // payment requests received
	Approved        int64 `json:"approved"`
	Declined        int64 `json:"declined"`
	Replays         int64 `json:"replays"`      // repeated idempotency keys answered from the store
	Errors          int64 `json:"errors"`       // injected 5xx (error rate and tokens)
	Unavailable     int64 `json:"unavailable"`  // 503 because down or in an outage
	RateLimited     int64 `json:"rate_limited"` // 429
	Timeouts        int64 `json:"timeouts"`     // processed, then held
	Malformed       int64 `json:"malformed"`
	Invalid         int64 `json:"invalid"`   // 400 and 409
	SlowTail        int64 `json:"slow_tail"` // answers delayed by the profile's tail latency
	StatusInquiries int64 `json:"status_inquiries"`
	Challenges      int64 `json:"challenges"`    // requires_action answers (tok_3ds)
	Authenticated   int64 `json:"authenticated"` // challenges the customer completed
}

// Option configures a Server.
type Option func(*Server)

// WithClock replaces time.Now for outage windows (tests).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// Server is the simulator: an HTTP server hosting the configured PSPs. It is
// safe for concurrent use.
type Server struct {
	cfg     Configuration
	log     *slog.Logger
	now     func() time.Time
	maxHold time.Duration
	psps    map[string]*pspState
	names   []string
	handler http.Handler

	mu        sync.Mutex
	startedAt time.Time
	started   bool
	stopped   bool
	ln        net.Listener
	srv       *http.Server
	served    chan struct{}

	stopping chan struct{}
	stopOnce sync.Once

	connMu   sync.Mutex
	newConns map[net.Conn]struct{} // accepted, no request read yet
}

type record struct {
	req  PaymentRequest
	resp PaymentResponse
}

type pspState struct {
	name    string
	profile Profile // resolved

	mu      sync.Mutex
	rng     *rand.Rand
	down    bool
	seq     int
	records map[string]*record // by idempotency key
	// closed are keys a status inquiry answered "not found": the PSP
	// promises it never processes them after that (see handleStatus).
	closed map[string]bool
	keys   map[string][]string // processed idempotency keys by payment id, in order
	refs   map[string]*record  // approved authorizations by reference
	// authenticated are the payments whose 3-D Secure challenge the
	// customer completed (tok_3ds): the challenged request is approved,
	// and so is any later request of the payment (the card is
	// authenticated: a second request is a second payment).
	authenticated map[string]bool
	ledger        []Approval
	stats         PSPStats
}

// New validates cfg and builds a server; call Start to listen, or mount Handler.
func New(cfg Configuration, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, now: time.Now, psps: map[string]*pspState{}, stopping: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.maxHold = cfg.MaxHold
	if s.maxHold == 0 {
		s.maxHold = DefaultMaxHold
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	for name, p := range cfg.PSPs {
		r, _ := p.Resolve() // validated above
		h := fnv.New64a()
		h.Write([]byte(name))
		s.psps[name] = &pspState{
			name:    name,
			profile: r,
			rng:     rand.New(rand.NewPCG(seed, h.Sum64())),
			records: map[string]*record{},
			keys:    map[string][]string{},
			refs:    map[string]*record{},
		}
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	s.startedAt = s.now()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/{psp}/payments", s.handlePayment)
	mux.HandleFunc("GET /v1/{psp}/payments/{key}", s.handleStatus)
	mux.HandleFunc("GET /sim/{psp}/3ds/{key}", s.handleChallenge)
	mux.HandleFunc("POST /sim/{psp}/3ds/{key}", s.handleChallenge)
	mux.HandleFunc("POST /sim/{psp}/down", s.handleSetDown(true))
	mux.HandleFunc("POST /sim/{psp}/up", s.handleSetDown(false))
	mux.HandleFunc("GET /sim/approvals", s.handleApprovals)
	mux.HandleFunc("GET /sim/stats", s.handleStats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, ErrorResponse{Code: "not_found", Message: "no such endpoint"})
	})
	s.handler = mux
	return s, nil
}

// Handler is the simulator's HTTP handler (for mounting elsewhere or httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// Names lists the simulated PSPs, sorted.
func (s *Server) Names() []string { return append([]string(nil), s.names...) }

// Start listens on cfg.Listen and serves in a goroutine. The address is bound
// when Start returns, so Addr and URL are valid. Outage windows count from here.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("simulator: already started")
	}
	if s.stopped {
		return errors.New("simulator: stopped")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("simulator: listen %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ConnState: s.trackConn}
	s.started = true
	s.startedAt = s.now()
	s.served = make(chan struct{})
	go func(srv *http.Server, served chan struct{}) {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("psp simulator stopped serving", "error", err)
		}
	}(s.srv, s.served)
	s.log.Info("psp simulator listening", "url", "http://"+ln.Addr().String(), "psps", s.names)
	return nil
}

// Addr is the bound host:port after Start, else the configured Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.cfg.Listen
}

// URL is the base URL ("http://127.0.0.1:port") to give connectors.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Stop releases held and sleeping requests, then shuts the server down
// gracefully within ctx (closing it hard when ctx ends). Safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stopping) })
	s.mu.Lock()
	s.stopped = true
	srv, served := s.srv, s.served
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	// Shutdown waits up to 5s for connections that never sent a request
	// (clients dial spares); close those while it waits for the rest.
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-tick.C:
			s.closeNewConns()
		}
	}
	if err != nil {
		_ = srv.Close()
	}
	<-served
	return err
}

func (s *Server) trackConn(c net.Conn, st http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if st == http.StateNew {
		if s.newConns == nil {
			s.newConns = map[net.Conn]struct{}{}
		}
		s.newConns[c] = struct{}{}
		return
	}
	delete(s.newConns, c)
}

func (s *Server) closeNewConns() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c := range s.newConns {
		_ = c.Close()
		delete(s.newConns, c)
	}
}

// Serve runs a simulator until ctx is done: the entry point of a standalone
// process (payroute psp-sim).
func Serve(ctx context.Context, cfg Configuration, opts ...Option) error {
	s, err := New(cfg, opts...)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Stop(stopCtx)
}

// SetDown takes the named PSP down (every request 503) or brings it back up,
// now. It returns an error for an unknown PSP.
func (s *Server) SetDown(name string, down bool) error {
	p, ok := s.psps[name]
	if !ok {
		return fmt.Errorf("simulator: unknown psp %q", name)
	}
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	s.log.Info("psp simulator state changed", "psp", name, "down", down)
	return nil
}

// Approvals counts the AUTHORIZE and CHARGE approvals granted for paymentID
// at every PSP. More than one means a payment was approved twice.
func (s *Server) Approvals(paymentID string) int {
	n := 0
	for _, a := range s.Ledger() {
		if a.PaymentID == paymentID && (a.Operation == schemas.OpAuthorize || a.Operation == schemas.OpCharge) {
			n++
		}
	}
	return n
}

// Keys lists the idempotency keys under which the simulator processed
// requests of paymentID (approved or declined; not the ones answered with an
// error), PSP by PSP in name order, each in arrival order.
func (s *Server) Keys(paymentID string) []string {
	var keys []string
	for _, name := range s.names {
		p := s.psps[name]
		p.mu.Lock()
		keys = append(keys, p.keys[paymentID]...)
		p.mu.Unlock()
	}
	return keys
}

// Ledger returns every approval granted (all operations), oldest first.
func (s *Server) Ledger() []Approval {
	var all []Approval
	for _, name := range s.names {
		p := s.psps[name]
		p.mu.Lock()
		all = append(all, p.ledger...)
		p.mu.Unlock()
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].At.Before(all[j].At) })
	return all
}

// Duplicate is a payment and operation approved more than once.
type Duplicate struct {
	PaymentID string            `json:"payment_id"`
	Operation schemas.Operation `json:"operation"`
	Count     int               `json:"count"`
}

// Duplicates lists every (payment, operation) approved more than once, at any PSPs.
func (s *Server) Duplicates() []Duplicate {
	type k struct {
		id string
		op schemas.Operation
	}
	counts := map[k]int{}
	for _, a := range s.Ledger() {
		counts[k{a.PaymentID, a.Operation}]++
	}
	var out []Duplicate
	for key, n := range counts {
		if n > 1 {
			out = append(out, Duplicate{PaymentID: key.id, Operation: key.op, Count: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PaymentID != out[j].PaymentID {
			return out[i].PaymentID < out[j].PaymentID
		}
		return out[i].Operation < out[j].Operation
	})
	return out
}

// Stats returns the counters and state of every PSP.
func (s *Server) Stats() map[string]PSPStats {
	out := make(map[string]PSPStats, len(s.psps))
	for _, name := range s.names {
		p := s.psps[name]
		outage := s.inOutage(p)
		p.mu.Lock()
		st := p.stats
		st.Down = p.down
		p.mu.Unlock()
		st.Outage = outage
		out[name] = st
	}
	return out
}

func (s *Server) since() time.Duration {
	s.mu.Lock()
	t := s.startedAt
	s.mu.Unlock()
	return s.now().Sub(t)
}

func (s *Server) inOutage(p *pspState) bool {
	if len(p.profile.Outages) == 0 {
		return false
	}
	since := s.since()
	for _, w := range p.profile.Outages {
		if w.contains(since) {
			return true
		}
	}
	return false
}

func (s *Server) unavailable(p *pspState) bool {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	return down || s.inOutage(p)
}

// wait sleeps d, returning early when the client is gone or the server stops.
func (s *Server) wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.stopping:
	}
}

// drawLatencyLocked draws one response time; p.mu must be held.
func (p *pspState) drawLatencyLocked() time.Duration {
	d := p.profile.Latency
	if j := p.profile.LatencyJitter; j > 0 {
		d += time.Duration(p.rng.Int64N(int64(j) + 1))
	}
	if p.profile.TailRate > 0 && p.rng.Float64() < p.profile.TailRate {
		p.stats.SlowTail++
		d += p.profile.TailLatency
	}
	return d
}

// plan is what the server answers to one payment request.
type plan struct {
	status  int
	body    any
	header  http.Header
	latency time.Duration
	hold    bool
	raw     []byte // written as is (malformed answers)
}

func (s *Server) handlePayment(w http.ResponseWriter, r *http.Request) {
	p, ok := s.psps[r.PathValue("psp")]
	if !ok {
		writeJSON(w, http.StatusNotFound, ErrorResponse{Code: "unknown_psp", Message: "no simulated PSP named " + r.PathValue("psp")})
		return
	}
	var req PaymentRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	err := dec.Decode(&req)
	p.mu.Lock()
	p.stats.Requests++
	p.mu.Unlock()
	if err != nil {
		p.count(func(st *PSPStats) { st.Invalid++ })
		writeJSON(w, http.StatusBadRequest, ErrorResponse{Code: "invalid_request", Message: "body is not a payment request: " + err.Error()})
		return
	}
	if msg := checkRequest(req); msg != "" {
		p.count(func(st *PSPStats) { st.Invalid++ })
		writeJSON(w, http.StatusBadRequest, ErrorResponse{Code: "invalid_request", Message: msg})
		return
	}
	if s.unavailable(p) {
		p.mu.Lock()
		p.stats.Unavailable++
		lat := p.drawLatencyLocked()
		p.mu.Unlock()
		s.wait(r.Context(), lat)
		writeJSON(w, http.StatusServiceUnavailable, ErrorResponse{Code: "service_unavailable", Message: "PSP is down for maintenance"})
		return
	}
	pl := s.process(p, req, r.Host)
	s.wait(r.Context(), pl.latency)
	if pl.hold {
		s.wait(r.Context(), s.maxHold)
	}
	for k, v := range pl.header {
		w.Header()[k] = v
	}
	if pl.raw != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(pl.status)
		_, _ = w.Write(pl.raw)
		return
	}
	writeJSON(w, pl.status, pl.body)
}

func (p *pspState) count(f func(*PSPStats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// process decides the answer to a payment request and records it if it was
// processed. Checking and recording happen under one lock, so one
// idempotency key is processed at most once however many requests race.
func (s *Server) process(p *pspState, req PaymentRequest, host string) plan {
	p.mu.Lock()
	defer p.mu.Unlock()
	lat := p.drawLatencyLocked()

	if p.closed[req.IdempotencyKey] {
		p.stats.Invalid++
		return plan{status: http.StatusConflict, latency: lat, body: ErrorResponse{Code: CodeKeyClosed,
			Message: "a status inquiry already answered not found for this idempotency key: it is never processed"}}
	}
	if rec, ok := p.records[req.IdempotencyKey]; ok {
		if !sameRequest(rec.req, req) {
			p.stats.Invalid++
			return plan{status: http.StatusConflict, latency: lat, body: ErrorResponse{Code: "idempotency_conflict", Message: "idempotency key was used for a different request"}}
		}
		p.stats.Replays++
		return plan{status: http.StatusOK, latency: lat, body: rec.resp}
	}

	prof := p.profile
	tok := tokenResult{effect: effApprove}
	hold := false
	if !prof.AlwaysApprove {
		var drawn *tokenResult
		u := p.rng.Float64()
		switch e, rl, to, d := prof.ErrorRate, prof.RateLimitRate, prof.TimeoutRate, prof.DeclineRate; {
		case u < e:
			return s.errorPlan(p, prof.ErrorStatus, lat)
		case u < e+rl:
			return s.rateLimitPlan(p, lat)
		case u < e+rl+to:
			hold = true
		case u < e+rl+to+d:
			t := randomDeclines[p.rng.IntN(len(randomDeclines))]
			drawn = &t
		}
		tok = tokenBehaviour(req.Token, p.name, req.Operation)
		switch tok.effect {
		case effUnavailable:
			return s.errorPlan(p, http.StatusServiceUnavailable, lat)
		case effInternal:
			return s.errorPlan(p, http.StatusInternalServerError, lat)
		case effRateLimit:
			return s.rateLimitPlan(p, lat)
		case effMalformed:
			p.stats.Malformed++
			return plan{status: http.StatusOK, latency: lat, raw: []byte(`{"status":"approved","reference":"sim-`)}
		case effTimeout:
			hold = true
			tok = tokenResult{effect: effApprove}
		case effChallenge:
			if p.authenticated[req.PaymentID] {
				tok = tokenResult{effect: effApprove}
			}
		case effLost:
			// Nothing is recorded: a status inquiry finds nothing, and a
			// client that waits out max_hold gets a 504, never processed.
			pl := s.errorPlan(p, http.StatusGatewayTimeout, lat)
			p.stats.Timeouts++
			pl.hold = true
			return pl
		}
		if drawn != nil && tok.effect == effApprove && (req.Operation == schemas.OpAuthorize || req.Operation == schemas.OpCharge) {
			tok = *drawn
		}
	}

	followUp := req.Operation != schemas.OpAuthorize && req.Operation != schemas.OpCharge
	if followUp && tok.effect == effApprove {
		if _, ok := p.refs[req.AuthorizationReference]; !ok {
			p.stats.Invalid++
			return plan{status: http.StatusBadRequest, latency: lat, body: ErrorResponse{Code: "invalid_request", Message: "unknown authorization_reference at " + p.name}}
		}
	}

	p.seq++
	resp := PaymentResponse{
		Reference:      fmt.Sprintf("sim-%s-%06d", p.name, p.seq),
		PSP:            p.name,
		IdempotencyKey: req.IdempotencyKey,
		PaymentID:      req.PaymentID,
		Operation:      req.Operation,
		AmountMinor:    req.AmountMinor,
		Currency:       req.Currency,
	}
	rec := &record{req: req}
	if tok.effect == effChallenge {
		resp.Status, resp.Code, resp.Message = StatusRequiresAction, "authentication_required", "3-D Secure authentication required"
		resp.ActionURL = "http://" + host + "/sim/" + url.PathEscape(p.name) + "/3ds/" + url.PathEscape(req.IdempotencyKey)
		p.stats.Challenges++
	} else if tok.effect == effDecline {
		resp.Status = StatusDeclined
		resp.Code, resp.IssuerCode, resp.AdviceCode, resp.Message = tok.code, tok.issuer, tok.advice, tok.message
		if tok.soft {
			resp.RetryAfterMs = prof.DeclineRetryAfter.Milliseconds()
		}
		p.stats.Declined++
	} else {
		resp.Status, resp.Message = StatusApproved, "approved"
		p.approveLocked(rec, &resp)
	}
	rec.resp = resp
	p.records[req.IdempotencyKey] = rec
	p.keys[req.PaymentID] = append(p.keys[req.PaymentID], req.IdempotencyKey)
	if hold {
		p.stats.Timeouts++
	}
	return plan{status: http.StatusOK, latency: lat, body: resp, hold: hold}
}

func (s *Server) errorPlan(p *pspState, status int, lat time.Duration) plan {
	p.stats.Errors++
	code := "internal_error"
	msg := "PSP internal error"
	switch status {
	case http.StatusServiceUnavailable:
		code, msg = "service_unavailable", "PSP temporarily unavailable"
	case http.StatusBadGateway:
		code, msg = "bad_gateway", "PSP upstream failed"
	case http.StatusGatewayTimeout:
		code, msg = "gateway_timeout", "PSP upstream timed out"
	}
	return plan{status: status, latency: lat, body: ErrorResponse{Code: code, Message: msg}}
}

func (s *Server) rateLimitPlan(p *pspState, lat time.Duration) plan {
	p.stats.RateLimited++
	ra := p.profile.RetryAfter
	secs := int64((ra + time.Second - 1) / time.Second)
	h := http.Header{}
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	return plan{status: http.StatusTooManyRequests, latency: lat, header: h,
		body: ErrorResponse{Code: "rate_limited", Message: "too many requests", RetryAfterMs: ra.Milliseconds()}}
}

func sameRequest(a, b PaymentRequest) bool {
	return a.PaymentID == b.PaymentID && a.Operation == b.Operation && a.AmountMinor == b.AmountMinor &&
		a.Currency == b.Currency && a.Token == b.Token && a.AuthorizationReference == b.AuthorizationReference
}

// checkRequest returns why req is invalid, or "".
func checkRequest(req PaymentRequest) string {
	switch {
	case req.IdempotencyKey == "" || len(req.IdempotencyKey) > 255:
		return "idempotency_key: required, at most 255 characters"
	case req.PaymentID == "":
		return "payment_id: required"
	case looksLikePAN(req.Token):
		return "token: looks like a card number; the simulator accepts tokens only"
	}
	switch req.Operation {
	case schemas.OpAuthorize, schemas.OpCharge:
		if req.AmountMinor <= 0 {
			return "amount_minor: must be positive"
		}
		if req.Token == "" {
			return "token: required"
		}
	case schemas.OpCapture, schemas.OpVoid, schemas.OpRefund:
		if req.AmountMinor < 0 {
			return "amount_minor: must not be negative"
		}
		if req.AuthorizationReference == "" {
			return "authorization_reference: required for " + string(req.Operation)
		}
	default:
		return fmt.Sprintf("operation: unknown operation %q", req.Operation)
	}
	if len(req.Currency) != 3 {
		return "currency: must be an ISO 4217 code"
	}
	return ""
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	p, ok := s.psps[r.PathValue("psp")]
	if !ok {
		writeJSON(w, http.StatusNotFound, ErrorResponse{Code: "unknown_psp", Message: "no simulated PSP named " + r.PathValue("psp")})
		return
	}
	if s.unavailable(p) {
		p.count(func(st *PSPStats) { st.Unavailable++ })
		s.wait(r.Context(), p.profile.Latency)
		writeJSON(w, http.StatusServiceUnavailable, ErrorResponse{Code: "service_unavailable", Message: "PSP is down for maintenance"})
		return
	}
	// "Not found" is a promise, and the only answer an in-doubt attempt may
	// fail over on: the request may still be on its way (a client that timed
	// out before the server read it), so the key is closed here, under the
	// same lock that processing takes, and a late copy is refused. A PSP
	// that cannot promise this must never answer "not found" (see the
	// Stripe and Adyen connectors, whose inquiries re-send the request).
	p.mu.Lock()
	p.stats.StatusInquiries++
	key := r.PathValue("key")
	rec, found := p.records[key]
	var resp PaymentResponse
	if found {
		resp = rec.resp
	} else {
		if p.closed == nil {
			p.closed = map[string]bool{}
		}
		p.closed[key] = true
	}
	p.mu.Unlock()
	s.wait(r.Context(), p.profile.Latency)
	if !found {
		writeJSON(w, http.StatusNotFound, ErrorResponse{Code: "not_found", Message: "no request with this idempotency key was processed"})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleChallenge is the customer completing the 3-D Secure challenge at the
// action_url of a requires_action answer. As at a real PSP, that completes
// the challenged payment itself: its stored answer becomes the approval (a
// status inquiry or a replay of its key finds it), and the payment's later
// requests approve too (a client that sends another one has made a second
// payment).
func (s *Server) handleChallenge(w http.ResponseWriter, r *http.Request) {
	p, ok := s.psps[r.PathValue("psp")]
	if !ok {
		writeJSON(w, http.StatusNotFound, ErrorResponse{Code: "unknown_psp", Message: "no simulated PSP named " + r.PathValue("psp")})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rec, ok := p.records[r.PathValue("key")]
	if !ok || rec.resp.Status != StatusRequiresAction {
		writeJSON(w, http.StatusNotFound, ErrorResponse{Code: "no_challenge", Message: "no challenge waits under this key"})
		return
	}
	if p.authenticated == nil {
		p.authenticated = map[string]bool{}
	}
	p.authenticated[rec.req.PaymentID] = true
	p.stats.Authenticated++
	resp := rec.resp
	resp.Status, resp.Code, resp.Message, resp.ActionURL = StatusApproved, "", "approved", ""
	p.approveLocked(rec, &resp)
	rec.resp = resp
	writeJSON(w, http.StatusOK, map[string]string{"status": "authenticated", "payment_id": rec.req.PaymentID, "reference": resp.Reference})
}

// approveLocked records rec's approval (resp): the ledger, and for an
// authorization or charge the reference a later follow-up names. p.mu must
// be held.
func (p *pspState) approveLocked(rec *record, resp *PaymentResponse) {
	p.stats.Approved++
	p.ledger = append(p.ledger, Approval{
		PSP: p.name, PaymentID: rec.req.PaymentID, IdempotencyKey: rec.req.IdempotencyKey, Operation: rec.req.Operation,
		Reference: resp.Reference, AmountMinor: rec.req.AmountMinor, Currency: rec.req.Currency, At: time.Now(),
	})
	if op := rec.req.Operation; op == schemas.OpAuthorize || op == schemas.OpCharge {
		p.refs[resp.Reference] = rec
	}
}

func (s *Server) handleSetDown(down bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("psp")
		if err := s.SetDown(name, down); err != nil {
			writeJSON(w, http.StatusNotFound, ErrorResponse{Code: "unknown_psp", Message: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"psp": name, "down": down})
	}
}

// CodeKeyClosed answers a payment request whose idempotency key a status
// inquiry already answered "not found" (409): it is not processed.
const CodeKeyClosed = "idempotency_key_closed"

// ApprovalsReport is the body of GET /sim/approvals.
type ApprovalsReport struct {
	Total      int         `json:"total"`
	Approvals  []Approval  `json:"approvals"`
	Duplicates []Duplicate `json:"duplicates"`
}

func (s *Server) handleApprovals(w http.ResponseWriter, r *http.Request) {
	all := s.Ledger()
	if id := r.URL.Query().Get("payment_id"); id != "" {
		kept := all[:0]
		for _, a := range all {
			if a.PaymentID == id {
				kept = append(kept, a)
			}
		}
		all = kept
	}
	if all == nil {
		all = []Approval{}
	}
	dups := s.Duplicates()
	if dups == nil {
		dups = []Duplicate{}
	}
	writeJSON(w, http.StatusOK, ApprovalsReport{Total: len(all), Approvals: all, Duplicates: dups})
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// RegistryConfiguration is a psp.Configuration with one simulator account per
// PSP of this server, at its current URL (call after Start).
func (s *Server) RegistryConfiguration(timeout time.Duration) psp.Configuration {
	cfg := psp.Configuration{Accounts: map[string]psp.Account{}}
	for _, name := range s.names {
		cfg.Accounts[name] = psp.Account{Kind: Kind, Endpoint: s.URL(), Timeout: timeout}
	}
	return cfg
}

// Connector is a connector for the named PSP of this server (call after Start).
func (s *Server) Connector(name string, timeout time.Duration) (*Connector, error) {
	if _, ok := s.psps[name]; !ok {
		return nil, fmt.Errorf("simulator: unknown psp %q", name)
	}
	return NewConnector(ConnectorConfig{BaseURL: s.URL(), PSP: name, Timeout: timeout})
}
