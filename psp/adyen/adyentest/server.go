// Package adyentest is a local stand-in for Adyen's Checkout API (v71) for
// tests: an HTTP server that answers the requests payroute's Adyen
// connector sends with the request/response pairs of Adyen's public API
// reference.
//
//	POST /v71/payments                               200 PaymentResponse
//	POST /v71/payments/{paymentPspReference}/captures 201 {merchantAccount, paymentPspReference, pspReference, reference, status: "received", amount}
//	POST /v71/payments/{paymentPspReference}/cancels  201 {..., status: "received"}
//	POST /v71/payments/{paymentPspReference}/refunds  201 {..., status: "received", amount}
//
// Errors are Adyen's ServiceError, {"status", "errorCode", "message",
// "errorType"}: 401 errorCode 000 "HTTP Status Response - Unauthorized"
// (security) for a wrong X-API-Key, 403 errorCode 901 "Invalid Merchant
// Account" (security), 422 errorCode 167 "Original pspReference required
// for this operation" (validation) for an unknown payment, 422 errorCode 704
// "request already processed or in progress" with transient-error: true for
// a duplicate that arrives while the first request is being processed.
//
// Idempotency as Adyen documents it: a processed request's answer is stored
// under its Idempotency-Key and returned for every later request with that
// key; every answer echoes the Idempotency-Key header.
//
// Outcomes follow the stored payment method id (the token):
//
//	token                 answer
//	adyen_authorised, any Authorised
//	adyen_refused_<code>  Refused with refusalReasonCode <code> and its refusalReason
//	adyen_advice_<nn>     Refused "Refused" (2), merchantAdviceCode <nn>, refusalReasonRaw "05 : Do not honor"
//	adyen_raw_<nn>        Refused with only refusalReasonRaw "<nn> : ..." (no refusal reason)
//	adyen_redirect        RedirectShopper with a redirect action (3-D Secure)
//	adyen_pending         Pending
//	adyen_error           Error, "Acquirer Error" (4)
//	adyen_unavailable     503, not processed (not stored)
//	adyen_internal_error  500 errorType internal, not processed
//	adyen_rate_limited    429, not processed
//	adyen_unsupported     422 errorCode 905 "Payment details are not supported" (configuration)
package adyentest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tokens (stored payment method ids) and their prefixes.
const (
	TokenAuthorised    = "adyen_authorised"
	TokenRefusedPrefix = "adyen_refused_"
	TokenAdvicePrefix  = "adyen_advice_"
	TokenRawPrefix     = "adyen_raw_"
	TokenRedirect      = "adyen_redirect"
	TokenPending       = "adyen_pending"
	TokenError         = "adyen_error"
	TokenUnavailable   = "adyen_unavailable"
	TokenInternalError = "adyen_internal_error"
	TokenRateLimited   = "adyen_rate_limited"
	TokenUnsupported   = "adyen_unsupported"
)

// Refused is the token refused with refusalReasonCode code.
func Refused(code string) string { return TokenRefusedPrefix + code }

// Advice is the token refused with Mastercard merchant advice code nn.
func Advice(nn string) string { return TokenAdvicePrefix + nn }

// Raw is the token refused with only the raw issuer code nn.
func Raw(nn string) string { return TokenRawPrefix + nn }

