package simulator

import (
	"context"
	"log/slog"
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

func connector(t *testing.T, s *Server, name string, timeout time.Duration) *Connector {
	t.Helper()
	c, err := s.Connector(name, timeout)
	if err != nil {
		t.Fatalf("Connector: %v", err)
	}
	return c
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
