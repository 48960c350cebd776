// Package psptest is the conformance suite every psp.Connector passes, and
// the Proxy it uses to lose answers on purpose.
//
// A connector package runs the suite against a backend that behaves like
// its PSP (the simulator for psp/simulator, stripe-mock behind
// psp/stripe/stripetest for Stripe, psp/adyen/adyentest for Adyen):
//
//	psptest.Run(t, psptest.Harness{
//		URL: backend.URL(),
//		New: func(baseURL string, timeout time.Duration) (psp.Connector, error) { ... },
//		Tokens: map[psptest.Scenario]string{psptest.Approve: "tok_approve", ...},
//		Declines: ..., Keys: backend.Keys, Approvals: backend.Approvals,
//	})
//
// The suite checks what payroute relies on from every connector, whatever
// the PSP's wire protocol:
//
//   - authorize, charge, capture, void and refund are approved with a PSP
//     reference, and a follow-up without an authorization reference is
//     invalid_request;
//   - the idempotency key of every operation reaches the PSP, and a
//     redelivered request returns the first answer without a second
//     approval;
//   - a timeout after the request was sent, and a connection broken after
//     it was sent (including a silent re-send by net/http answered with an
//     error), are in_doubt, and the status inquiry then finds the approval;
//   - a connection refused before sending, a 5xx and a 429 are psp_error and
//     rate_limited;
//   - hard, soft and customer declines, and every listed row of the
//     connector's decline table, classify as the table says.
package psptest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// Scenario is a behaviour the backend produces for a payment method token.
type Scenario string

// The scenarios every harness must map to a token.
const (
	// Approve approves every operation.
	Approve Scenario = "approve"
	// HardDecline declines an AUTHORIZE or CHARGE for good (e.g. stolen card).
	HardDecline Scenario = "hard_decline"
	// SoftDecline declines it for now (e.g. insufficient funds).
	SoftDecline Scenario = "soft_decline"
	// CustomerError declines it until the customer acts (3-D Secure, CVC).
	CustomerError Scenario = "customer_error"
	// Unavailable answers with a 5xx and does not process the request.
	Unavailable Scenario = "unavailable"
	// RateLimited answers 429 and does not process the request.
	RateLimited Scenario = "rate_limited"
)

// Scenarios lists every Scenario.
var Scenarios = []Scenario{Approve, HardDecline, SoftDecline, CustomerError, Unavailable, RateLimited}

// want is what each scenario must classify as.
var want = map[Scenario]schemas.Class{
	Approve:       schemas.ClassNone,
	HardDecline:   schemas.ClassHardDecline,
	SoftDecline:   schemas.ClassSoftDecline,
	CustomerError: schemas.ClassCustomerError,
	Unavailable:   schemas.ClassPSPError,
	RateLimited:   schemas.ClassRateLimited,
}

// Decline is one row of a connector's decline table, as the suite checks
// it: the token that makes the backend decline with the row's code, and
// what the connector must make of it.
type Decline struct {
	Token   string
	Class   schemas.Class
	PSPCode string
}