// RefusalReasons are the texts of Adyen's refusalReasonCodes.
var RefusalReasons = map[string]string{
	"2": "Refused", "3": "Referral", "4": "Acquirer Error", "5": "Blocked Card", "6": "Expired Card",
	"7": "Invalid Amount", "8": "Invalid Card Number", "9": "Issuer Unavailable", "10": "Not supported",
	"11": "3D Not Authenticated", "12": "Not enough balance", "14": "Acquirer Fraud", "15": "Cancelled",
	"16": "Shopper Cancelled", "17": "Invalid Pin", "18": "Pin tries exceeded", "19": "Pin validation not possible",
	"20": "FRAUD", "21": "Not Submitted", "22": "FRAUD-CANCELLED", "23": "Transaction Not Permitted",
	"24": "CVC Declined", "25": "Restricted Card", "26": "Revocation Of Auth", "27": "Declined Non Generic",
	"28": "Withdrawal amount exceeded", "29": "Withdrawal count exceeded", "31": "Issuer Suspected Fraud",
	"32": "AVS Declined", "33": "Card requires online pin", "34": "No checking account available on Card",
	"35": "No savings account available on Card", "36": "Mobile pin required", "37": "Contactless fallback",
	"38": "Authentication required", "39": "RReq not received from DS", "40": "Current AID is in Penalty Box.",
	"41": "CVM Required Restart Payment", "42": "3DS Authentication Error",
	"46": "Transaction blocked by Adyen to prevent excessive retry fees",
}

// Config configures a Server.
type Config struct {
	APIKey          string
	MerchantAccount string
	// Delay is added to every answer.
	Delay time.Duration
}

// Server is the stand-in; safe for concurrent use.
type Server struct {
	cfg Config
	srv *httptest.Server

	mu        sync.Mutex
	seq       int
	stored    map[string]stored // by idempotency key
	inFlight  map[string]bool
	payments  map[string]*payment // by pspReference
	keys      map[string][]string // processed keys by reference (payment id)
	approvals map[string]int
	requests  int
	lastBody  []byte
}

type stored struct {
	status int
	body   []byte
}

type payment struct {
	reference string
	amount    amount
	captured  bool
	cancelled bool
}

type amount struct {
	Currency string `json:"currency"`
	Value    int64  `json:"value"`
}

// New starts a stand-in on loopback; it stops when the test ends.
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := &Server{cfg: cfg, stored: map[string]stored{}, inFlight: map[string]bool{}, payments: map[string]*payment{},
		keys: map[string][]string{}, approvals: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v71/payments", s.handle(s.payment))
	mux.HandleFunc("POST /v71/payments/{ref}/{modification}", s.handle(s.modification))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, serviceError(http.StatusNotFound, "000", "HTTP Status Response - Not Found", "validation"))
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL, with the API version, to give the connector.
func (s *Server) URL() string { return s.srv.URL + "/v71" }

// Keys lists the idempotency keys under which requests with the reference
// paymentID were processed, in arrival order.
func (s *Server) Keys(paymentID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys[paymentID]...)
}

// Approvals counts the Authorised /payments of paymentID.
func (s *Server) Approvals(paymentID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.approvals[paymentID]
}

// Requests counts the requests received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// LastBody is the body of the last request received.
func (s *Server) LastBody() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.lastBody...)
}

