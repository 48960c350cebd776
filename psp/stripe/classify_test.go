package stripe

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// Every row of every table, through the function that uses it.
func TestTableRows(t *testing.T) {
	for _, r := range DeclineCodes {
		out := classifyDecline(&apiError{Type: "card_error", Code: "card_declined", DeclineCode: r.Code}, "visa")
		if out.Class != r.Class || out.PSPCode != r.Code || out.Outcome != psp.OutcomeOf(r.Class) {
			t.Errorf("decline_code %s: %+v, want %s", r.Code, out, r.Class)
		}
	}
	for _, r := range AdviceCodes {
		// advice_code decides over the decline code.
		out := classifyDecline(&apiError{Type: "card_error", Code: "card_declined", DeclineCode: "insufficient_funds", AdviceCode: r.Code}, "visa")
		if out.Class != r.Class {
			t.Errorf("advice_code %s: %q, want %q", r.Code, out.Class, r.Class)
		}
	}
	for _, r := range ErrorCodes {
		if r.Class.FailsOver() || r.Class == schemas.ClassInDoubt || r.Class == schemas.ClassInvalidRequest {
			out := classifyError(http.StatusBadRequest, http.Header{}, &apiError{Type: "invalid_request_error", Code: r.Code, Message: "m"}, "visa")
			if out.Class != r.Class || out.PSPCode != r.Code {
				t.Errorf("error code %s: %+v, want %s", r.Code, out, r.Class)
			}
			continue
		}
		out := classifyDecline(&apiError{Type: "card_error", Code: r.Code}, "visa")
		if out.Class != r.Class || out.PSPCode != r.Code {
			t.Errorf("card error code %s: %+v, want %s", r.Code, out, r.Class)
		}
	}
	for _, r := range HTTPStatuses {
		out := classifyError(r.Status, http.Header{}, &apiError{Type: "api_error", Message: "m"}, "visa")
		if out.Class != r.Class || out.PSPCode != r.Code {
			t.Errorf("HTTP %d: %+v, want %s %s", r.Status, out, r.Class, r.Code)
		}
	}
	for _, r := range IntentStatuses {
		for _, op := range []schemas.Operation{schemas.OpAuthorize, schemas.OpCharge, schemas.OpCapture, schemas.OpVoid} {
			out := classifyIntent(op, &paymentIntent{ID: "pi_1", Status: r.Code}, "visa")
			if out.Class != r.Class || out.PSPCode != r.Code || out.Reference != "pi_1" {
				t.Errorf("%s intent %s: %+v, want %s", op, r.Code, out, r.Class)
			}
		}
	}
	for _, r := range RefundStatuses {
		out := classifyRefund(&refund{ID: "re_1", Status: r.Code})
		if out.Class != r.Class || out.Reference != "re_1" {
			t.Errorf("refund %s: %+v, want %s", r.Code, out, r.Class)
		}
	}
}

func TestApprovedStatuses(t *testing.T) {
	for _, tc := range []struct {
		op     schemas.Operation
		status string
		want   bool
	}{
		{schemas.OpAuthorize, "requires_capture", true},
		{schemas.OpAuthorize, "succeeded", true},
		{schemas.OpCharge, "succeeded", true},
		{schemas.OpCharge, "requires_capture", true},
		{schemas.OpCapture, "succeeded", true},
		{schemas.OpCapture, "requires_capture", false},
		{schemas.OpVoid, "canceled", true},
		{schemas.OpVoid, "succeeded", false},
		{schemas.OpAuthorize, "canceled", false},
		{schemas.OpRefund, "succeeded", false}, // refunds are Refund objects
	} {
		if got := approvedStatus(tc.op, tc.status); got != tc.want {
			t.Errorf("%s %s: %v", tc.op, tc.status, got)
		}
	}
	out := classifyIntent(schemas.OpCapture, &paymentIntent{ID: "pi_1", Status: "requires_capture"}, "visa")
	if out.Class != psp.UnknownCodeClass || out.PSPCode != "status_requires_capture" {
		t.Errorf("capture left uncaptured: %+v", out)
	}
	for _, st := range []string{"succeeded", "pending"} {
		if out := classifyRefund(&refund{ID: "re_1", Status: st}); out.Outcome != schemas.OutcomeApproved {
			t.Errorf("refund %s: %+v", st, out)
		}
	}
	if out := classifyRefund(&refund{ID: "re_1", Status: "failed", FailureReason: "expired_or_canceled_card"}); out.PSPCode != "expired_or_canceled_card" {
		t.Errorf("failed refund: %+v", out)
	}
}

