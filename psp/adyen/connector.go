package adyen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// Kind is the psp.Account kind of Adyen accounts.
const Kind = "adyen"

// DefaultEndpoint is Adyen's test Checkout API, version 71. Live accounts
// have a company-specific URL and must set endpoint.
const DefaultEndpoint = "https://checkout-test.adyen.com/v71"

func init() {
	psp.RegisterKind(Kind, func(name string, a psp.Account, log *slog.Logger) (psp.Connector, error) {
		if a.MerchantAccount == "" {
			return nil, errors.New("merchant_account: required for kind adyen (the Adyen merchant account every request names)")
		}
		key, err := a.ReadAPIKey()
		if err != nil {
			return nil, err
		}
		return New(Config{Account: name, BaseURL: a.Endpoint, MerchantAccount: a.MerchantAccount, APIKey: key,
			Timeout: a.EffectiveTimeout(), Log: log})
	})
}

// Config configures a Connector.
type Config struct {
	// Account names the account in logs.
	Account string
	// BaseURL is the Checkout API including its version; empty means
	// DefaultEndpoint.
	BaseURL string
	// MerchantAccount is the Adyen merchant account.
	MerchantAccount string
	// APIKey is the web service user's API key (X-API-Key).
	APIKey psp.Secret
	// Timeout bounds one request; zero means psp.DefaultTimeout.
	Timeout time.Duration
	// HTTPClient is optional; the default is psp.NewHTTPClient().
	HTTPClient *http.Client
	// Log receives a debug line per request and a warning when Adyen
	// refuses the key; nil means slog.Default().
	Log *slog.Logger
}

// Connector implements psp.Connector on Adyen's Checkout API. It is safe
// for concurrent use.
type Connector struct {
	account  string
	base     string
	merchant string
	key      psp.Secret
	timeout  time.Duration
	client   *http.Client
	log      *slog.Logger
}

var _ psp.Connector = (*Connector)(nil)

