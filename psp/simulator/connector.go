package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// Kind is the psp.Account kind of simulator accounts.
const Kind = "simulator"

func init() {
	psp.RegisterKind(Kind, func(name string, a psp.Account, _ *slog.Logger) (psp.Connector, error) {
		if a.Endpoint == "" {
			return nil, errors.New("endpoint: required for kind simulator (e.g. " + psp.DefaultSimulatorEndpoint + ")")
		}
		return NewConnector(ConnectorConfig{BaseURL: a.Endpoint, PSP: name, Timeout: a.EffectiveTimeout()})
	})
}

// ConnectorConfig configures a Connector.
type ConnectorConfig struct {
	// BaseURL is the simulator's URL, e.g. "http://127.0.0.1:8090".
	BaseURL string
	// PSP is the simulated PSP's name (the {psp} path segment).
	PSP string
	// Timeout bounds one attempt or status inquiry; zero means psp.DefaultTimeout.
	Timeout time.Duration
	// HTTPClient is optional; the default has its own transport and no
	// client-level timeout (Timeout is applied per request).
	HTTPClient *http.Client
}

// Connector implements psp.Connector against one simulated PSP over HTTP.
type Connector struct {
	psp        string
	paymentURL string
	statusURL  string
	timeout    time.Duration
	client     *http.Client
}

var _ psp.Connector = (*Connector)(nil)

// NewConnector builds a connector.
func NewConnector(cfg ConnectorConfig) (*Connector, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("simulator connector: base URL %q must be an http(s) URL", cfg.BaseURL)
	}
	if err := psp.CheckName(cfg.PSP); err != nil {
		return nil, fmt.Errorf("simulator connector: psp: %w", err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = psp.DefaultTimeout
	}
	client := cfg.HTTPClient
	if client == nil {
		client = newHTTPClient()
	}
	base := strings.TrimRight(cfg.BaseURL, "/") + "/v1/" + url.PathEscape(cfg.PSP) + "/payments"
	return &Connector{psp: cfg.PSP, paymentURL: base, statusURL: base + "/", timeout: timeout, client: client}, nil
}

// PSP is the simulated PSP's name.
func (c *Connector) PSP() string { return c.psp }

// Attempt sends one operation and classifies the answer. It never returns a
// Go error: every failure is an Outcome with a Class.
func (c *Connector) Attempt(ctx context.Context, req psp.Request) psp.Outcome {
	start := time.Now()
	out := c.attempt(ctx, req)
	out.Latency = time.Since(start)
	return out
}

