package adyen

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/adyen/adyentest"
	"github.com/payroute/payroute/schemas"
)

func charge(id, token string) psp.Request {
	return psp.Request{PaymentID: id, IdempotencyKey: psp.IdempotencyKey(id, "adyen", schemas.OpCharge), Operation: schemas.OpCharge,
		AmountMinor: 1250, Currency: "EUR", CustomerID: "cus-42",
		PaymentMethod: schemas.PaymentMethod{Token: token, Network: "mastercard"}}
}

// The requests follow the Checkout API reference: a /payments body with
// amount, reference, merchantAccount, a stored scheme payment method of the
// shopper, manual capture for AUTHORIZE and immediate capture for CHARGE.
func TestRequestBodies(t *testing.T) {
	srv := newServer(t)
	c := newConnector(t, srv.URL(), 5*time.Second)
	ctx := context.Background()

	a := charge("pay-body-1", adyentest.TokenAuthorised)
	a.Operation = schemas.OpAuthorize
	auth := c.Attempt(ctx, a)
	if auth.Outcome != schemas.OutcomeApproved {
		t.Fatalf("authorize: %+v", auth)
	}
	var got map[string]any
	if err := json.Unmarshal(srv.LastBody(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"amount":                   map[string]any{"currency": "EUR", "value": 1250.0},
		"reference":                "pay-body-1",
		"merchantAccount":          testMerchant,
		"paymentMethod":            map[string]any{"type": "scheme", "storedPaymentMethodId": adyentest.TokenAuthorised},
		"shopperReference":         "cus-42",
		"shopperInteraction":       "ContAuth",
		"recurringProcessingModel": "CardOnFile",
		"additionalData":           map[string]any{"manualCapture": "true"},
	}
	if !equalJSON(got, want) {
		t.Fatalf("authorize body:\n got %v\nwant %v", got, want)
	}

	if out := c.Attempt(ctx, charge("pay-body-2", adyentest.TokenAuthorised)); out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("charge: %+v", out)
	}
	got = nil
	_ = json.Unmarshal(srv.LastBody(), &got)
	if got["captureDelayHours"] != 0.0 || got["additionalData"] != nil {
		t.Fatalf("charge body: %v", got)
	}

	capture := psp.Request{PaymentID: "pay-body-1", IdempotencyKey: "pr_capture", Operation: schemas.OpCapture,
		AmountMinor: 1250, Currency: "EUR", AuthorizationReference: auth.Reference}
	if out := c.Attempt(ctx, capture); out.Outcome != schemas.OutcomeApproved || out.PSPCode != "received" {
		t.Fatalf("capture: %+v", out)
	}
	got = nil
	_ = json.Unmarshal(srv.LastBody(), &got)
	if !equalJSON(got, map[string]any{"merchantAccount": testMerchant, "reference": "pay-body-1",
		"amount": map[string]any{"currency": "EUR", "value": 1250.0}}) {
		t.Fatalf("capture body: %v", got)
	}
	void := psp.Request{PaymentID: "pay-body-1", IdempotencyKey: "pr_void", Operation: schemas.OpVoid, AuthorizationReference: auth.Reference}
	if out := c.Attempt(ctx, void); out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("void: %+v", out)
	}
	got = nil
	_ = json.Unmarshal(srv.LastBody(), &got)
	if !equalJSON(got, map[string]any{"merchantAccount": testMerchant, "reference": "pay-body-1"}) {
		t.Fatalf("cancel body: %v", got)
	}
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestAdyenFlows(t *testing.T) {
	srv := newServer(t)
	c := newConnector(t, srv.URL(), 5*time.Second)
	ctx := context.Background()

	t.Run("Mastercard advice decides on Mastercard", func(t *testing.T) {
		out := c.Attempt(ctx, charge("pay-advice-1", adyentest.Advice("25")))
		if out.Class != schemas.ClassSoftDecline || out.RetryAfter != 24*time.Hour || out.IssuerCode != "05" {
			t.Fatalf("advice 25: %+v", out)
		}
		visa := charge("pay-advice-2", adyentest.Advice("03"))
		visa.PaymentMethod.Network = "visa"
		if out := c.Attempt(ctx, visa); out.Class != schemas.ClassSoftDecline { // "Refused" (2) decides on Visa
			t.Fatalf("advice on visa: %+v", out)
		}
	})

	t.Run("a redirect for 3-D Secure gives the shopper's page", func(t *testing.T) {
		out := c.Attempt(ctx, charge("pay-redirect-1", adyentest.TokenRedirect))
		if out.Class != schemas.ClassCustomerError || out.PSPCode != "RedirectShopper" || !out.Pending ||
			out.ActionURL != "https://checkoutshopper-test.adyen.com/checkoutshopper/threeDS/redirect" {
			t.Fatalf("RedirectShopper: %+v", out)
		}
	})

	t.Run("pending stays in doubt", func(t *testing.T) {
		r := charge("pay-pending-1", adyentest.TokenPending)
		if out := c.Attempt(ctx, r); out.Class != schemas.ClassInDoubt {
			t.Fatalf("pending: %+v", out)
		}
		if _, err := c.Status(ctx, r); err == nil || !strings.Contains(err.Error(), "still in doubt") {
			t.Fatalf("status of pending: %v", err)
		}
	})

	t.Run("a capture of an unknown payment is invalid", func(t *testing.T) {
		out := c.Attempt(ctx, psp.Request{PaymentID: "pay-x", IdempotencyKey: "pr_x", Operation: schemas.OpCapture,
			AmountMinor: 100, Currency: "EUR", AuthorizationReference: "ADYUNKNOWN"})
		if out.Class != schemas.ClassInvalidRequest || out.PSPCode != "167" {
			t.Fatalf("unknown reference: %+v", out)
		}
	})

	t.Run("invalid requests are never sent", func(t *testing.T) {
		before := srv.Requests()
		for _, bad := range []psp.Request{
			{PaymentID: "x", IdempotencyKey: "k", Operation: schemas.OpCharge, AmountMinor: 100, Currency: "EUR"},
			{PaymentID: "", IdempotencyKey: "k", Operation: schemas.OpCharge, AmountMinor: 100, Currency: "EUR", PaymentMethod: schemas.PaymentMethod{Token: "t"}},
			{PaymentID: "x", IdempotencyKey: "k", Operation: schemas.OpCharge, AmountMinor: 100, Currency: "EURO", PaymentMethod: schemas.PaymentMethod{Token: "t"}},
			{PaymentID: "x", IdempotencyKey: "k", Operation: schemas.OpCapture, AmountMinor: 0, Currency: "EUR", AuthorizationReference: "r"},
			{PaymentID: "x", IdempotencyKey: "k", Operation: schemas.OpRefund, AmountMinor: 10, Currency: "", AuthorizationReference: "r"},
			{PaymentID: "x", IdempotencyKey: "k", Operation: schemas.OpUnknown},
		} {
			if out := c.Attempt(ctx, bad); out.Class != schemas.ClassInvalidRequest {
				t.Errorf("%+v: %+v", bad, out)
			}
		}
		if srv.Requests() != before {
			t.Fatal("an invalid request reached Adyen")
		}
	})

	t.Run("a duplicate in flight is in doubt", func(t *testing.T) {
		slow := adyentest.New(t, adyentest.Config{APIKey: testKey, MerchantAccount: testMerchant, Delay: 200 * time.Millisecond})
		sc := newConnector(t, slow.URL(), 5*time.Second)
		r := charge("pay-dup-1", adyentest.TokenAuthorised)
		var wg sync.WaitGroup
		outs := make([]psp.Outcome, 2)
		for i := range outs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i] = sc.Attempt(ctx, r)
			}()
		}
		wg.Wait()
		approved, inDoubt := 0, 0
		for _, o := range outs {
			switch {
			case o.Outcome == schemas.OutcomeApproved:
				approved++
			case o.Class == schemas.ClassInDoubt && o.PSPCode == "704":
				inDoubt++
			}
		}
		// Both may also be approved if the second arrived after the first
		// was stored; never two approvals at Adyen.
		if approved+inDoubt != 2 || slow.Approvals(r.PaymentID) != 1 {
			t.Fatalf("outcomes %+v, approvals %d", outs, slow.Approvals(r.PaymentID))
		}
	})

	t.Run("merchant account refused", func(t *testing.T) {
		other, err := New(Config{BaseURL: srv.URL(), MerchantAccount: "SomeoneElse", APIKey: psp.NewSecret(testKey), Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if out := other.Attempt(ctx, charge("pay-merchant-1", adyentest.TokenAuthorised)); out.Class != schemas.ClassPSPError || out.PSPCode != "901" {
			t.Fatalf("%+v", out)
		}
	})
}

// A refused key is psp_error, logged as a warning without the key; an
// answer that quotes the key is redacted.
func TestRefusedKeyIsRedacted(t *testing.T) {
	srv := newServer(t)
	const badKey = "AQE_payroute-refused-adyen-key"
	var logs bytes.Buffer
	c, err := New(Config{Account: "adyen-bad", BaseURL: srv.URL(), MerchantAccount: testMerchant, APIKey: psp.NewSecret(badKey),
		Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	r := charge("pay-badkey-1", adyentest.TokenAuthorised)
	out := c.Attempt(context.Background(), r)
	if out.Class != schemas.ClassPSPError || out.PSPCode != "000" {
		t.Fatalf("%+v", out)
	}
	if _, err := c.Status(context.Background(), r); err == nil {
		t.Fatal("status with a refused key resolved the doubt")
	}
	if strings.Contains(logs.String(), badKey) || !strings.Contains(logs.String(), "refused the account's API key") {
		t.Fatalf("logs:\n%s", logs.String())
	}
	echo := classifyError(http.StatusUnauthorized, http.Header{}, &serviceError{ErrorCode: "000", Message: "key " + badKey + " refused", ErrorType: "security"})
	if got := psp.NewSecret(badKey).Redact(echo.Message); strings.Contains(got, badKey) {
		t.Fatalf("redaction: %q", got)
	}
}

func TestTableRows(t *testing.T) {
	for _, r := range RefusalReasons {
		for _, byText := range []bool{false, true} {
			p := &paymentResponse{PSPReference: "P", ResultCode: "Refused", RefusalReason: r.Meaning, RefusalReasonCode: r.Code}
			if byText {
				p.RefusalReasonCode = ""
			}
			out := classifyPayment(p, "visa")
			if out.Class != r.Class || out.PSPCode != r.Meaning || out.Reference != "P" {
				t.Errorf("refusal %s (by text %v): %+v, want %s", r.Code, byText, out, r.Class)
			}
		}
	}
	for _, r := range ResultCodes {
		out := classifyPayment(&paymentResponse{PSPReference: "P", ResultCode: r.Code}, "visa")
		if out.Class != r.Class || out.Outcome != psp.OutcomeOf(r.Class) {
			t.Errorf("resultCode %s: %+v, want %s", r.Code, out, r.Class)
		}
	}
	if out := classifyPayment(&paymentResponse{ResultCode: "Authorised", RefusalReasonCode: "0"}, "visa"); out.Outcome != schemas.OutcomeApproved {
		t.Errorf("Authorised with refusalReasonCode 0: %+v", out)
	}
	if out := classifyPayment(&paymentResponse{ResultCode: "SomethingNew"}, "visa"); out.Class != psp.UnknownCodeClass || out.PSPCode != "SomethingNew" {
		t.Errorf("unknown resultCode: %+v", out)
	}
	for _, r := range ErrorCodes {
		out := classifyError(http.StatusUnprocessableEntity, http.Header{}, &serviceError{ErrorCode: r.Code, Message: "m", ErrorType: "validation"})
		if out.Class != r.Class || out.PSPCode != r.Code {
			t.Errorf("errorCode %s: %+v, want %s", r.Code, out, r.Class)
		}
	}
	for _, r := range ErrorTypes {
		out := classifyError(http.StatusUnprocessableEntity, http.Header{}, &serviceError{ErrorCode: "1234", ErrorType: r.Code})
		if out.Class != r.Class {
			t.Errorf("errorType %s: %+v, want %s", r.Code, out, r.Class)
		}
	}
}

func TestErrorPrecedence(t *testing.T) {
	h := http.Header{}
	h.Set("Retry-After", "3")
	for _, tc := range []struct {
		name   string
		status int
		e      *serviceError
		want   schemas.Class
	}{
		{"704 on 409", http.StatusConflict, &serviceError{ErrorCode: "704", ErrorType: "validation"}, schemas.ClassInDoubt},
		{"401 whatever the type", http.StatusUnauthorized, &serviceError{ErrorCode: "000", ErrorType: "validation"}, schemas.ClassPSPError},
		{"429", http.StatusTooManyRequests, &serviceError{ErrorCode: "000", ErrorType: "security"}, schemas.ClassRateLimited},
		{"500 without a body", http.StatusInternalServerError, nil, schemas.ClassPSPError},
		{"404 without a body", http.StatusNotFound, nil, schemas.ClassPSPError},
		{"422 without a body", http.StatusUnprocessableEntity, nil, schemas.ClassInvalidRequest},
	} {
		out := classifyError(tc.status, h, tc.e)
		if out.Class != tc.want {
			t.Errorf("%s: %+v, want %s", tc.name, out, tc.want)
		}
		if tc.want == schemas.ClassRateLimited && out.RetryAfter != 3*time.Second {
			t.Errorf("%s: retry-after %v", tc.name, out.RetryAfter)
		}
	}
	// A refusal reason decides over the raw issuer code; the raw code is
	// kept as the issuer code.
	out := classifyPayment(&paymentResponse{ResultCode: "Refused", RefusalReason: "Not enough balance", RefusalReasonCode: "12",
		AdditionalData: map[string]string{"refusalReasonRaw": "43 : Stolen card"}}, "visa")
	if out.Class != schemas.ClassSoftDecline || out.IssuerCode != "43" {
		t.Errorf("refusal over raw: %+v", out)
	}
	if m := classifyModification(&modificationResponse{Status: "something"}); m.Class != psp.UnknownCodeClass {
		t.Errorf("modification status: %+v", m)
	}
}