// New builds a connector. It fails without an API key or a merchant
// account, or with a base URL that is not http(s).
func New(cfg Config) (*Connector, error) {
	base := cfg.BaseURL
	if base == "" {
		base = DefaultEndpoint
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("adyen connector: endpoint %q must be an http(s) URL", base)
	}
	if cfg.APIKey.IsZero() {
		return nil, errors.New("adyen connector: an API key is required")
	}
	if cfg.MerchantAccount == "" {
		return nil, errors.New("adyen connector: a merchant account is required")
	}
	c := &Connector{
		account: cfg.Account, base: strings.TrimRight(base, "/"), merchant: cfg.MerchantAccount, key: cfg.APIKey,
		timeout: cfg.Timeout, client: cfg.HTTPClient, log: cfg.Log,
	}
	if c.timeout <= 0 {
		c.timeout = psp.DefaultTimeout
	}
	if c.client == nil {
		c.client = psp.NewHTTPClient()
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}

// Attempt sends one operation and classifies Adyen's answer. It never
// returns a Go error: every failure is an Outcome with a Class.
func (c *Connector) Attempt(ctx context.Context, req psp.Request) psp.Outcome {
	start := time.Now()
	out, sends := c.attempt(ctx, req)
	out.Latency = time.Since(start)
	c.logOutcome("attempt", req, out, sends)
	return out
}

func (c *Connector) attempt(ctx context.Context, req psp.Request) (psp.Outcome, int) {
	cl, err := buildCall(req, c.merchant)
	if err != nil {
		return psp.Failure(schemas.ClassInvalidRequest, "invalid_request", err.Error()), 0
	}
	reply, err := c.send(ctx, cl, req.IdempotencyKey)
	if err != nil {
		out := psp.SendFailure(err)
		out.Message = c.key.Redact(out.Message)
		return out, 0
	}
	return reply.InDoubtIfResent(c.classify(req, cl, reply)), reply.Sends
}

// classify turns a complete answer into an Outcome.
func (c *Connector) classify(req psp.Request, cl call, reply *psp.Reply) psp.Outcome {
	var out psp.Outcome
	switch {
	case reply.Status == http.StatusOK && !cl.modification:
		var p paymentResponse
		if err := json.Unmarshal(reply.Body, &p); err != nil || p.ResultCode == "" {
			out = malformed(err)
			break
		}
		out = classifyPayment(&p, req.PaymentMethod.Network)
	case (reply.Status == http.StatusCreated || reply.Status == http.StatusOK) && cl.modification:
		var m modificationResponse
		if err := json.Unmarshal(reply.Body, &m); err != nil || m.Status == "" {
			out = malformed(err)
			break
		}
		out = classifyModification(&m)
	default:
		var e serviceError
		var ep *serviceError
		if json.Unmarshal(reply.Body, &e) == nil && (e.ErrorCode != "" || e.ErrorType != "" || e.Message != "") {
			ep = &e
		}
		out = classifyError(reply.Status, reply.Header, ep)
		if reply.Status == http.StatusUnauthorized || reply.Status == http.StatusForbidden {
			c.log.Warn("adyen refused the account's API key", "account", c.account, "status", reply.Status,
				"code", out.PSPCode, "message", c.key.Redact(out.Message))
		}
	}
	out.Message = c.key.Redact(out.Message)
	out.PSPCode = c.key.Redact(out.PSPCode)
	return out
}

// malformed is the Outcome of a success answer that is not the expected
// object: the PSP's fault, and nothing in it says the operation happened.
func malformed(err error) psp.Outcome {
	msg := "Adyen's answer is not the expected object"
	if err != nil {
		msg += ": " + err.Error()
	}
	return psp.Failure(schemas.ClassPSPError, "malformed_response", msg)
}

// send makes one request with the account's key and the idempotency key.
func (c *Connector) send(ctx context.Context, cl call, idempotencyKey string) (*psp.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+cl.path, bytes.NewReader(cl.body))
	if err != nil {
		return nil, &psp.TransportError{Err: err}
	}
	hreq.Header.Set("X-API-Key", c.key.Reveal())
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "payroute")
	if idempotencyKey != "" {
		hreq.Header.Set("Idempotency-Key", idempotencyKey)
	}
	return psp.Send(c.client, hreq)
}

// Status learns what became of the request with req.IdempotencyKey by
// sending it again under that key (see the package doc and
// psp.ReplayStatus): Found is true when Adyen gives a definitive answer; an
// error (Pending, Received, 704 in progress, 5xx, no answer) means the
// attempt is still in doubt.
func (c *Connector) Status(ctx context.Context, req psp.Request) (psp.StatusOutcome, error) {
	if req.IdempotencyKey == "" {
		return psp.StatusOutcome{}, errors.New("adyen status: idempotency key required")
	}
	start := time.Now()
	cl, err := buildCall(req, c.merchant)
	if err != nil {
		return psp.StatusOutcome{}, fmt.Errorf("adyen status: the request was never sendable: %w", err)
	}
	reply, err := c.send(ctx, cl, req.IdempotencyKey)
	if err != nil {
		return psp.StatusOutcome{}, fmt.Errorf("adyen status %s: %s", c.account, c.key.Redact(err.Error()))
	}
	out := reply.InDoubtIfResent(c.classify(req, cl, reply))
	out.Latency = time.Since(start)
	c.logOutcome("status", req, out, reply.Sends)
	st, err := psp.ReplayStatus(out)
	if err != nil {
		return st, fmt.Errorf("adyen status %s: %w", c.account, err)
	}
	return st, nil
}

func (c *Connector) logOutcome(what string, req psp.Request, out psp.Outcome, sends int) {
	if !c.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	c.log.Debug("adyen "+what, "account", c.account, "operation", req.Operation, "payment_id", req.PaymentID,
		"idempotency_key", req.IdempotencyKey, "outcome", out.Outcome, "class", out.Class, "code", out.PSPCode,
		"reference", out.Reference, "sends", sends, "latency", out.Latency, "message", out.Message)
}
