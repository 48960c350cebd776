package simulator

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

var quiet = WithLogger(slog.New(slog.DiscardHandler))

// startServer starts a simulator on a free loopback port with the given PSPs
// and stops it when the test ends.
func startServer(t *testing.T, psps map[string]Profile, opts ...Option) *Server {
	t.Helper()
	cfg := Configuration{Listen: "127.0.0.1:0", Seed: 7, MaxHold: 5 * time.Second, PSPs: psps}
	s, err := New(cfg, append([]Option{quiet}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

// via is one way a test's connectors and raw requests reach the
// simulator: over HTTP to Start's listener, or through Server.Transport.
// The handler behind both is the same, so everything a connector sees
// (classes, codes, idempotency, the ledger, status inquiries) must be too:
// the tests of that behaviour run over both (forEachTransport).
type via struct {
	name    string
	connect func(s *Server, name string, timeout time.Duration) (*Connector, error)
	// base is the base URL raw requests go to, client the client that
	// takes them there.
	base   func(s *Server) string
	client func(s *Server) *http.Client
}

var (
	viaHTTP = via{
		name:    "http",
		connect: (*Server).Connector,
		base:    (*Server).URL,
		client:  func(*Server) *http.Client { return http.DefaultClient },
	}
	viaInProcess = via{
		name:    "in-process",
		connect: (*Server).InProcessConnector,
		base:    func(*Server) string { return InProcessURL },
		client:  func(s *Server) *http.Client { return &http.Client{Transport: s.Transport()} },
	}
)

// forEachTransport runs f over HTTP and in process, as subtests.
func forEachTransport(t *testing.T, f func(t *testing.T, via via)) {
	for _, v := range []via{viaHTTP, viaInProcess} {
		t.Run(v.name, func(t *testing.T) { f(t, v) })
	}
}

func (v via) connector(t *testing.T, s *Server, name string, timeout time.Duration) *Connector {
	t.Helper()
	c, err := v.connect(s, name, timeout)
	if err != nil {
		t.Fatalf("Connector: %v", err)
	}
	return c
}

// do sends a raw request to path and returns the status and body.
func (v via) do(t *testing.T, s *Server, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, v.base(s)+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.client(s).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func authorize(paymentID, pspName, token string) psp.Request {
	return psp.Request{
		PaymentID:      paymentID,
		IdempotencyKey: psp.IdempotencyKey(paymentID, pspName, schemas.OpAuthorize),
		Operation:      schemas.OpAuthorize,
		Method:         "card",
		AmountMinor:    1250,
		Currency:       "EUR",
		MerchantID:     "m-1",
		PaymentMethod:  schemas.PaymentMethod{Token: token, Type: "card", Network: "visa", BIN: "400000", Last4: "0002"},
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