func serviceError(status int, code, message, typ string) map[string]any {
	return map[string]any{"status": status, "errorCode": code, "message": message, "errorType": typ}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// answer is one response; store says whether Adyen processed the request
// (so its answer is kept under the idempotency key).
type answer struct {
	status int
	body   any
	store  bool
	ref    string // the request's reference, for Keys
}

type handler func(r *http.Request, raw []byte) answer

// handle wraps an endpoint with authentication, the merchant account check
// and idempotency.
func (s *Server) handle(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests++
		s.lastBody = raw
		s.mu.Unlock()
		if s.cfg.Delay > 0 {
			time.Sleep(s.cfg.Delay)
		}
		key := r.Header.Get("Idempotency-Key")
		if key != "" {
			w.Header().Set("Idempotency-Key", key)
		}
		if r.Header.Get("X-API-Key") != s.cfg.APIKey {
			writeJSON(w, http.StatusUnauthorized, serviceError(http.StatusUnauthorized, "000", "HTTP Status Response - Unauthorized", "security"))
			return
		}
		if err != nil || !json.Valid(raw) {
			writeJSON(w, http.StatusBadRequest, serviceError(http.StatusBadRequest, "702", "Unexpected input: the request body is not JSON", "validation"))
			return
		}
		var head struct {
			MerchantAccount string `json:"merchantAccount"`
		}
		_ = json.Unmarshal(raw, &head)
		if head.MerchantAccount != s.cfg.MerchantAccount {
			writeJSON(w, http.StatusForbidden, serviceError(http.StatusForbidden, "901", "Invalid Merchant Account", "security"))
			return
		}
		if key != "" {
			s.mu.Lock()
			if st, ok := s.stored[key]; ok {
				s.mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(st.status)
				_, _ = w.Write(st.body)
				return
			}
			if s.inFlight[key] {
				s.mu.Unlock()
				w.Header().Set("transient-error", "true")
				writeJSON(w, http.StatusUnprocessableEntity, serviceError(http.StatusUnprocessableEntity, "704", "request already processed or in progress", "validation"))
				return
			}
			s.inFlight[key] = true
			s.mu.Unlock()
		}
		a := h(r, raw)
		body, _ := json.Marshal(a.body)
		s.mu.Lock()
		delete(s.inFlight, key)
		if key != "" && a.store {
			s.stored[key] = stored{status: a.status, body: body}
			if a.ref != "" {
				s.keys[a.ref] = append(s.keys[a.ref], key)
			}
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write(body)
	}
}

// nextReference is a pspReference: 16 characters like Adyen's, never a
// long digit run.
func (s *Server) nextReference() string {
	s.seq++
	return fmt.Sprintf("ADYPSP%09dX", s.seq)
}

var (
	refusedPattern = regexp.MustCompile(`^[0-9]{1,3}$`)
	twoDigits      = regexp.MustCompile(`^[0-9A-Z]{2}$`)
)

func (s *Server) payment(_ *http.Request, raw []byte) answer {
	var req struct {
		Amount        *amount `json:"amount"`
		Reference     string  `json:"reference"`
		PaymentMethod *struct {
			Type                  string `json:"type"`
			StoredPaymentMethodID string `json:"storedPaymentMethodId"`
		} `json:"paymentMethod"`
		AdditionalData    map[string]string `json:"additionalData"`
		CaptureDelayHours *int              `json:"captureDelayHours"`
	}
	_ = json.Unmarshal(raw, &req)
	switch {
	case req.Amount == nil || req.Amount.Value <= 0 || len(req.Amount.Currency) != 3:
		return answer{status: http.StatusUnprocessableEntity, body: serviceError(http.StatusUnprocessableEntity, "100", "There is no amount specified in the request.", "validation")}
	case req.Reference == "":
		return answer{status: http.StatusUnprocessableEntity, body: serviceError(http.StatusUnprocessableEntity, "130", "Required field 'reference' is not provided.", "validation")}
	case req.PaymentMethod == nil || req.PaymentMethod.Type == "":
		return answer{status: http.StatusUnprocessableEntity, body: serviceError(http.StatusUnprocessableEntity, "702", "Required field 'paymentMethod' is not provided.", "validation")}
	}
	token := req.PaymentMethod.StoredPaymentMethodID
	switch token {
	case TokenUnavailable:
		return answer{status: http.StatusServiceUnavailable, body: serviceError(http.StatusServiceUnavailable, "000", "Service temporarily unavailable", "internal")}
	case TokenInternalError:
		return answer{status: http.StatusInternalServerError, body: serviceError(http.StatusInternalServerError, "000", "An unexpected error occurred", "internal")}
	case TokenRateLimited:
		return answer{status: http.StatusTooManyRequests, body: serviceError(http.StatusTooManyRequests, "000", "Too many requests", "security")}
	case TokenUnsupported:
		return answer{status: http.StatusUnprocessableEntity, body: serviceError(http.StatusUnprocessableEntity, "905", "Payment details are not supported", "configuration")}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	psp := s.nextReference()
	resp := map[string]any{"pspReference": psp, "merchantReference": req.Reference, "amount": req.Amount}
	ok := answer{status: http.StatusOK, body: resp, store: true, ref: req.Reference}
	refuse := func(code, reason string, data map[string]string) answer {
		resp["resultCode"] = "Refused"
		if code != "" {
			resp["refusalReasonCode"] = code
		}
		if reason != "" {
			resp["refusalReason"] = reason
		}
		if data != nil {
			resp["additionalData"] = data
		}
		return ok
	}
	switch {
	case strings.HasPrefix(token, TokenRefusedPrefix) && refusedPattern.MatchString(strings.TrimPrefix(token, TokenRefusedPrefix)):
		code := strings.TrimPrefix(token, TokenRefusedPrefix)
		reason, known := RefusalReasons[code]
		if !known {
			reason = "Declined for a reason Adyen added later"
		}
		return refuse(code, reason, map[string]string{"refusalReasonRaw": "DECLINED " + reason})
	case strings.HasPrefix(token, TokenAdvicePrefix):
		return refuse("2", "Refused", map[string]string{"refusalReasonRaw": "05 : Do not honor",
			"merchantAdviceCode": strings.TrimPrefix(token, TokenAdvicePrefix) + " : merchant advice"})
	case strings.HasPrefix(token, TokenRawPrefix) && twoDigits.MatchString(strings.TrimPrefix(token, TokenRawPrefix)):
		return refuse("", "", map[string]string{"refusalReasonRaw": strings.TrimPrefix(token, TokenRawPrefix) + " : issuer declined"})
	case token == TokenRedirect:
		resp["resultCode"] = "RedirectShopper"
		resp["action"] = map[string]any{"paymentMethodType": "scheme", "type": "redirect", "method": "GET",
			"url": "https://checkoutshopper-test.adyen.com/checkoutshopper/threeDS/redirect"}
		return ok
	case token == TokenPending:
		resp["resultCode"] = "Pending"
		return ok
	case token == TokenError:
		resp["resultCode"] = "Error"
		resp["refusalReason"] = "Acquirer Error"
		resp["refusalReasonCode"] = "4"
		return ok
	}
	resp["resultCode"] = "Authorised"
	resp["additionalData"] = map[string]string{"authCode": "065696", "refusalReasonRaw": "AUTHORISED", "acquirerCode": "TestPmmAcquirer"}
	captured := req.CaptureDelayHours != nil && *req.CaptureDelayHours == 0 && req.AdditionalData["manualCapture"] != "true"
	s.payments[psp] = &payment{reference: req.Reference, amount: *req.Amount, captured: captured}
	s.approvals[req.Reference]++
	return ok
}

func (s *Server) modification(r *http.Request, raw []byte) answer {
	kind := r.PathValue("modification")
	if kind != "captures" && kind != "cancels" && kind != "refunds" {
		return answer{status: http.StatusNotFound, body: serviceError(http.StatusNotFound, "000", "HTTP Status Response - Not Found", "validation")}
	}
	var req struct {
		MerchantAccount string  `json:"merchantAccount"`
		Amount          *amount `json:"amount"`
		Reference       string  `json:"reference"`
	}
	_ = json.Unmarshal(raw, &req)
	ref := r.PathValue("ref")
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[ref]
	if p == nil {
		return answer{status: http.StatusUnprocessableEntity, body: serviceError(http.StatusUnprocessableEntity, "167", "Original pspReference required for this operation", "validation"), store: true, ref: req.Reference}
	}
	if kind != "cancels" && (req.Amount == nil || req.Amount.Value <= 0) {
		return answer{status: http.StatusUnprocessableEntity, body: serviceError(http.StatusUnprocessableEntity, "100", "There is no amount specified in the request.", "validation")}
	}
	// Modifications are asynchronous: "received" now, the result by webhook.
	switch kind {
	case "captures":
		p.captured = true
	case "cancels":
		p.cancelled = true
	}
	resp := map[string]any{"merchantAccount": req.MerchantAccount, "paymentPspReference": ref,
		"pspReference": s.nextReference(), "reference": req.Reference, "status": "received"}
	if req.Amount != nil {
		resp["amount"] = req.Amount
	}
	return answer{status: http.StatusCreated, body: resp, store: true, ref: p.reference}
}