// Harness is one connector and its backend.
type Harness struct {
	// URL is the backend's base URL, as the connector's configuration would
	// name it. The suite puts its Proxy in front of it.
	URL string
	// New builds the connector under test for baseURL (the proxy, or an
	// address nothing listens on) with the given per-request timeout.
	New func(baseURL string, timeout time.Duration) (psp.Connector, error)
	// Tokens maps every Scenario to the payment method token that makes the
	// backend behave so.
	Tokens map[Scenario]string
	// Declines are rows of the connector's decline tables with tokens that
	// trigger them; at least one.
	Declines []Decline
	// Keys lists the idempotency keys under which the backend processed
	// requests of a payment, in the order it received them, however the
	// connector sends the key (header or body).
	Keys func(paymentID string) []string
	// Approvals counts the AUTHORIZE and CHARGE approvals the backend
	// granted for a payment.
	Approvals func(paymentID string) int
	// StatusReplays says how Status learns what became of a request: true
	// when it re-sends the request under the same idempotency key (Stripe,
	// Adyen: the PSP answers a processed key with its stored answer, and
	// processes a key it never saw), false when it only looks the key up
	// (the simulator: a key never seen is Found false).
	StatusReplays bool
	// Currency and Network of the test payments; EUR and visa when empty.
	Currency string
	Network  string
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.URL == "" || h.New == nil || h.Keys == nil || h.Approvals == nil {
		t.Fatal("psptest: Harness needs URL, New, Keys and Approvals")
	}
	for _, s := range Scenarios {
		if h.Tokens[s] == "" {
			t.Fatalf("psptest: Harness.Tokens lacks scenario %s", s)
		}
	}
	if len(h.Declines) == 0 {
		t.Fatal("psptest: Harness.Declines is empty: list the decline table's rows")
	}
	if h.Currency == "" {
		h.Currency = "EUR"
	}
	if h.Network == "" {
		h.Network = "visa"
	}
	s := &suite{h: h, proxy: NewProxy(t, h.URL)}
	t.Run("AuthorizeThenCapture", s.authorizeThenCapture)
	t.Run("AuthorizeThenVoid", s.authorizeThenVoid)
	t.Run("ChargeThenRefund", s.chargeThenRefund)
	t.Run("FollowUpWithoutReferenceIsInvalid", s.followUpWithoutReference)
	t.Run("RedeliveryIsIdempotent", s.redelivery)
	t.Run("Scenarios", s.scenarios)
	t.Run("DeclineTable", s.declineTable)
	t.Run("TimeoutAfterSendingIsInDoubt", s.timeoutAfterSending)
	t.Run("BrokenConnectionAfterSendingIsInDoubt", s.brokenAfterSending)
	t.Run("ConnectionRefusedIsPSPError", s.connectionRefused)
	t.Run("StatusOfUnseenKey", s.statusOfUnseenKey)
}

type suite struct {
	h     Harness
	proxy *Proxy
	seq   atomic.Int64
}

// paymentID is unique per call and never a prefix of another (fixed width).
func (s *suite) paymentID(kind string) string {
	return fmt.Sprintf("pay-%s-%06d-x", kind, s.seq.Add(1))
}

func (s *suite) connector(t *testing.T, baseURL string, timeout time.Duration) psp.Connector {
	t.Helper()
	c, err := s.h.New(baseURL, timeout)
	if err != nil {
		t.Fatalf("New(%s): %v", baseURL, err)
	}
	return c
}

func (s *suite) request(paymentID string, op schemas.Operation, token string) psp.Request {
	return psp.Request{
		PaymentID:      paymentID,
		IdempotencyKey: psp.IdempotencyKey(paymentID, "conformance", op),
		Operation:      op,
		Method:         "card",
		AmountMinor:    1250,
		Currency:       s.h.Currency,
		MerchantID:     "merchant-conformance",
		CustomerID:     "customer-conformance",
		PaymentMethod: schemas.PaymentMethod{
			Token: token, Type: "card", Network: s.h.Network, Funding: "credit",
			BIN: "424242", Last4: "4242", IssuerCountry: "DE",
		},
	}
}

func (s *suite) followUp(paymentID string, op schemas.Operation, reference string) psp.Request {
	r := s.request(paymentID, op, "")
	r.PaymentMethod = schemas.PaymentMethod{}
	r.AuthorizationReference = reference
	return r
}

func approved(t *testing.T, what string, out psp.Outcome) {
	t.Helper()
	if out.Outcome != schemas.OutcomeApproved || out.Class != schemas.ClassNone {
		t.Fatalf("%s: got %s/%q (%s: %s), want APPROVED", what, out.Outcome, out.Class, out.PSPCode, out.Message)
	}
	if out.Reference == "" {
		t.Fatalf("%s: approved without a PSP reference", what)
	}
	if out.Latency <= 0 {
		t.Errorf("%s: latency not measured", what)
	}
}

func (s *suite) keySent(t *testing.T, req psp.Request) {
	t.Helper()
	if keys := s.h.Keys(req.PaymentID); !slices.Contains(keys, req.IdempotencyKey) {
		t.Errorf("%s %s: the backend got keys %q, not %q", req.PaymentID, req.Operation, keys, req.IdempotencyKey)
	}
}

func (s *suite) authorizeThenCapture(t *testing.T) {
	c := s.connector(t, s.proxy.URL(), 5*time.Second)
	id := s.paymentID("auth-capture")
	auth := s.request(id, schemas.OpAuthorize, s.h.Tokens[Approve])
	out := c.Attempt(context.Background(), auth)
	approved(t, "authorize", out)
	s.keySent(t, auth)
	capture := s.followUp(id, schemas.OpCapture, out.Reference)
	approved(t, "capture", c.Attempt(context.Background(), capture))
	s.keySent(t, capture)
	if n := s.h.Approvals(id); n != 1 {
		t.Errorf("authorization approvals = %d, want 1", n)
	}
}

