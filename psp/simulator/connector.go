package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// Kind is the psp.Account kind of simulator accounts.
const Kind = "simulator"

func init() {
	psp.RegisterKind(Kind, func(name string, a psp.Account) (psp.Connector, error) {
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
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		client = &http.Client{Transport: tr}
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
		return failure(schemas.ClassInvalidRequest, "invalid_request", "encode request: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	// writes counts how often the request went out. Once it has, the PSP
	// may have processed it.
	var writes atomic.Int32
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				writes.Add(1)
			}
		},
	})
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.paymentURL, bytes.NewReader(body))
	if err != nil {
		return failure(schemas.ClassPSPError, "connection_error", err.Error())
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	// The key travels in the body only. An Idempotency-Key header would make
	// net/http treat the POST as replayable and silently re-send it on a
	// fresh connection after a written request broke; the re-send's answer
	// (say a 503) would then hide that the first one may have been processed.

	resp, err := c.client.Do(hreq)
	if err != nil {
		return transportFailure(err, writes.Load() > 0)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		// The PSP had the request and started answering: in doubt.
		return transportFailure(err, true)
	}
	out := classifyResponse(resp.StatusCode, resp.Header, raw)
	if writes.Load() > 1 && out.Outcome == schemas.OutcomeError {
		// Sent more than once (a transport-level re-send): an earlier copy
		// may have been processed, so only a definite result counts.
		out.Class = schemas.ClassInDoubt
		out.Message = "request was re-sent after a broken connection; last answer: " + out.Message
	}
	return out
}

// transportFailure classifies an error from the HTTP exchange: once the
// request was written the PSP may have processed it (in_doubt); before that
// nothing was sent (psp_error).
func transportFailure(err error, written bool) psp.Outcome {
	code := "connection_error"
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		code = "timeout"
	} else if errors.Is(err, context.Canceled) {
		code = "cancelled"
	}
	if written {
		return failure(schemas.ClassInDoubt, code, "no answer after the request was sent: "+err.Error())
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		code = "connection_refused"
	}
	return failure(schemas.ClassPSPError, code, "request not sent: "+err.Error())
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func failure(class schemas.Class, code, msg string) psp.Outcome {
	return psp.Outcome{Outcome: outcomeOf(class), Class: class, PSPCode: code, Message: msg}
}

// classifyResponse turns an HTTP answer to a payment request into an Outcome.
func classifyResponse(status int, header http.Header, raw []byte) psp.Outcome {
	if status == http.StatusOK || status == http.StatusPaymentRequired {
		var pr PaymentResponse
		if err := json.Unmarshal(raw, &pr); err != nil {
			return failure(schemas.ClassPSPError, "malformed_response", "PSP answer is not JSON: "+err.Error())
		}
		return classifyPayment(pr)
	}
	var er ErrorResponse
	_ = json.Unmarshal(raw, &er) // the status decides; the body only adds detail
	class := ClassifyHTTPStatus(status)
	code := er.Code
	if code == "" {
		code = "http_" + strconv.Itoa(status)
	}
	msg := er.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	out := failure(class, code, msg)
	if class == schemas.ClassRateLimited {
		out.RetryAfter = retryAfter(er.RetryAfterMs, header.Get("Retry-After"))
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
		out.Outcome = outcomeOf(class)
		if pr.AdviceCode != "" {
			out.Message = strings.TrimSpace(out.Message + " (merchant advice " + pr.AdviceCode + ")")
		}
		out.RetryAfter = time.Duration(pr.RetryAfterMs) * time.Millisecond
		if advised > out.RetryAfter {
			out.RetryAfter = advised
		}
		return out
	default:
		return failure(schemas.ClassPSPError, "malformed_response", fmt.Sprintf("PSP answer has unknown status %q", pr.Status))
	}
}

func retryAfter(ms int64, header string) time.Duration {
	if ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	if header == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(header, 10, 64); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(header); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
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
	resp, err := c.client.Do(hreq)
	if err != nil {
		return psp.StatusOutcome{}, fmt.Errorf("simulator status %s: %w", c.psp, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return psp.StatusOutcome{}, fmt.Errorf("simulator status %s: read: %w", c.psp, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var pr PaymentResponse
		if err := json.Unmarshal(raw, &pr); err != nil {
			return psp.StatusOutcome{}, fmt.Errorf("simulator status %s: malformed answer: %w", c.psp, err)
		}
		if pr.Status != StatusApproved && pr.Status != StatusDeclined {
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
		return psp.StatusOutcome{}, fmt.Errorf("simulator status %s: HTTP %d %s", c.psp, resp.StatusCode, er.Code)
	}
}
