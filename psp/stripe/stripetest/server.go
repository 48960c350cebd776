package stripetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Stripe's documented test PaymentMethods, and payroute's own tokens for
// what test mode cannot produce.
const (
	TokenVisa                   = "pm_card_visa"
	TokenMastercard             = "pm_card_mastercard"
	TokenDeclined               = "pm_card_visa_chargeDeclined"                  // card_declined, generic_decline
	TokenInsufficientFunds      = "pm_card_visa_chargeDeclinedInsufficientFunds" // insufficient_funds
	TokenLostCard               = "pm_card_visa_chargeDeclinedLostCard"          // lost_card
	TokenStolenCard             = "pm_card_visa_chargeDeclinedStolenCard"        // stolen_card
	TokenExpiredCard            = "pm_card_chargeDeclinedExpiredCard"            // expired_card
	TokenIncorrectCVC           = "pm_card_chargeDeclinedIncorrectCvc"           // incorrect_cvc
	TokenProcessingError        = "pm_card_chargeDeclinedProcessingError"        // processing_error
	TokenFraudulent             = "pm_card_chargeDeclinedFraudulent"             // fraudulent
	TokenAuthenticationRequired = "pm_card_authenticationRequired"               // requires_action (3-D Secure)

	// TokenDeclinePrefix + "<decline_code>" declines with that decline_code.
	TokenDeclinePrefix = "pm_payroute_decline_"
	// TokenAdvicePrefix + "<nn>" declines generic_decline with issuer code
	// 05 and Mastercard network_advice_code <nn>.
	TokenAdvicePrefix = "pm_payroute_advice_"
	// TokenUnavailable is answered 503 by Stripe's edge: not executed, not stored.
	TokenUnavailable = "pm_payroute_unavailable"
	// TokenRateLimited is answered 429 rate_limit: not executed, not stored.
	TokenRateLimited = "pm_payroute_rate_limited"
	// TokenAPIError is answered 500 api_error after execution began (stored).
	TokenAPIError = "pm_payroute_api_error"
	// TokenProcessing leaves the intent processing; retrieving it later finds it succeeded.
	TokenProcessing = "pm_payroute_processing"
)

type testDecline struct {
	code, declineCode, message string
}

// testDeclines maps Stripe's decline test PaymentMethods to their errors.
var testDeclines = map[string]testDecline{
	TokenDeclined:          {"card_declined", "generic_decline", "Your card was declined."},
	TokenInsufficientFunds: {"card_declined", "insufficient_funds", "Your card has insufficient funds."},
	TokenLostCard:          {"card_declined", "lost_card", "Your card was declined."},
	TokenStolenCard:        {"card_declined", "stolen_card", "Your card was declined."},
	TokenExpiredCard:       {"expired_card", "expired_card", "Your card has expired."},
	TokenIncorrectCVC:      {"incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."},
	TokenProcessingError:   {"processing_error", "processing_error", "An error occurred while processing your card. Try again in a little bit."},
	TokenFraudulent:        {"card_declined", "fraudulent", "Your card was declined."},
}

// Decline is the token that declines with the given decline_code.
func Decline(declineCode string) string { return TokenDeclinePrefix + declineCode }

// Advice is the token that declines with a Mastercard merchant advice code.
func Advice(code string) string { return TokenAdvicePrefix + code }

var codePattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// Server is the stand-in; see the package doc. It is safe for concurrent use.
type Server struct {
	t      testing.TB
	mock   string
	srv    *httptest.Server
	client *http.Client

	mu       sync.Mutex
	stored   map[string]*storedAnswer // by idempotency key
	inFlight map[string]bool
	intents  map[string]*intent // by id
	keys     map[string][]string
	approved map[string]int
	requests int
}

type storedAnswer struct {
	params string
	path   string
	status int
	body   []byte
}

type intent struct {
	id            string
	paymentID     string
	status        string
	amount        int64
	currency      string
	captureMethod string
	token         string
	settles       bool // processing now, succeeded when retrieved
}

// New starts a stand-in in front of the stripe-mock at mockURL (see
// MockURL); it stops when the test ends.
func New(t testing.TB, mockURL string) *Server {
	t.Helper()
	s := &Server{
		t: t, mock: strings.TrimRight(mockURL, "/"),
		client:   &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()},
		stored:   map[string]*storedAnswer{},
		inFlight: map[string]bool{},
		intents:  map[string]*intent{},
		keys:     map[string][]string{},
		approved: map[string]int{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.Close()
		s.client.CloseIdleConnections()
	})
	return s
}