func (s *suite) authorizeThenVoid(t *testing.T) {
	c := s.connector(t, s.proxy.URL(), 5*time.Second)
	id := s.paymentID("auth-void")
	auth := s.request(id, schemas.OpAuthorize, s.h.Tokens[Approve])
	out := c.Attempt(context.Background(), auth)
	approved(t, "authorize", out)
	void := s.followUp(id, schemas.OpVoid, out.Reference)
	void.AmountMinor = 0
	approved(t, "void", c.Attempt(context.Background(), void))
	s.keySent(t, void)
}

func (s *suite) chargeThenRefund(t *testing.T) {
	c := s.connector(t, s.proxy.URL(), 5*time.Second)
	id := s.paymentID("charge-refund")
	charge := s.request(id, schemas.OpCharge, s.h.Tokens[Approve])
	out := c.Attempt(context.Background(), charge)
	approved(t, "charge", out)
	s.keySent(t, charge)
	refund := s.followUp(id, schemas.OpRefund, out.Reference)
	refund.AmountMinor = 500 // a partial refund
	approved(t, "refund", c.Attempt(context.Background(), refund))
	s.keySent(t, refund)
}

func (s *suite) followUpWithoutReference(t *testing.T) {
	c := s.connector(t, s.proxy.URL(), 5*time.Second)
	for _, op := range []schemas.Operation{schemas.OpCapture, schemas.OpVoid, schemas.OpRefund} {
		out := c.Attempt(context.Background(), s.followUp(s.paymentID("noref"), op, ""))
		if out.Class != schemas.ClassInvalidRequest || out.Outcome != schemas.OutcomeError {
			t.Errorf("%s without reference: got %s/%q (%s), want ERROR/invalid_request", op, out.Outcome, out.Class, out.Message)
		}
	}
}

func (s *suite) redelivery(t *testing.T) {
	c := s.connector(t, s.proxy.URL(), 5*time.Second)
	id := s.paymentID("redeliver")
	req := s.request(id, schemas.OpCharge, s.h.Tokens[Approve])
	first := c.Attempt(context.Background(), req)
	approved(t, "first", first)
	second := c.Attempt(context.Background(), req)
	approved(t, "redelivered", second)
	if second.Reference != first.Reference {
		t.Errorf("redelivery got reference %q, first %q: the key did not deduplicate", second.Reference, first.Reference)
	}
	if n := s.h.Approvals(id); n != 1 {
		t.Errorf("approvals = %d after a redelivery, want 1", n)
	}
}

func (s *suite) scenarios(t *testing.T) {
	c := s.connector(t, s.proxy.URL(), 5*time.Second)
	for _, sc := range Scenarios {
		t.Run(string(sc), func(t *testing.T) {
			id := s.paymentID(string(sc))
			out := c.Attempt(context.Background(), s.request(id, schemas.OpAuthorize, s.h.Tokens[sc]))
			if out.Class != want[sc] || out.Outcome != psp.OutcomeOf(want[sc]) {
				t.Fatalf("got %s/%q (%s: %s), want %s/%q", out.Outcome, out.Class, out.PSPCode, out.Message, psp.OutcomeOf(want[sc]), want[sc])
			}
			if sc != Approve && out.PSPCode == "" {
				t.Errorf("no PSP code on a %s", sc)
			}
			if sc == RateLimited && out.RetryAfter < 0 {
				t.Errorf("negative retry-after")
			}
			wantApprovals := 0
			if sc == Approve {
				wantApprovals = 1
			}
			if n := s.h.Approvals(id); n != wantApprovals {
				t.Errorf("approvals = %d, want %d", n, wantApprovals)
			}
		})
	}
}

func (s *suite) declineTable(t *testing.T) {
	c := s.connector(t, s.proxy.URL(), 5*time.Second)
	for _, d := range s.h.Declines {
		t.Run(d.Token, func(t *testing.T) {
			id := s.paymentID("decline")
			out := c.Attempt(context.Background(), s.request(id, schemas.OpAuthorize, d.Token))
			if out.Class != d.Class || out.Outcome != psp.OutcomeOf(d.Class) || out.PSPCode != d.PSPCode {
				t.Fatalf("got %s/%q code %q (%s), want %s/%q code %q", out.Outcome, out.Class, out.PSPCode, out.Message, psp.OutcomeOf(d.Class), d.Class, d.PSPCode)
			}
			if n := s.h.Approvals(id); n != 0 {
				t.Errorf("a decline was approved %d times", n)
			}
		})
	}
}

