package psptest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proxy is an HTTP proxy between a connector and its PSP backend that can
// lose answers on purpose, the two ways a real network does after a request
// was sent:
//
//   - HoldOnce forwards the next request that mentions a marker (so the PSP
//     processes it) and then withholds the answer until the client gives up:
//     a timeout after sending.
//   - DropOnce forwards the next such request and then closes the
//     connection without answering: a connection broken after sending. A
//     client that re-sends the request on its own (net/http does for
//     requests with an Idempotency-Key header on a reused connection) gets a
//     503 from the proxy for the copy, an answer that hides the first copy's
//     fate, until Clear.
//
// A marker is any byte string of the request body or URL path, usually a
// payment id; use ids that are not prefixes of each other. Everything else
// passes through unchanged.
type Proxy struct {
	srv     *httptest.Server
	target  *url.URL
	client  *http.Client
	closing chan struct{}

	mu      sync.Mutex
	hold    map[string]bool
	drop    map[string]bool // true: drop the next one; false: dropped, answer copies 503
	resends map[string]int
}

// NewProxy starts a proxy to target (a base URL) on loopback; it stops when
// the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("psptest: proxy target %q: %v", target, err)
	}
	p := &Proxy{
		target:  u,
		client:  &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 30 * time.Second},
		closing: make(chan struct{}),
		hold:    map[string]bool{},
		drop:    map[string]bool{},
		resends: map[string]int{},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		close(p.closing)
		p.srv.Close()
		p.client.CloseIdleConnections()
	})
	return p
}

// URL is the proxy's base URL, with the target's path prefix, to give a
// connector in place of the backend's.
func (p *Proxy) URL() string { return p.srv.URL + strings.TrimRight(p.target.Path, "/") }

// HoldOnce withholds the answer to the next request mentioning marker.
func (p *Proxy) HoldOnce(marker string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold[marker] = true
}

// DropOnce breaks the connection after forwarding the next request
// mentioning marker, and answers 503 to its re-sent copies until Clear.
func (p *Proxy) DropOnce(marker string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop[marker] = true
}

// Clear ends DropOnce for marker: later requests mentioning it pass through.
func (p *Proxy) Clear(marker string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.drop, marker)
	delete(p.hold, marker)
}

// Resends is how many re-sent copies of a dropped request the proxy answered.
func (p *Proxy) Resends(marker string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resends[marker]
}

type action int

const (
	pass action = iota
	holdIt
	dropIt
	refuseCopy
)

func (p *Proxy) decide(path string, body []byte) action {
	p.mu.Lock()
	defer p.mu.Unlock()
	for m, next := range p.drop {
		if mentions(path, body, m) {
			if next {
				p.drop[m] = false
				return dropIt
			}
			p.resends[m]++
			return refuseCopy
		}
	}
	for m := range p.hold {
		if mentions(path, body, m) {
			delete(p.hold, m)
			return holdIt
		}
	}
	return pass
}

func mentions(path string, body []byte, marker string) bool {
	return strings.Contains(path, marker) || bytes.Contains(body, []byte(marker))
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "proxy: reading the request: "+err.Error(), http.StatusBadGateway)
		return
	}
	act := p.decide(r.URL.Path, body)
	if act == refuseCopy {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "proxy: a re-sent copy of a request whose connection broke")
		return
	}
	u := *p.target
	u.Path = r.URL.Path
	u.RawPath = r.URL.RawPath
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range r.Header {
		out.Header[k] = v
	}
	resp, err := p.client.Do(out)
	if err != nil {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	switch act {
	case holdIt:
		// Processed; the answer never comes. Wait for the client to give up.
		select {
		case <-r.Context().Done():
		case <-p.closing:
		}
		return
	case dropIt:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without an answer
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}
