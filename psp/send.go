package psp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/payroute/payroute/schemas"
)

// MaxReplyBytes bounds how much of a PSP's answer Send reads. PSP answers
// are a few kilobytes; a larger one is cut and fails to parse (psp_error).
const MaxReplyBytes = 1 << 20

// MaxIdleConnsPerPSP is how many idle connections a connector keeps to its
// PSP's host.
const MaxIdleConnsPerPSP = 1024

// NewHTTPClient is the HTTP client connectors use by default: its own
// transport (so no other package's settings or connection pool leak in),
// keep-alive with an idle connection kept for every call the processor may
// have in flight at one PSP (processor.max_in_flight_per_psp defaults to
// 500; fewer means a burst dials, and for a real PSP handshakes TLS, again),
// and no client-level timeout: connectors bound each request with a context
// deadline, whose expiry after the request was written is what makes an
// attempt in_doubt.
func NewHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = MaxIdleConnsPerPSP * 4
	tr.MaxIdleConnsPerHost = MaxIdleConnsPerPSP
	return &http.Client{Transport: tr}
}

// Reply is a PSP's complete answer to one HTTP request made with Send.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
	// Sends counts how often the request was written to the network. It is
	// more than one when net/http re-sent it on its own: the transport
	// re-sends a request it considers replayable (GET, or any method with
	// an Idempotency-Key or X-Idempotency-Key header, as Stripe's and
	// Adyen's connectors send) when a reused keep-alive connection broke
	// after the request was written but before an answer arrived. The PSP
	// may then have processed the first copy, and the answer read here is
	// the second copy's: see InDoubtIfResent.
	Sends int
}

// InDoubtIfResent guards an outcome classified from r against a silent
// re-send: when the request went out more than once, the answer read is
// the second copy's (see InDoubtWhenResent).
func (r *Reply) InDoubtIfResent(out Outcome) Outcome {
	if r == nil || r.Sends <= 1 {
		return out
	}
	return InDoubtWhenResent(out, "request was re-sent after a broken connection")
}

// InDoubtWhenResent is the outcome of a request sent before, under the same
// idempotency key, with no answer seen (why says how it came to be sent
// again). A definitive answer (approved or declined) stands: a PSP that
// honours the key answers the second copy with the first one's stored
// result. One that is not (an ERROR outcome, say a 503 from a load balancer
// or a 409 "request in progress") says nothing of the first copy, which
// may have been processed: the attempt is in_doubt, confirmed by a status
// inquiry, rather than a failure that fails over.
func InDoubtWhenResent(out Outcome, why string) Outcome {
	if out.Outcome != schemas.OutcomeError || out.Class == schemas.ClassInDoubt {
		return out
	}
	out.Class = schemas.ClassInDoubt
	out.Message = why + "; last answer: " + out.Message
	return out
}

// TransportError is a failure of the HTTP exchange itself: no complete answer
// was read. Sent tells whether the request had been written to the network,
// which decides the class (Outcome).
type TransportError struct {
	Err  error
	Sent bool
}

func (e *TransportError) Error() string {
	if e.Sent {
		return "no answer after the request was sent: " + e.Err.Error()
	}
	return "request not sent: " + e.Err.Error()
}

func (e *TransportError) Unwrap() error { return e.Err }

// Outcome classifies the failure: once the request was written the PSP may
// have processed it, so it is in_doubt (never failed over blind); before
// that (connection refused, DNS, dial timeout) nothing was sent and it is
// psp_error. PSPCode says which: timeout, cancelled, connection_refused or
// connection_error.
func (e *TransportError) Outcome() Outcome {
	code := "connection_error"
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded) || isTimeout(e.Err):
		code = "timeout"
	case errors.Is(e.Err, context.Canceled):
		code = "cancelled"
	case !e.Sent && errors.Is(e.Err, syscall.ECONNREFUSED):
		code = "connection_refused"
	}
	if e.Sent {
		return Failure(schemas.ClassInDoubt, code, e.Error())
	}
	return Failure(schemas.ClassPSPError, code, e.Error())
}

// SendFailure is the Outcome of an error returned by Send (see
// TransportError.Outcome); any other error counts as nothing sent.
func SendFailure(err error) Outcome {
	var te *TransportError
	if errors.As(err, &te) {
		return te.Outcome()
	}
	return Failure(schemas.ClassPSPError, "connection_error", err.Error())
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Send does req with client and reads the whole answer (up to
// MaxReplyBytes). It counts the writes of the request through an
// httptrace.ClientTrace (added to req's context, keeping any trace already
// there), so that both a failure after sending and a silent re-send are
// visible. Any failure to get a complete answer is a *TransportError; a
// failure while reading the body counts as sent, since the PSP had started
// to answer.
func Send(client *http.Client, req *http.Request) (*Reply, error) {
	var writes atomic.Int32
	ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				writes.Add(1)
			}
		},
	})
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, &TransportError{Err: err, Sent: writes.Load() > 0}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxReplyBytes))
	if err != nil {
		return nil, &TransportError{Err: fmt.Errorf("reading the answer: %w", err), Sent: true}
	}
	return &Reply{Status: resp.StatusCode, Header: resp.Header, Body: body, Sends: int(writes.Load())}, nil
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// Zero when absent, malformed or in the past.
func ParseRetryAfter(header string) time.Duration {
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