// resolve asks for the status of an in-doubt request and checks the PSP
// processed it once, approved.
func (s *suite) resolve(t *testing.T, c psp.Connector, req psp.Request) {
	t.Helper()
	st, err := c.Status(context.Background(), req)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if !st.Found {
		t.Fatal("Status: not found, but the PSP processed the request")
	}
	approved(t, "status", st.Outcome)
	again := c.Attempt(context.Background(), req)
	approved(t, "redelivery after the inquiry", again)
	if again.Reference != st.Outcome.Reference {
		t.Errorf("status reference %q, redelivery %q", st.Outcome.Reference, again.Reference)
	}
	if n := s.h.Approvals(req.PaymentID); n != 1 {
		t.Errorf("approvals = %d, want 1", n)
	}
	s.keySent(t, req)
}

func (s *suite) timeoutAfterSending(t *testing.T) {
	c := s.connector(t, s.proxy.URL(), 300*time.Millisecond)
	id := s.paymentID("hold")
	req := s.request(id, schemas.OpAuthorize, s.h.Tokens[Approve])
	s.proxy.HoldOnce(id)
	out := c.Attempt(context.Background(), req)
	s.proxy.Clear(id)
	if out.Class != schemas.ClassInDoubt || out.Outcome != schemas.OutcomeError {
		t.Fatalf("got %s/%q (%s: %s), want ERROR/in_doubt", out.Outcome, out.Class, out.PSPCode, out.Message)
	}
	s.resolve(t, c, req)
}

func (s *suite) brokenAfterSending(t *testing.T) {
	c := s.connector(t, s.proxy.URL(), 5*time.Second)
	// A first exchange leaves an idle keep-alive connection: a request that
	// breaks on a reused connection is the one net/http may re-send.
	approved(t, "warm-up", c.Attempt(context.Background(), s.request(s.paymentID("warm"), schemas.OpAuthorize, s.h.Tokens[Approve])))
	id := s.paymentID("drop")
	req := s.request(id, schemas.OpAuthorize, s.h.Tokens[Approve])
	s.proxy.DropOnce(id)
	out := c.Attempt(context.Background(), req)
	s.proxy.Clear(id)
	if out.Class != schemas.ClassInDoubt || out.Outcome != schemas.OutcomeError {
		t.Fatalf("got %s/%q (%s: %s), want ERROR/in_doubt (re-sent copies: %d)", out.Outcome, out.Class, out.PSPCode, out.Message, s.proxy.Resends(id))
	}
	t.Logf("re-sent copies answered 503 by the proxy: %d", s.proxy.Resends(id))
	s.resolve(t, c, req)
}

func (s *suite) connectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := s.connector(t, "http://"+addr, time.Second)
	out := c.Attempt(context.Background(), s.request(s.paymentID("refused"), schemas.OpAuthorize, s.h.Tokens[Approve]))
	if out.Class != schemas.ClassPSPError || out.Outcome != schemas.OutcomeError || out.PSPCode != "connection_refused" {
		t.Fatalf("got %s/%q code %q (%s), want ERROR/psp_error connection_refused", out.Outcome, out.Class, out.PSPCode, out.Message)
	}
}

func (s *suite) statusOfUnseenKey(t *testing.T) {
	c := s.connector(t, s.proxy.URL(), 5*time.Second)
	id := s.paymentID("unseen")
	req := s.request(id, schemas.OpAuthorize, s.h.Tokens[Approve])
	st, err := c.Status(context.Background(), req)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if !s.h.StatusReplays {
		if st.Found {
			t.Fatalf("a key the PSP never saw was found: %+v", st.Outcome)
		}
		if n := s.h.Approvals(id); n != 0 {
			t.Fatalf("the inquiry approved the payment %d times", n)
		}
		return
	}
	// The inquiry re-sent the request: the PSP processed it now, once.
	if !st.Found {
		t.Fatal("a replaying inquiry must report what the PSP answered")
	}
	approved(t, "status", st.Outcome)
	if n := s.h.Approvals(id); n != 1 {
		t.Fatalf("approvals = %d, want 1", n)
	}
}
