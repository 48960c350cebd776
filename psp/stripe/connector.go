package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// Kind is the psp.Account kind of Stripe accounts.
const Kind = "stripe"

// DefaultEndpoint is Stripe's API.
const DefaultEndpoint = "https://api.stripe.com"

// APIVersion is the Stripe-Version every request pins, so that a change of
// the account's default version in Stripe's dashboard cannot change the
// answers this connector parses. It is the version of the OpenAPI
// specification stripe-mock v0.203.0 serves, against which the connector is
// tested.
const APIVersion = "2026-08-26.dahlia"

func init() {
	psp.RegisterKind(Kind, func(name string, a psp.Account, log *slog.Logger) (psp.Connector, error) {
		key, err := a.ReadAPIKey()
		if err != nil {
			return nil, err
		}
		return New(Config{Account: name, BaseURL: a.Endpoint, APIKey: key, Timeout: a.EffectiveTimeout(), Log: log})
	})
}

// Config configures a Connector.
type Config struct {
	// Account names the account in logs.
	Account string
	// BaseURL is Stripe's API; empty means DefaultEndpoint.
	BaseURL string
	// APIKey is the secret key (sk_...) or a restricted key (rk_...).
	APIKey psp.Secret
	// Timeout bounds one request; zero means psp.DefaultTimeout.
	Timeout time.Duration
	// HTTPClient is optional; the default is psp.NewHTTPClient().
	HTTPClient *http.Client
	// Log receives a debug line per request and a warning when Stripe
	// refuses the key; nil means slog.Default().
	Log *slog.Logger
}

// Connector implements psp.Connector on Stripe's PaymentIntents API. It is
// safe for concurrent use.
type Connector struct {
	account string
	base    string
	key     psp.Secret
	timeout time.Duration
	client  *http.Client
	log     *slog.Logger
}

var _ psp.Connector = (*Connector)(nil)

// New builds a connector. It fails without an API key or with a base URL
// that is not http(s).
func New(cfg Config) (*Connector, error) {
	base := cfg.BaseURL
	if base == "" {
		base = DefaultEndpoint
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("stripe connector: endpoint %q must be an http(s) URL", base)
	}
	if cfg.APIKey.IsZero() {
		return nil, errors.New("stripe connector: an API key is required")
	}
	c := &Connector{
		account: cfg.Account, base: strings.TrimRight(base, "/"), key: cfg.APIKey,
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

// Attempt sends one operation and classifies Stripe's answer. It never
// returns a Go error: every failure is an Outcome with a Class.
func (c *Connector) Attempt(ctx context.Context, req psp.Request) psp.Outcome {
	start := time.Now()
	out, sends := c.attempt(ctx, req)
	out.Latency = time.Since(start)
	c.logOutcome("attempt", req, out, sends)
	return out
}

func (c *Connector) attempt(ctx context.Context, req psp.Request) (psp.Outcome, int) {
	cl, err := buildCall(req)
	if err != nil {
		return psp.Failure(schemas.ClassInvalidRequest, "invalid_request", err.Error()), 0
	}
	reply, err := c.send(ctx, cl.method, cl.path, cl.body(), req.IdempotencyKey)
	if err != nil {
		out := psp.SendFailure(err)
		out.Message = c.key.Redact(out.Message)
		return out, 0
	}
	out := c.classify(req, cl.object, reply)
	return reply.InDoubtIfResent(out), reply.Sends
}

// classify turns a complete answer into an Outcome.
func (c *Connector) classify(req psp.Request, obj object, reply *psp.Reply) psp.Outcome {
	network := req.PaymentMethod.Network
	if reply.Status >= 200 && reply.Status < 300 {
		var out psp.Outcome
		switch obj {
		case refundObject:
			var rf refund
			if err := json.Unmarshal(reply.Body, &rf); err != nil || rf.ID == "" || rf.Status == "" {
				return malformed(err)
			}
			out = classifyRefund(&rf)
		default:
			var pi paymentIntent
			if err := json.Unmarshal(reply.Body, &pi); err != nil || pi.ID == "" || pi.Status == "" {
				return malformed(err)
			}
			out = classifyIntent(req.Operation, &pi, network)
		}
		out.Message = c.key.Redact(out.Message)
		return out
	}
	var env errorEnvelope
	var e *apiError
	if json.Unmarshal(reply.Body, &env) == nil && env.Error != nil {
		e = env.Error
	}
	out := classifyError(reply.Status, reply.Header, e, network)
	if e != nil && e.PaymentIntent != nil {
		out.Reference = e.PaymentIntent.ID
	}
	out.Message = c.key.Redact(out.Message)
	if reply.Status == http.StatusUnauthorized || reply.Status == http.StatusForbidden {
		c.log.Warn("stripe refused the account's API key", "account", c.account, "status", reply.Status, "message", out.Message)
	}
	return out
}

// malformed is the Outcome of a 2xx answer that is not the expected object:
// the PSP's fault, and nothing in it says the operation happened.
func malformed(err error) psp.Outcome {
	msg := "Stripe's answer is not the expected object"
	if err != nil {
		msg += ": " + err.Error()
	}
	return psp.Failure(schemas.ClassPSPError, "malformed_response", msg)
}

// send makes one request to Stripe with the account's key, the pinned API
// version and, for a POST, the idempotency key.
func (c *Connector) send(ctx context.Context, method, path, body, idempotencyKey string) (*psp.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, &psp.TransportError{Err: err}
	}
	hreq.Header.Set("Authorization", "Bearer "+c.key.Reveal())
	hreq.Header.Set("Stripe-Version", APIVersion)
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "payroute")
	if method == http.MethodPost {
		hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if idempotencyKey != "" {
			hreq.Header.Set("Idempotency-Key", idempotencyKey)
		}
	}
	return psp.Send(c.client, hreq)
}