func (c *Connector) attempt(ctx context.Context, req psp.Request) psp.Outcome {
	body, err := json.Marshal(PaymentRequest{
		IdempotencyKey:         req.IdempotencyKey,
		PaymentID:              req.PaymentID,
		MerchantID:             req.MerchantID,
		Operation:              req.Operation,
		AmountMinor:            req.AmountMinor,
		Currency:               req.Currency,
		Method:                 req.Method,
		Token:                  req.PaymentMethod.Token,
		BIN:                    req.PaymentMethod.BIN,
		Last4:                  req.PaymentMethod.Last4,
		Network:                req.PaymentMethod.Network,
		AuthorizationReference: req.AuthorizationReference,
	})
	if err != nil {
		return psp.Failure(schemas.ClassInvalidRequest, "invalid_request", "encode request: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.paymentURL, bytes.NewReader(body))
	if err != nil {
		return psp.Failure(schemas.ClassPSPError, "connection_error", err.Error())
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	// The key travels in the body only. An Idempotency-Key header would make
	// net/http treat the POST as replayable and re-send it on its own after
	// a written request broke on a reused connection; psp.Send counts such
	// re-sends and Reply.InDoubtIfResent guards against them, but without
	// the header they cannot happen at all: a broken written request is
	// simply in_doubt, and the status inquiry finds what became of it.
	reply, err := psp.Send(c.client, hreq)
	if err != nil {
		return psp.SendFailure(err)
	}
	return reply.InDoubtIfResent(classifyResponse(reply.Status, reply.Header, reply.Body))
}

// classifyResponse turns an HTTP answer to a payment request into an Outcome.
func classifyResponse(status int, header http.Header, raw []byte) psp.Outcome {
	if status == http.StatusOK || status == http.StatusPaymentRequired {
		var pr PaymentResponse
		if err := json.Unmarshal(raw, &pr); err != nil {
			return psp.Failure(schemas.ClassPSPError, "malformed_response", "PSP answer is not JSON: "+err.Error())
		}
		return classifyPayment(pr)
	}
	var er ErrorResponse
	_ = json.Unmarshal(raw, &er) // the status decides; the body only adds detail
	class := ClassifyHTTPStatus(status)
	if er.Code == CodeKeyClosed {
		// Refused because an inquiry already promised the key is never
		// processed: nothing happened, so the payment may move on.
		class = schemas.ClassPSPError
	}
	code := er.Code
	if code == "" {
		code = "http_" + strconv.Itoa(status)
	}
	msg := er.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	out := psp.Failure(class, code, msg)
	if class == schemas.ClassRateLimited {
		out.RetryAfter = time.Duration(er.RetryAfterMs) * time.Millisecond
		if out.RetryAfter <= 0 {
			out.RetryAfter = psp.ParseRetryAfter(header.Get("Retry-After"))
		}
	}
	return out
}

// classifyPayment classifies a parsed 200/402 body (also a status answer).
func classifyPayment(pr PaymentResponse) psp.Outcome {
	out := psp.Outcome{
		PSPCode:    pr.Code,
		IssuerCode: pr.IssuerCode,
		Message:    pr.Message,
		Reference:  pr.Reference,
	}
	switch pr.Status {
	case StatusApproved:
		out.Outcome = schemas.OutcomeApproved
		return out
	case StatusDeclined:
		class, advised := ClassifyDecline(pr.Code, pr.IssuerCode, pr.AdviceCode)
		out.Class = class
		out.Outcome = psp.OutcomeOf(class)
		if pr.AdviceCode != "" {
			out.Message = strings.TrimSpace(out.Message + " (merchant advice " + pr.AdviceCode + ")")
		}
		out.RetryAfter = time.Duration(pr.RetryAfterMs) * time.Millisecond
		if advised > out.RetryAfter {
			out.RetryAfter = advised
		}
		return out
	case StatusRequiresAction:
		// The customer must authenticate first: the merchant sends them to
		// ActionURL, then RETRY attempts this PSP again.
		out.Outcome, out.Class, out.Pending, out.ActionURL = schemas.OutcomeDeclined, schemas.ClassCustomerError, true, pr.ActionURL
		return out
	default:
		return psp.Failure(schemas.ClassPSPError, "malformed_response", fmt.Sprintf("PSP answer has unknown status %q", pr.Status))
	}
}

// Status asks the simulator what became of req.IdempotencyKey. A 404
// not_found is Found false (never processed: safe to fail over); a 200 is
// Found with the classified stored outcome; anything else is an error (still
// in doubt).
func (c *Connector) Status(ctx context.Context, req psp.Request) (psp.StatusOutcome, error) {
	if req.IdempotencyKey == "" {
		return psp.StatusOutcome{}, errors.New("simulator status: idempotency key required")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, c.statusURL+url.PathEscape(req.IdempotencyKey), nil)
	if err != nil {
		return psp.StatusOutcome{}, fmt.Errorf("simulator status: %w", err)
	}
	hreq.Header.Set("Accept", "application/json")
	reply, err := psp.Send(c.client, hreq)
	if err != nil {
		return psp.StatusOutcome{}, fmt.Errorf("simulator status %s: %w", c.psp, err)
	}
	raw := reply.Body
	switch reply.Status {
	case http.StatusOK:
		var pr PaymentResponse
		if err := json.Unmarshal(raw, &pr); err != nil {
			return psp.StatusOutcome{}, fmt.Errorf("simulator status %s: malformed answer: %w", c.psp, err)
		}
		if pr.Status != StatusApproved && pr.Status != StatusDeclined && pr.Status != StatusRequiresAction {
			return psp.StatusOutcome{}, fmt.Errorf("simulator status %s: unknown status %q", c.psp, pr.Status)
		}
		out := classifyPayment(pr)
		out.Latency = time.Since(start)
		return psp.StatusOutcome{Found: true, Outcome: out}, nil
	case http.StatusNotFound:
		var er ErrorResponse
		if json.Unmarshal(raw, &er) == nil && er.Code == "not_found" {
			return psp.StatusOutcome{Found: false}, nil
		}
		return psp.StatusOutcome{}, fmt.Errorf("simulator status %s: 404 %s", c.psp, er.Code)
	default:
		var er ErrorResponse
		_ = json.Unmarshal(raw, &er)
		return psp.StatusOutcome{}, fmt.Errorf("simulator status %s: HTTP %d %s", c.psp, reply.Status, er.Code)
	}
}

// maxIdleConns is how many idle connections a connector keeps to its
// simulator: at least as many as calls can be in flight to one PSP
// (processor max_in_flight_per_psp, 500 by default, and benchmarks run
// 1,000).
const maxIdleConns = 1024

// newHTTPClient is psp.NewHTTPClient keeping an idle connection for every
// call that can be in flight. With fewer (psp.NewHTTPClient keeps 64, and
// net/http 100 across hosts), every burst of calls beyond the limit closes
// its connections afterwards and dials new ones next time: in `payroute
// bench` with 1,000 calls in flight, dialing and closing loopback
// connections took a quarter of the CPU, and the closed ones piled up in
// TIME_WAIT.
func newHTTPClient() *http.Client {
	c := psp.NewHTTPClient()
	if tr, ok := c.Transport.(*http.Transport); ok {
		tr.MaxIdleConns = 0 // no limit across hosts; the per-host limit applies
		tr.MaxIdleConnsPerHost = maxIdleConns
	}
	return c
}
