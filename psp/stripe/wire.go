package stripe

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// paymentIntent is the part of Stripe's PaymentIntent object the connector
// reads.
type paymentIntent struct {
	ID               string    `json:"id"`
	Object           string    `json:"object"`
	Status           string    `json:"status"`
	Amount           int64     `json:"amount"`
	Currency         string    `json:"currency"`
	CaptureMethod    string    `json:"capture_method"`
	LastPaymentError *apiError `json:"last_payment_error"`
	NextAction       *struct {
		Type string `json:"type"`
		// RedirectToURL is set for type redirect_to_url: the page where
		// the customer authenticates (3-D Secure). use_stripe_sdk has none:
		// Stripe.js handles it in the merchant's page.
		RedirectToURL *struct {
			URL string `json:"url"`
		} `json:"redirect_to_url"`
	} `json:"next_action"`
}

// refund is the part of Stripe's Refund object the connector reads.
type refund struct {
	ID            string `json:"id"`
	Object        string `json:"object"`
	Status        string `json:"status"`
	FailureReason string `json:"failure_reason"`
	PaymentIntent string `json:"payment_intent"`
}

// apiError is Stripe's error object (the "error" of an error answer, or a
// PaymentIntent's last_payment_error).
type apiError struct {
	Type               string         `json:"type"`
	Code               string         `json:"code"`
	DeclineCode        string         `json:"decline_code"`
	AdviceCode         string         `json:"advice_code"`
	NetworkAdviceCode  string         `json:"network_advice_code"`
	NetworkDeclineCode string         `json:"network_decline_code"`
	Message            string         `json:"message"`
	Param              string         `json:"param"`
	PaymentIntent      *paymentIntent `json:"payment_intent"`
}

// hasCode reports whether the error says anything a table can classify.
func (e *apiError) hasCode() bool {
	return e.Code != "" || e.DeclineCode != "" || e.AdviceCode != "" || e.NetworkAdviceCode != "" || e.NetworkDeclineCode != ""
}

type errorEnvelope struct {
	Error *apiError `json:"error"`
}

// object is what a call's successful answer is.
type object int

const (
	intentObject object = iota
	refundObject
)

// call is one Stripe API request an operation maps to.
type call struct {
	method string
	path   string
	form   url.Values
	object object
}

// body is the form-encoded request body. url.Values.Encode sorts the keys,
// so the same request always encodes to the same bytes: Stripe compares a
// replay's parameters with the original's.
func (c call) body() string { return c.form.Encode() }

// buildCall maps an operation to its Stripe request, or says why the
// request is invalid without sending it.
func buildCall(req psp.Request) (call, error) {
	switch req.Operation {
	case schemas.OpAuthorize, schemas.OpCharge:
		if req.PaymentMethod.Token == "" {
			return call{}, errors.New("payment_method: a Stripe PaymentMethod id (pm_...) is required")
		}
		if schemas.ContainsPAN(req.PaymentMethod.Token) {
			return call{}, errors.New("payment_method: looks like a card number; only Stripe PaymentMethod ids are sent")
		}
		if req.AmountMinor <= 0 {
			return call{}, errors.New("amount: must be positive")
		}
		if err := checkCurrency(req.Currency); err != nil {
			return call{}, err
		}
		f := url.Values{}
		f.Set("amount", strconv.FormatInt(req.AmountMinor, 10))
		f.Set("currency", strings.ToLower(req.Currency))
		f.Set("payment_method", req.PaymentMethod.Token)
		f.Set("payment_method_types[0]", "card")
		f.Set("confirm", "true")
		if req.Operation == schemas.OpAuthorize {
			f.Set("capture_method", "manual")
		} else {
			f.Set("capture_method", "automatic")
		}
		setMetadata(f, req)
		return call{method: http.MethodPost, path: "/v1/payment_intents", form: f, object: intentObject}, nil
	case schemas.OpCapture, schemas.OpVoid, schemas.OpRefund:
		if req.AuthorizationReference == "" {
			return call{}, fmt.Errorf("authorization_reference: required for %s (the PaymentIntent id)", req.Operation)
		}
		if req.AmountMinor < 0 {
			return call{}, errors.New("amount: must not be negative")
		}
		f := url.Values{}
		ref := url.PathEscape(req.AuthorizationReference)
		switch req.Operation {
		case schemas.OpCapture:
			if req.AmountMinor > 0 {
				f.Set("amount_to_capture", strconv.FormatInt(req.AmountMinor, 10))
			}
			setMetadata(f, req)
			return call{method: http.MethodPost, path: "/v1/payment_intents/" + ref + "/capture", form: f, object: intentObject}, nil
		case schemas.OpVoid:
			// The cancel endpoint takes no metadata.
			return call{method: http.MethodPost, path: "/v1/payment_intents/" + ref + "/cancel", form: f, object: intentObject}, nil
		default:
			f.Set("payment_intent", req.AuthorizationReference)
			if req.AmountMinor > 0 {
				f.Set("amount", strconv.FormatInt(req.AmountMinor, 10))
			}
			setMetadata(f, req)
			return call{method: http.MethodPost, path: "/v1/refunds", form: f, object: refundObject}, nil
		}
	default:
		return call{}, fmt.Errorf("operation: %q is not supported", req.Operation)
	}
}

func setMetadata(f url.Values, req psp.Request) {
	if req.PaymentID != "" {
		f.Set("metadata[payment_id]", req.PaymentID)
	}
	if req.MerchantID != "" {
		f.Set("metadata[merchant_id]", req.MerchantID)
	}
}

func checkCurrency(c string) error {
	if _, ok := schemas.CurrencyExponent(strings.ToUpper(c)); !ok {
		return fmt.Errorf("currency: %q is not an ISO 4217 code", c)
	}
	return nil
}