// Status learns what became of the request with req.IdempotencyKey by
// sending it again under that key (see the package doc): Found is always
// true when Stripe gives a definitive answer, and an error means the
// attempt is still in doubt. A PaymentIntent still processing is retrieved
// by id for its current state.
func (c *Connector) Status(ctx context.Context, req psp.Request) (psp.StatusOutcome, error) {
	if req.IdempotencyKey == "" {
		return psp.StatusOutcome{}, errors.New("stripe status: idempotency key required")
	}
	start := time.Now()
	cl, err := buildCall(req)
	if err != nil {
		return psp.StatusOutcome{}, fmt.Errorf("stripe status: the request was never sendable: %w", err)
	}
	reply, err := c.send(ctx, cl.method, cl.path, cl.body(), req.IdempotencyKey)
	if err != nil {
		return psp.StatusOutcome{}, fmt.Errorf("stripe status %s: %s", c.account, c.key.Redact(err.Error()))
	}
	out := reply.InDoubtIfResent(c.classify(req, cl.object, reply))
	if out.Class == schemas.ClassInDoubt && out.PSPCode == "processing" && out.Reference != "" {
		out = c.retrieve(ctx, req, out.Reference)
	}
	out.Latency = time.Since(start)
	c.logOutcome("status", req, out, reply.Sends)
	st, err := psp.ReplayStatus(out)
	if err != nil {
		return st, fmt.Errorf("stripe status %s: %w", c.account, err)
	}
	return st, nil
}

// retrieve reads a PaymentIntent's current state.
func (c *Connector) retrieve(ctx context.Context, req psp.Request, id string) psp.Outcome {
	reply, err := c.send(ctx, http.MethodGet, "/v1/payment_intents/"+url.PathEscape(id), "", "")
	if err != nil {
		out := psp.SendFailure(err)
		out.Class, out.Outcome = schemas.ClassInDoubt, schemas.OutcomeError
		out.Message = c.key.Redact(out.Message)
		return out
	}
	out := c.classify(req, intentObject, reply)
	if out.Outcome == schemas.OutcomeError && out.Class != schemas.ClassInDoubt {
		// A failed lookup says nothing about the payment.
		out.Class = schemas.ClassInDoubt
	}
	return out
}

func (c *Connector) logOutcome(what string, req psp.Request, out psp.Outcome, sends int) {
	if !c.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	c.log.Debug("stripe "+what, "account", c.account, "operation", req.Operation, "payment_id", req.PaymentID,
		"idempotency_key", req.IdempotencyKey, "outcome", out.Outcome, "class", out.Class, "code", out.PSPCode,
		"reference", out.Reference, "sends", sends, "latency", out.Latency, "message", out.Message)
}