// URL is the base URL to give the connector.
func (s *Server) URL() string { return s.srv.URL }

// Keys lists the idempotency keys under which requests of paymentID were
// executed (not replays, not rejected requests), in arrival order.
func (s *Server) Keys(paymentID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys[paymentID]...)
}

// Approvals counts the PaymentIntents of paymentID that Stripe approved
// (authorized or captured) at creation.
func (s *Server) Approvals(paymentID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.approved[paymentID]
}

// Requests counts the requests the stand-in received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// answer is one response.
type answer struct {
	status int
	body   []byte
	store  bool // the endpoint started executing: stored under the key
}

func jsonAnswer(status int, v any, store bool) answer {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return answer{status: status, body: b, store: store}
}

func stripeError(status int, typ, code, message string, extra map[string]any, store bool) answer {
	e := map[string]any{"type": typ, "message": message}
	if code != "" {
		e["code"] = code
		e["doc_url"] = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(code, "_", "-")
	}
	for k, v := range extra {
		e[k] = v
	}
	return jsonAnswer(status, map[string]any{"error": e}, store)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	key := r.Header.Get("Idempotency-Key")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", fmt.Sprintf("req_payroute%d", time.Now().UnixNano()%1_000_000))
	if key != "" {
		w.Header().Set("Idempotency-Key", key)
	}
	if r.Method != http.MethodPost || key == "" {
		a := s.execute(r, raw)
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
		return
	}

	s.mu.Lock()
	if st, ok := s.stored[key]; ok {
		s.mu.Unlock()
		if st.params != string(raw) || st.path != r.URL.Path {
			a := stripeError(http.StatusBadRequest, "idempotency_error", "",
				fmt.Sprintf("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.", key), nil, false)
			w.WriteHeader(a.status)
			_, _ = w.Write(a.body)
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(st.status)
		_, _ = w.Write(st.body)
		return
	}
	if s.inFlight[key] {
		s.mu.Unlock()
		a := stripeError(http.StatusConflict, "invalid_request_error", "idempotency_key_in_use",
			fmt.Sprintf("There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): %s. Please try again later.", key), nil, false)
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
		return
	}
	s.inFlight[key] = true
	s.mu.Unlock()

	a := s.execute(r, raw)

	s.mu.Lock()
	delete(s.inFlight, key)
	if a.store {
		s.stored[key] = &storedAnswer{params: string(raw), path: r.URL.Path, status: a.status, body: a.body}
		if id := s.paymentOf(r.URL.Path, raw); id != "" {
			s.keys[id] = append(s.keys[id], key)
		}
	}
	s.mu.Unlock()
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// paymentOf finds the payment a request belongs to: its metadata, or the
// intent it names. s.mu must be held.
func (s *Server) paymentOf(path string, raw []byte) string {
	form, _ := url.ParseQuery(string(raw))
	if id := form.Get("metadata[payment_id]"); id != "" {
		return id
	}
	if id := form.Get("payment_intent"); id != "" {
		if in := s.intents[id]; in != nil {
			return in.paymentID
		}
	}
	if parts := strings.Split(strings.Trim(path, "/"), "/"); len(parts) >= 3 && parts[1] == "payment_intents" {
		if in := s.intents[parts[2]]; in != nil {
			return in.paymentID
		}
	}
	return ""
}

// forward sends the request to stripe-mock and returns its status and body.
func (s *Server) forward(r *http.Request, raw []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, s.mock+r.URL.RequestURI(), bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	for _, h := range []string{"Authorization", "Content-Type", "Stripe-Version", "Idempotency-Key", "Accept"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// execute answers one request: stripe-mock first, then the overlay.
func (s *Server) execute(r *http.Request, raw []byte) answer {
	form, _ := url.ParseQuery(string(raw))
	// Edge behaviour happens before Stripe looks at the request.
	switch form.Get("payment_method") {
	case TokenUnavailable:
		return stripeError(http.StatusServiceUnavailable, "api_error", "", "Stripe is temporarily unavailable. Please try again later.", nil, false)
	case TokenRateLimited:
		return stripeError(http.StatusTooManyRequests, "invalid_request_error", "rate_limit", "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.", nil, false)
	}
	status, body, err := s.forward(r, raw)
	if err != nil {
		return stripeError(http.StatusBadGateway, "api_error", "", "stripetest: stripe-mock unreachable: "+err.Error(), nil, false)
	}
	if status < 200 || status > 299 {
		// Validation errors, 401s: stripe-mock's answer stands, and is not stored.
		return answer{status: status, body: body}
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return stripeError(http.StatusBadGateway, "api_error", "", "stripetest: stripe-mock answered non-JSON", nil, false)
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/payment_intents":
		return s.create(form, obj)
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "payment_intents" && parts[3] == "capture":
		return s.capture(parts[2], form, obj)
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "payment_intents" && parts[3] == "cancel":
		return s.cancel(parts[2], obj)
	case r.Method == http.MethodGet && len(parts) == 3 && parts[1] == "payment_intents":
		return s.retrieve(parts[2], obj)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/refunds":
		return s.refund(form, obj)
	}
	return answer{status: status, body: body, store: true}
}

// intentObject patches stripe-mock's PaymentIntent fixture with the state.
func (s *Server) intentObject(obj map[string]any, in *intent) map[string]any {
	obj["id"] = in.id
	obj["object"] = "payment_intent"
	obj["status"] = in.status
	obj["amount"] = in.amount
	obj["currency"] = in.currency
	obj["capture_method"] = in.captureMethod
	obj["payment_method"] = in.token
	obj["livemode"] = false
	obj["last_payment_error"] = nil
	obj["next_action"] = nil
	obj["amount_capturable"] = 0
	obj["amount_received"] = 0
	obj["latest_charge"] = nil
	obj["metadata"] = map[string]any{"payment_id": in.paymentID}
	switch in.status {
	case "requires_capture":
		obj["amount_capturable"] = in.amount
		obj["latest_charge"] = "ch_" + strings.TrimPrefix(in.id, "pi_")
	case "succeeded":
		obj["amount_received"] = in.amount
		obj["latest_charge"] = "ch_" + strings.TrimPrefix(in.id, "pi_")
	case "requires_action":
		obj["next_action"] = map[string]any{"type": "use_stripe_sdk", "use_stripe_sdk": map[string]any{"type": "three_d_secure_redirect"}}
	case "canceled":
		obj["cancellation_reason"] = "requested_by_customer"
	}
	return obj
}

func (s *Server) create(form url.Values, obj map[string]any) answer {
	amount, _ := strconv.ParseInt(form.Get("amount"), 10, 64)
	id, _ := obj["id"].(string)
	token := form.Get("payment_method")
	in := &intent{
		id: id, paymentID: form.Get("metadata[payment_id]"), amount: amount,
		currency: form.Get("currency"), captureMethod: form.Get("capture_method"), token: token,
	}
	if in.captureMethod == "" {
		in.captureMethod = "automatic_async"
	}
	approvedStatus := "succeeded"
	if in.captureMethod == "manual" {
		approvedStatus = "requires_capture"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.intents[id]; dup || id == "" {
		in.id = fmt.Sprintf("pi_payroute%dx%d", len(s.intents), time.Now().UnixNano()%1_000_000)
	}
	s.intents[in.id] = in

	decline, declined := testDeclines[token]
	if code, ok := strings.CutPrefix(token, TokenDeclinePrefix); ok && codePattern.MatchString(code) {
		decline, declined = testDecline{"card_declined", code, "Your card was declined."}, true
	}
	switch {
	case token == TokenAPIError:
		in.status = "requires_payment_method"
		return stripeError(http.StatusInternalServerError, "api_error", "", "An unknown error occurred", nil, true)
	case token == TokenAuthenticationRequired:
		in.status = "requires_action"
		return jsonAnswer(http.StatusOK, s.intentObject(obj, in), true)
	case token == TokenProcessing:
		in.status, in.settles = "processing", true
		s.approved[in.paymentID]++
		return jsonAnswer(http.StatusOK, s.intentObject(obj, in), true)
	case declined:
		return s.declineAnswer(obj, in, map[string]any{"code": decline.code, "decline_code": decline.declineCode}, decline.message)
	case strings.HasPrefix(token, TokenAdvicePrefix):
		nn := strings.TrimPrefix(token, TokenAdvicePrefix)
		return s.declineAnswer(obj, in, map[string]any{"code": "card_declined", "decline_code": "generic_decline",
			"network_decline_code": "05", "network_advice_code": nn}, "Your card was declined.")
	}
	in.status = approvedStatus
	s.approved[in.paymentID]++
	return jsonAnswer(http.StatusOK, s.intentObject(obj, in), true)
}

// declineAnswer is Stripe's 402 for a declined confirmation: the error, and
// the intent back in requires_payment_method with the error as its
// last_payment_error.
func (s *Server) declineAnswer(obj map[string]any, in *intent, codes map[string]any, message string) answer {
	in.status = "requires_payment_method"
	lpe := map[string]any{"type": "card_error", "message": message}
	for k, v := range codes {
		lpe[k] = v
	}
	pi := s.intentObject(obj, in)
	pi["last_payment_error"] = lpe
	extra := map[string]any{"payment_intent": pi}
	for k, v := range codes {
		if k != "code" {
			extra[k] = v
		}
	}
	code, _ := codes["code"].(string)
	return stripeError(http.StatusPaymentRequired, "card_error", code, message, extra, true)
}

func (s *Server) missing(id, param string) answer {
	return stripeError(http.StatusNotFound, "invalid_request_error", "resource_missing",
		fmt.Sprintf("No such payment_intent: '%s'", id), map[string]any{"param": param}, true)
}

func (s *Server) capture(id string, form url.Values, obj map[string]any) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.intents[id]
	if in == nil {
		return s.missing(id, "intent")
	}
	if in.status != "requires_capture" {
		return stripeError(http.StatusBadRequest, "invalid_request_error", "payment_intent_unexpected_state",
			fmt.Sprintf("This PaymentIntent could not be captured because it has a status of %s. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.", in.status), nil, true)
	}
	if amt := form.Get("amount_to_capture"); amt != "" {
		if v, err := strconv.ParseInt(amt, 10, 64); err == nil && v > 0 && v < in.amount {
			in.amount = v
		}
	}
	in.status = "succeeded"
	return jsonAnswer(http.StatusOK, s.intentObject(obj, in), true)
}

func (s *Server) cancel(id string, obj map[string]any) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.intents[id]
	if in == nil {
		return s.missing(id, "intent")
	}
	switch in.status {
	case "requires_capture", "requires_payment_method", "requires_action", "requires_confirmation":
		in.status = "canceled"
		return jsonAnswer(http.StatusOK, s.intentObject(obj, in), true)
	}
	return stripeError(http.StatusBadRequest, "invalid_request_error", "payment_intent_unexpected_state",
		fmt.Sprintf("You cannot cancel this PaymentIntent because it has a status of %s. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.", in.status), nil, true)
}

func (s *Server) retrieve(id string, obj map[string]any) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.intents[id]
	if in == nil {
		return s.missing(id, "intent")
	}
	if in.settles && in.status == "processing" {
		in.status = "succeeded"
		if in.captureMethod == "manual" {
			in.status = "requires_capture"
		}
	}
	return jsonAnswer(http.StatusOK, s.intentObject(obj, in), false)
}

func (s *Server) refund(form url.Values, obj map[string]any) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := form.Get("payment_intent")
	in := s.intents[id]
	if in == nil {
		return s.missing(id, "payment_intent")
	}
	if in.status != "succeeded" {
		return stripeError(http.StatusBadRequest, "invalid_request_error", "payment_intent_unexpected_state",
			fmt.Sprintf("This PaymentIntent (%s) does not have a successful charge to refund.", id), nil, true)
	}
	amount := in.amount
	if v, err := strconv.ParseInt(form.Get("amount"), 10, 64); err == nil && v > 0 {
		amount = v
	}
	obj["object"] = "refund"
	obj["payment_intent"] = in.id
	obj["amount"] = amount
	obj["currency"] = in.currency
	obj["status"] = "succeeded"
	obj["charge"] = "ch_" + strings.TrimPrefix(in.id, "pi_")
	obj["metadata"] = map[string]any{"payment_id": in.paymentID}
	return jsonAnswer(http.StatusOK, obj, true)
}
