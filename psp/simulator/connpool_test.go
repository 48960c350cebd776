package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// TestConnectorKeepsAConnectionPerCallInFlight makes two bursts of
// concurrent calls, more than net/http's and psp.NewHTTPClient's idle
// limits (100 and 64), each held at the server until all arrived so that
// every call needs its own connection: the second burst must reuse the
// first one's connections instead of dialing again.
func TestConnectorKeepsAConnectionPerCallInFlight(t *testing.T) {
	const calls = 200
	var (
		dialed  atomic.Int64
		arrived sync.WaitGroup
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req PaymentRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		arrived.Done()
		arrived.Wait() // hold until every call of the burst has its own connection
		writeJSON(w, http.StatusOK, PaymentResponse{Status: StatusApproved, Reference: "ref-" + req.PaymentID,
			PSP: "psp-a", IdempotencyKey: req.IdempotencyKey, PaymentID: req.PaymentID})
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			dialed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := NewConnector(ConnectorConfig{BaseURL: srv.URL, PSP: "psp-a", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	burst := func(round int) {
		arrived.Add(calls)
		var wg sync.WaitGroup
		for i := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("pay-%d-%d", round, i)
				out := c.Attempt(context.Background(), psp.Request{PaymentID: id, IdempotencyKey: psp.IdempotencyKey(id, "psp-a", schemas.OpCharge), Operation: schemas.OpCharge,
					AmountMinor: 100, Currency: "EUR", PaymentMethod: schemas.PaymentMethod{Token: "tok_approve"}})
				if out.Outcome != schemas.OutcomeApproved {
					t.Errorf("attempt: %+v", out)
				}
			}()
		}
		wg.Wait()
	}
	burst(0)
	if got := dialed.Load(); got != calls {
		t.Fatalf("first burst opened %d connections, want %d (one per call held at the server)", got, calls)
	}
	burst(1)
	if got := dialed.Load() - calls; got != 0 {
		t.Errorf("second burst opened %d new connections; the first burst's %d should have been kept idle and reused", got, calls)
	}
}
