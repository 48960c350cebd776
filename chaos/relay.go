package chaos

import (
	"io"
	"net"
	"sync"
	"time"
)

// Relay is a TCP relay on loopback that the harness cuts and restores. Put
// between the analytics sink and ClickHouse, cutting it is a ClickHouse
// outage as the sink sees it (connections reset, new ones refused) without
// stopping the server, which other test packages share while `go test
// ./...` runs them in parallel.
type Relay struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	up    bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewRelay listens on 127.0.0.1 and relays to target; it starts up.
func NewRelay(target string) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{ln: ln, target: target, up: true, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

// Addr is the relay's address, to dial instead of the target.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Set restores (up) or cuts the relay; cutting closes every open connection.
func (r *Relay) Set(up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.up = up
	if !up {
		for c := range r.conns {
			_ = c.Close()
		}
	}
}

// Close stops the relay and closes its connections.
func (r *Relay) Close() {
	_ = r.ln.Close()
	r.Set(false)
	r.wg.Wait()
}

func (r *Relay) serve() {
	defer r.wg.Done()
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		up := r.up
		r.mu.Unlock()
		if !up {
			_ = in.Close()
			continue
		}
		out, err := net.DialTimeout("tcp", r.target, 5*time.Second)
		if err != nil {
			_ = in.Close()
			continue
		}
		r.mu.Lock()
		if !r.up { // cut while dialling
			r.mu.Unlock()
			_ = in.Close()
			_ = out.Close()
			continue
		}
		r.conns[in], r.conns[out] = struct{}{}, struct{}{}
		r.mu.Unlock()
		r.wg.Add(2)
		go r.pipe(in, out)
		go r.pipe(out, in)
	}
}

func (r *Relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	r.mu.Lock()
	delete(r.conns, dst)
	delete(r.conns, src)
	r.mu.Unlock()
}
