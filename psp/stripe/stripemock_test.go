package stripe

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/stripe/stripetest"
	"github.com/payroute/payroute/schemas"
)

// recorder keeps the requests a connector sent and the answers' headers.
type recorder struct {
	mu   sync.Mutex
	reqs []http.Header
	resp []http.Header
	next http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req.Header.Clone())
	if resp != nil {
		r.resp = append(r.resp, resp.Header.Clone())
	}
	return resp, err
}

// Every request the connector builds is accepted by stripe-mock, which
// validates parameters against Stripe's OpenAPI specification (an unknown
// or malformed parameter is a 400), and carries the Idempotency-Key and
// Stripe-Version headers; stripe-mock echoes the key back.
func TestRequestsValidateAgainstStripeMock(t *testing.T) {
	mock := stripetest.MockURL(t)
	rec := &recorder{next: http.DefaultTransport.(*http.Transport).Clone()}
	c, err := New(Config{Account: "stripe-mock", BaseURL: mock, APIKey: psp.NewSecret(testKey), Timeout: 5 * time.Second,
		HTTPClient: &http.Client{Transport: rec}, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	base := psp.Request{
		PaymentID: "pay-mock-1", MerchantID: "m-1", AmountMinor: 1250, Currency: "EUR",
		PaymentMethod: schemas.PaymentMethod{Token: "pm_card_visa", Network: "visa"},
	}
	for _, op := range []schemas.Operation{schemas.OpAuthorize, schemas.OpCharge, schemas.OpCapture, schemas.OpVoid, schemas.OpRefund} {
		req := base
		req.Operation = op
		req.IdempotencyKey = psp.IdempotencyKey(req.PaymentID, "stripe-mock", op)
		if op != schemas.OpAuthorize && op != schemas.OpCharge {
			req.AuthorizationReference = "pi_123"
			req.PaymentMethod = schemas.PaymentMethod{}
		}
		out := c.Attempt(context.Background(), req)
		// stripe-mock is stateless: an intent always comes back
		// requires_payment_method, so create and capture are not approved
		// here; what matters is that stripe-mock took the request.
		if out.Class == schemas.ClassInvalidRequest || out.Class == schemas.ClassPSPError {
			t.Errorf("%s: stripe-mock rejected the request: %s %s", op, out.PSPCode, out.Message)
		}
		if out.Reference == "" {
			t.Errorf("%s: no reference from stripe-mock's object", op)
		}
	}
	if got := c.Attempt(context.Background(), psp.Request{PaymentID: "p", IdempotencyKey: "k", Operation: schemas.OpRefund,
		AuthorizationReference: "pi_123", AmountMinor: 100, Currency: "EUR"}); got.Outcome != schemas.OutcomeApproved {
		t.Errorf("refund at stripe-mock: %+v", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) != 6 {
		t.Fatalf("%d requests recorded", len(rec.reqs))
	}
	for i, h := range rec.reqs {
		if h.Get("Idempotency-Key") == "" || h.Get("Stripe-Version") != APIVersion || h.Get("Authorization") != "Bearer "+testKey {
			t.Errorf("request %d headers: key %q version %q", i, h.Get("Idempotency-Key"), h.Get("Stripe-Version"))
		}
		if got := rec.resp[i].Get("Idempotency-Key"); got != h.Get("Idempotency-Key") {
			t.Errorf("request %d: stripe-mock echoed key %q, sent %q", i, got, h.Get("Idempotency-Key"))
		}
	}
}

// A key stripe-mock refuses is a psp_error (our credentials: fail over),
// and stripe-mock's answer, which quotes the refused key, is redacted
// before it reaches the outcome or the log.
func TestRefusedKeyIsRedacted(t *testing.T) {
	mock := stripetest.MockURL(t)
	const badKey = "sk_live_payroute-refused-key-must-not-leak"
	var logs bytes.Buffer
	c, err := New(Config{Account: "stripe-bad", BaseURL: mock, APIKey: psp.NewSecret(badKey), Timeout: 5 * time.Second,
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	req := psp.Request{PaymentID: "pay-bad-key", IdempotencyKey: "pr_badkey", Operation: schemas.OpCharge, AmountMinor: 100,
		Currency: "EUR", PaymentMethod: schemas.PaymentMethod{Token: "pm_card_visa"}}
	out := c.Attempt(context.Background(), req)
	if out.Class != schemas.ClassPSPError || out.PSPCode != "authentication_error" {
		t.Fatalf("refused key: %+v", out)
	}
	if _, err := c.Status(context.Background(), req); err == nil {
		t.Fatal("status with a refused key resolved the doubt")
	} else if strings.Contains(err.Error(), badKey) {
		t.Fatalf("status error leaks the key: %v", err)
	}
	if strings.Contains(out.Message, badKey) || !strings.Contains(out.Message, psp.Redacted) {
		t.Fatalf("message not redacted: %q", out.Message)
	}
	if strings.Contains(logs.String(), badKey) || !strings.Contains(logs.String(), "refused the account's API key") {
		t.Fatalf("logs:\n%s", logs.String())
	}
}

// Stripe-specific flows the conformance suite does not cover.
func TestStripeFlows(t *testing.T) {
	srv := stripetest.New(t, stripetest.MockURL(t))
	c := newConnector(t, srv.URL(), 5*time.Second)
	ctx := context.Background()
	req := func(id, token string) psp.Request {
		return psp.Request{PaymentID: id, IdempotencyKey: psp.IdempotencyKey(id, "stripe", schemas.OpCharge), Operation: schemas.OpCharge,
			AmountMinor: 990, Currency: "EUR", PaymentMethod: schemas.PaymentMethod{Token: token, Network: "mastercard"}}
	}

	t.Run("processing resolves through retrieval", func(t *testing.T) {
		r := req("pay-processing-1", stripetest.TokenProcessing)
		out := c.Attempt(ctx, r)
		if out.Class != schemas.ClassInDoubt || out.PSPCode != "processing" || out.Reference == "" {
			t.Fatalf("processing: %+v", out)
		}
		st, err := c.Status(ctx, r)
		if err != nil || !st.Found || st.Outcome.Outcome != schemas.OutcomeApproved || st.Outcome.Reference != out.Reference {
			t.Fatalf("status: %+v %v", st, err)
		}
	})

	t.Run("a 500 is in doubt and its replay too", func(t *testing.T) {
		r := req("pay-api-error-1", stripetest.TokenAPIError)
		out := c.Attempt(ctx, r)
		if out.Class != schemas.ClassInDoubt || out.PSPCode != "api_error" {
			t.Fatalf("500: %+v", out)
		}
		if _, err := c.Status(ctx, r); err == nil || !strings.Contains(err.Error(), "still in doubt") {
			t.Fatalf("status of a stored 500: %v", err)
		}
	})

	t.Run("a key reused with other parameters is invalid", func(t *testing.T) {
		r := req("pay-reuse-1", stripetest.TokenVisa)
		if out := c.Attempt(ctx, r); out.Outcome != schemas.OutcomeApproved {
			t.Fatalf("first: %+v", out)
		}
		r.AmountMinor++
		out := c.Attempt(ctx, r)
		if out.Class != schemas.ClassInvalidRequest || out.PSPCode != "idempotency_error" {
			t.Fatalf("reuse: %+v", out)
		}
		if srv.Approvals(r.PaymentID) != 1 {
			t.Fatalf("approvals %d", srv.Approvals(r.PaymentID))
		}
	})

	t.Run("Mastercard advice decides on Mastercard", func(t *testing.T) {
		out := c.Attempt(ctx, req("pay-advice-1", stripetest.Advice("24")))
		if out.Class != schemas.ClassSoftDecline || out.RetryAfter != time.Hour || out.IssuerCode != "05" {
			t.Fatalf("advice 24: %+v", out)
		}
		out = c.Attempt(ctx, req("pay-advice-2", stripetest.Advice("03")))
		if out.Class != schemas.ClassHardDecline {
			t.Fatalf("advice 03: %+v", out)
		}
	})

	t.Run("capture twice is invalid the second time", func(t *testing.T) {
		a := req("pay-capture-twice", stripetest.TokenVisa)
		a.Operation = schemas.OpAuthorize
		a.IdempotencyKey = psp.IdempotencyKey(a.PaymentID, "stripe", schemas.OpAuthorize)
		auth := c.Attempt(ctx, a)
		capture := psp.Request{PaymentID: a.PaymentID, Operation: schemas.OpCapture, AuthorizationReference: auth.Reference,
			IdempotencyKey: psp.IdempotencyKey(a.PaymentID, "stripe", schemas.OpCapture)}
		if out := c.Attempt(ctx, capture); out.Outcome != schemas.OutcomeApproved {
			t.Fatalf("capture: %+v", out)
		}
		capture.IdempotencyKey = psp.RetryIdempotencyKey(a.PaymentID, "stripe", schemas.OpCapture, 1)
		if out := c.Attempt(ctx, capture); out.Class != schemas.ClassInvalidRequest || out.PSPCode != "payment_intent_unexpected_state" {
			t.Fatalf("second capture: %+v", out)
		}
	})

	t.Run("invalid requests are never sent", func(t *testing.T) {
		before := srv.Requests()
		for _, bad := range []psp.Request{
			{PaymentID: "x", IdempotencyKey: "k", Operation: schemas.OpCharge, AmountMinor: 100, Currency: "EUR"},
			{PaymentID: "x", IdempotencyKey: "k", Operation: schemas.OpCharge, AmountMinor: 0, Currency: "EUR", PaymentMethod: schemas.PaymentMethod{Token: "pm_card_visa"}},
			{PaymentID: "x", IdempotencyKey: "k", Operation: schemas.OpCharge, AmountMinor: 100, Currency: "EURO", PaymentMethod: schemas.PaymentMethod{Token: "pm_card_visa"}},
			{PaymentID: "x", IdempotencyKey: "k", Operation: schemas.OpCharge, AmountMinor: 100, Currency: "EUR", PaymentMethod: schemas.PaymentMethod{Token: luhnToken()}},
			{PaymentID: "x", IdempotencyKey: "k", Operation: schemas.OpUnknown},
		} {
			if out := c.Attempt(ctx, bad); out.Class != schemas.ClassInvalidRequest {
				t.Errorf("%+v: %+v", bad, out)
			}
		}
		if srv.Requests() != before {
			t.Fatal("an invalid request reached Stripe")
		}
	})
}

// luhnToken builds a Luhn-valid 16-digit run at run time, so that no card
// number appears in the source: the connector must refuse to send it.
func luhnToken() string {
	digits := []byte("4" + strings.Repeat("0", 14))
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return string(digits) + string(rune('0'+(10-sum%10)%10))
}
