package adyen

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// Amount is Adyen's amount: minor units and an ISO 4217 code.
type Amount struct {
	Currency string `json:"currency"`
	Value    int64  `json:"value"`
}

// PaymentMethod is the payment method of a /payments request: a card
// stored at Adyen.
type PaymentMethod struct {
	Type                  string `json:"type"`
	StoredPaymentMethodID string `json:"storedPaymentMethodId,omitempty"`
}

// PaymentRequest is the body of POST /payments the connector sends.
type PaymentRequest struct {
	Amount                   Amount            `json:"amount"`
	Reference                string            `json:"reference"`
	MerchantAccount          string            `json:"merchantAccount"`
	PaymentMethod            PaymentMethod     `json:"paymentMethod"`
	ShopperReference         string            `json:"shopperReference,omitempty"`
	ShopperInteraction       string            `json:"shopperInteraction,omitempty"`
	RecurringProcessingModel string            `json:"recurringProcessingModel,omitempty"`
	CaptureDelayHours        *int              `json:"captureDelayHours,omitempty"`
	AdditionalData           map[string]string `json:"additionalData,omitempty"`
}

// ModificationRequest is the body of a capture, cancel or refund.
type ModificationRequest struct {
	MerchantAccount string  `json:"merchantAccount"`
	Amount          *Amount `json:"amount,omitempty"`
	Reference       string  `json:"reference,omitempty"`
}

// paymentResponse is the part of a /payments answer the connector reads.
type paymentResponse struct {
	PSPReference      string            `json:"pspReference"`
	ResultCode        string            `json:"resultCode"`
	RefusalReason     string            `json:"refusalReason"`
	RefusalReasonCode string            `json:"refusalReasonCode"`
	MerchantReference string            `json:"merchantReference"`
	AdditionalData    map[string]string `json:"additionalData"`
	// Action is what the shopper must do for RedirectShopper and the
	// other *Shopper result codes; URL is set for a redirect (3-D Secure
	// 1, a bank's page), not for threeDS2 (the Drop-in handles it).
	Action *struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"action"`
}

// modificationResponse is the 201 answer to a capture, cancel or refund.
type modificationResponse struct {
	MerchantAccount     string `json:"merchantAccount"`
	PaymentPSPReference string `json:"paymentPspReference"`
	PSPReference        string `json:"pspReference"`
	Reference           string `json:"reference"`
	Status              string `json:"status"`
}

// serviceError is Adyen's error body.
type serviceError struct {
	Status       int    `json:"status"`
	ErrorCode    string `json:"errorCode"`
	Message      string `json:"message"`
	ErrorType    string `json:"errorType"`
	PSPReference string `json:"pspReference"`
}

// call is one Checkout API request an operation maps to.
type call struct {
	path         string
	body         []byte
	modification bool
}

// maxReference is Adyen's limit on reference; longer payment ids are cut.
const maxReference = 80

// buildCall maps an operation to its Checkout API request, or says why the
// request is invalid without sending it.
func buildCall(req psp.Request, merchantAccount string) (call, error) {
	ref := req.PaymentID
	if ref == "" {
		return call{}, errors.New("reference: the payment id is required")
	}
	if len(ref) > maxReference {
		ref = ref[:maxReference]
	}
	cur := strings.ToUpper(req.Currency)
	switch req.Operation {
	case schemas.OpAuthorize, schemas.OpCharge:
		token := req.PaymentMethod.Token
		if token == "" {
			return call{}, errors.New("paymentMethod: an Adyen stored payment method id is required")
		}
		if schemas.ContainsPAN(token) {
			return call{}, errors.New("paymentMethod: looks like a card number; only stored payment method ids are sent")
		}
		if req.AmountMinor <= 0 {
			return call{}, errors.New("amount: must be positive")
		}
		if _, ok := schemas.CurrencyExponent(cur); !ok {
			return call{}, fmt.Errorf("amount.currency: %q is not an ISO 4217 code", req.Currency)
		}
		p := PaymentRequest{
			Amount: Amount{Currency: cur, Value: req.AmountMinor}, Reference: ref, MerchantAccount: merchantAccount,
			PaymentMethod:    PaymentMethod{Type: "scheme", StoredPaymentMethodID: token},
			ShopperReference: req.CustomerID, ShopperInteraction: "ContAuth", RecurringProcessingModel: "CardOnFile",
		}
		if req.Operation == schemas.OpAuthorize {
			p.AdditionalData = map[string]string{"manualCapture": "true"}
		} else {
			zero := 0
			p.CaptureDelayHours = &zero
		}
		b, err := json.Marshal(p)
		return call{path: "/payments", body: b}, err
	case schemas.OpCapture, schemas.OpVoid, schemas.OpRefund:
		if req.AuthorizationReference == "" {
			return call{}, fmt.Errorf("paymentPspReference: required for %s (the authorization's pspReference)", req.Operation)
		}
		m := ModificationRequest{MerchantAccount: merchantAccount, Reference: ref}
		endpoint := map[schemas.Operation]string{schemas.OpCapture: "captures", schemas.OpVoid: "cancels", schemas.OpRefund: "refunds"}[req.Operation]
		if req.Operation != schemas.OpVoid {
			if req.AmountMinor <= 0 {
				return call{}, fmt.Errorf("amount: Adyen needs the amount of a %s", strings.ToLower(string(req.Operation)))
			}
			if _, ok := schemas.CurrencyExponent(cur); !ok {
				return call{}, fmt.Errorf("amount.currency: %q is not an ISO 4217 code", req.Currency)
			}
			m.Amount = &Amount{Currency: cur, Value: req.AmountMinor}
		}
		b, err := json.Marshal(m)
		return call{path: "/payments/" + url.PathEscape(req.AuthorizationReference) + "/" + endpoint, body: b, modification: true}, err
	default:
		return call{}, fmt.Errorf("operation: %q is not supported", req.Operation)
	}
}
