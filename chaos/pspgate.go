package chaos

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// pspGate is an HTTP relay between the connectors and the simulator that
// can make a PSP time out: while a PSP is stalled, each payment request to
// it is forwarded, so the PSP processes it and records the outcome, and
// the answer is then withheld until the client gives up. That is the
// dangerous kind of timeout, after the PSP acted: the attempt is in doubt
// and only a status inquiry (which the gate lets through) can tell what
// happened. Requests are never held back before reaching the PSP: one that
// arrived after payroute had asked and been told "never processed" would be
// a second payment no client could prevent, which no PSP protocol allows.
type pspGate struct {
	target string
	client *http.Client
	srv    *http.Server
	ln     net.Listener

	mu      sync.Mutex
	stalled map[string]bool
	closing chan struct{}
	held    int64
}

func newPSPGate(target string) (*pspGate, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &pspGate{
		target:  strings.TrimRight(target, "/"),
		client:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second},
		ln:      ln,
		stalled: map[string]bool{},
		closing: make(chan struct{}),
	}
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

// URL is the gate's base URL, the endpoint of the connectors' accounts.
func (g *pspGate) URL() string { return "http://" + g.ln.Addr().String() }

// stall starts or ends withholding answers of payment requests to psp.
func (g *pspGate) stall(psp string, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stalled[psp] = on
}

// Held is the number of answers withheld so far.
func (g *pspGate) Held() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

func (g *pspGate) close() {
	close(g.closing)
	_ = g.srv.Close()
	g.client.CloseIdleConnections()
}

// ServeHTTP forwards one request, withholding the answer of a payment
// request (POST /v1/{psp}/payments) to a stalled PSP.
func (g *pspGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "gate: "+err.Error(), http.StatusBadGateway)
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	hold := false
	if r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "v1" && parts[2] == "payments" {
		g.mu.Lock()
		hold = g.stalled[parts[1]]
		g.mu.Unlock()
	}
	// Once forwarded, a request runs to its end even if the client has
	// given up meanwhile, as it would at a real PSP.
	out, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, g.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, "gate: "+err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	resp, err := g.client.Do(out)
	if err != nil {
		http.Error(w, "gate: "+err.Error(), http.StatusBadGateway)
		return
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, "gate: "+err.Error(), http.StatusBadGateway)
		return
	}
	if hold {
		g.mu.Lock()
		g.held++
		g.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-g.closing:
		}
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}