func TestDeclinePrecedence(t *testing.T) {
	tests := []struct {
		name    string
		e       apiError
		network string
		want    schemas.Class
		retry   time.Duration
	}{
		{"Mastercard advice over everything", apiError{DeclineCode: "insufficient_funds", AdviceCode: "try_again_later", NetworkAdviceCode: "03"}, "mastercard", schemas.ClassHardDecline, 0},
		{"Mastercard advice wait", apiError{DeclineCode: "do_not_honor", NetworkAdviceCode: "25"}, "MasterCard", schemas.ClassSoftDecline, 24 * time.Hour},
		{"network advice ignored on Visa", apiError{DeclineCode: "insufficient_funds", NetworkAdviceCode: "03"}, "visa", schemas.ClassSoftDecline, 0},
		{"advice_code over decline_code", apiError{DeclineCode: "insufficient_funds", AdviceCode: "do_not_try_again"}, "visa", schemas.ClassHardDecline, 0},
		{"decline_code over issuer code", apiError{DeclineCode: "insufficient_funds", NetworkDeclineCode: "43"}, "visa", schemas.ClassSoftDecline, 0},
		{"issuer code when decline_code unknown", apiError{Code: "card_declined", DeclineCode: "brand_new", NetworkDeclineCode: "43"}, "visa", schemas.ClassHardDecline, 0},
		{"error code last", apiError{Code: "expired_card"}, "visa", schemas.ClassHardDecline, 0},
		{"nothing known", apiError{Code: "card_declined_in_a_new_way"}, "visa", psp.UnknownCodeClass, 0},
		{"nothing at all", apiError{}, "visa", psp.UnknownCodeClass, 0},
	}
	for _, tc := range tests {
		tc.e.Type = "card_error"
		out := classifyDecline(&tc.e, tc.network)
		if out.Class != tc.want || out.RetryAfter != tc.retry {
			t.Errorf("%s: %q %v, want %q %v", tc.name, out.Class, out.RetryAfter, tc.want, tc.retry)
		}
	}
	if psp.UnknownCodeClass.FailsOver() {
		t.Fatal("unknown codes must not fail over")
	}
}

func TestErrorAnswers(t *testing.T) {
	h := http.Header{}
	h.Set("Retry-After", "2")
	tests := []struct {
		name   string
		status int
		e      *apiError
		class  schemas.Class
		code   string
	}{
		{"402 without a body is a decline", http.StatusPaymentRequired, nil, psp.UnknownCodeClass, "card_declined"},
		{"in-progress key is in doubt", http.StatusConflict, &apiError{Type: "invalid_request_error", Code: "idempotency_key_in_use"}, schemas.ClassInDoubt, "idempotency_key_in_use"},
		{"other parameters under a key", http.StatusBadRequest, &apiError{Type: "idempotency_error"}, schemas.ClassInvalidRequest, "idempotency_error"},
		{"rate limit", http.StatusTooManyRequests, &apiError{Type: "invalid_request_error", Code: "rate_limit"}, schemas.ClassRateLimited, "rate_limit"},
		{"404 from Stripe", http.StatusNotFound, &apiError{Type: "invalid_request_error", Code: "resource_missing"}, schemas.ClassInvalidRequest, "resource_missing"},
		{"404 from elsewhere", http.StatusNotFound, nil, schemas.ClassPSPError, "http_404"},
		{"500 is indeterminate", http.StatusInternalServerError, &apiError{Type: "api_error"}, schemas.ClassInDoubt, "api_error"},
		{"other 5xx", 599, nil, schemas.ClassPSPError, "http_599"},
		{"other 4xx", http.StatusTeapot, nil, schemas.ClassInvalidRequest, "invalid_request_error"},
		{"401 with a code", http.StatusUnauthorized, &apiError{Type: "invalid_request_error", Code: "api_key_expired"}, schemas.ClassPSPError, "api_key_expired"},
	}
	for _, tc := range tests {
		out := classifyError(tc.status, h, tc.e, "visa")
		if out.Class != tc.class || out.PSPCode != tc.code || out.Outcome != psp.OutcomeOf(tc.class) {
			t.Errorf("%s: %+v, want %s %s", tc.name, out, tc.class, tc.code)
		}
		if tc.class == schemas.ClassRateLimited && out.RetryAfter != 2*time.Second {
			t.Errorf("%s: retry-after %v", tc.name, out.RetryAfter)
		}
	}
}

// The last_payment_error of a requires_payment_method intent decides; an
// intent without one is a soft decline.
func TestRequiresPaymentMethod(t *testing.T) {
	var pi paymentIntent
	raw := `{"id":"pi_1","object":"payment_intent","status":"requires_payment_method",
		"last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"stolen_card","message":"Your card was declined."}}`
	if err := json.Unmarshal([]byte(raw), &pi); err != nil {
		t.Fatal(err)
	}
	if out := classifyIntent(schemas.OpCharge, &pi, "visa"); out.Class != schemas.ClassHardDecline || out.PSPCode != "stolen_card" || out.Reference != "pi_1" {
		t.Fatalf("%+v", out)
	}
	pi.LastPaymentError = &apiError{Type: "idempotency_error"} // what stripe-mock's fixture carries
	if out := classifyIntent(schemas.OpCharge, &pi, "visa"); out.Class != schemas.ClassSoftDecline || out.PSPCode != "requires_payment_method" {
		t.Fatalf("%+v", out)
	}
}

// A PaymentIntent that needs 3-D Secure through a redirect (Stripe's
// next_action redirect_to_url, as its API reference shows it) gives the
// customer's page as ActionURL; use_stripe_sdk (handled by Stripe.js in
// the merchant's page) gives none.
func TestRequiresActionCarriesTheRedirect(t *testing.T) {
	const body = `{"id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "object": "payment_intent", "status": "requires_action",
  "next_action": {"type": "redirect_to_url", "redirect_to_url": {
    "return_url": "https://example.com/checkout/complete",
    "url": "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent=pi_3MtwBwLkdIwHu7ix28a3tqPa"}}}`
	var pi paymentIntent
	if err := json.Unmarshal([]byte(body), &pi); err != nil {
		t.Fatal(err)
	}
	out := classifyIntent(schemas.OpCharge, &pi, "visa")
	if out.Class != schemas.ClassCustomerError || !out.Pending || out.ActionURL != "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent=pi_3MtwBwLkdIwHu7ix28a3tqPa" {
		t.Fatalf("redirect_to_url: %+v", out)
	}
	sdk := paymentIntent{ID: "pi_1", Status: "requires_action"}
	if err := json.Unmarshal([]byte(`{"next_action": {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}}`), &sdk); err != nil {
		t.Fatal(err)
	}
	if out := classifyIntent(schemas.OpCharge, &sdk, "visa"); out.Class != schemas.ClassCustomerError || !out.Pending || out.ActionURL != "" {
		t.Fatalf("use_stripe_sdk: %+v, want a pending customer_error without an action URL", out)
	}
	// A failed authentication leaves nothing open.
	failed := paymentIntent{ID: "pi_2", Status: "requires_payment_method", LastPaymentError: &apiError{Type: "card_error", Code: "card_declined", DeclineCode: "authentication_required"}}
	if out := classifyIntent(schemas.OpCharge, &failed, "visa"); out.Pending {
		t.Fatalf("a failed authentication: %+v, want nothing pending", out)
	}
}
