package simulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"time"
)

// InProcessURL is the base URL of a connector that reaches its simulator
// through Server.Transport. The transport ignores the host: the URL only
// has to be one NewConnector accepts, and one no resolver answers (.invalid
// is reserved), so that a connector given it with any other transport fails
// to connect instead of reaching something else.
const InProcessURL = "http://psp-simulator.invalid"

// ErrStopped is returned by Server.Transport once the server was stopped:
// the in-process equivalent of a refused connection (nothing was sent, the
// connector classifies it psp_error).
var ErrStopped = errors.New("simulator: server stopped")

// Transport is an http.RoundTripper that serves every request with this
// server's own Handler, in the calling goroutine, with no socket: no
// listener, no connection, no HTTP framing. A connector built with it
// (InProcessConnector) exercises the same handler, so the same
// idempotency, ledger and status inquiries, as one talking HTTP to Start's
// listener, at a fraction of the cost: what it measures is the caller, not
// the kernel's loopback TCP. The server need not be started.
//
// Each round trip is independent, so the transport is safe for concurrent
// use: the request body is read into a copy before the handler runs (the
// caller's body is closed, as the RoundTripper contract requires), and the
// answer is recorded into a writer of its own whose bytes become the
// response body. What a client sees is what it would see over HTTP:
//
//   - The request counts as written (httptrace WroteHeaders and
//     WroteRequest fire, as psp.Send relies on) once the handler is about
//     to run; a failure before that is "not sent" and fails over, one
//     after it is in_doubt.
//   - The handler sees the request's context: every wait of the simulator
//     (latency, a held timeout) ends when the caller gives up. An answer
//     completed after the context ended is discarded and the context's
//     error returned, as a client that stopped reading would never see it;
//     the request was processed all the same, which is what a status
//     inquiry then finds.
//   - The headers are those at WriteHeader (later changes are lost, as on
//     the wire; trailers are not supported), a missing Content-Type is
//     sniffed from the body, and 1xx informational answers are skipped.
//   - A handler that panics (http.ErrAbortHandler included) is a connection
//     broken after the request was sent: an error, logged unless it is
//     ErrAbortHandler, as net/http's server does.
//   - After Stop, every round trip fails with ErrStopped, unsent.
func (s *Server) Transport() http.RoundTripper { return inProcessTransport{s: s} }

// InProcessConnector is a connector for the named PSP of this server that
// reaches it through Transport (base URL InProcessURL). timeout bounds each
// call, as for Connector.
func (s *Server) InProcessConnector(name string, timeout time.Duration) (*Connector, error) {
	if _, ok := s.psps[name]; !ok {
		return nil, fmt.Errorf("simulator: unknown psp %q", name)
	}
	return NewConnector(ConnectorConfig{BaseURL: InProcessURL, PSP: name, Timeout: timeout,
		HTTPClient: &http.Client{Transport: s.Transport()}})
}

type inProcessTransport struct{ s *Server }

func (t inProcessTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := readBody(req)
	if err != nil {
		return nil, fmt.Errorf("simulator: in-process transport: reading the request body: %w", err)
	}
	select {
	case <-t.s.stopping:
		return nil, ErrStopped
	default:
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in := req.Clone(ctx)
	in.Body, in.GetBody, in.ContentLength = http.NoBody, nil, int64(len(body))
	if len(body) > 0 {
		in.Body = io.NopCloser(bytes.NewReader(body))
	}
	in.URL.Scheme, in.URL.Host, in.URL.User = "", "", nil
	in.RequestURI = req.URL.RequestURI()
	in.Proto, in.ProtoMajor, in.ProtoMinor = "HTTP/1.1", 1, 1
	in.RemoteAddr = "in-process"
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	if trace := httptrace.ContextClientTrace(ctx); trace != nil {
		if trace.WroteHeaders != nil {
			trace.WroteHeaders()
		}
		if trace.WroteRequest != nil {
			trace.WroteRequest(httptrace.WroteRequestInfo{})
		}
	}
	rec := &recorder{header: http.Header{}}
	if err := t.serve(rec, in); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return rec.response(req), nil
}

// serve runs the handler, turning a panic into the error of a connection
// the server broke.
func (t inProcessTransport) serve(w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				t.s.log.Error("psp simulator handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p)
			}
			err = fmt.Errorf("simulator: in-process transport: the handler aborted the request: %v", p)
		}
	}()
	t.s.handler.ServeHTTP(w, r)
	return nil
}

// readBody reads and closes req's body into a buffer of its own; nil for
// none. A body of known length is read into a buffer of that size (what
// connectors send: bytes.Reader bodies), anything else as it comes. A body
// longer than its ContentLength is cut there, as net/http sends it.
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	if req.ContentLength <= 0 {
		return io.ReadAll(req.Body)
	}
	b := make([]byte, req.ContentLength)
	if _, err := io.ReadFull(req.Body, b); err != nil {
		return nil, err
	}
	return b, nil
}

// recorder is the http.ResponseWriter of one in-process round trip.
type recorder struct {
	header http.Header // the handler's
	sent   http.Header // a copy taken at WriteHeader: what went out
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code)) // as net/http
	}
	if w.status != 0 || (code < 200 && code != http.StatusSwitchingProtocols) {
		return // superfluous, or informational
	}
	w.status = code
	w.sent = w.header.Clone()
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(p)
}

// response is the answer recorded, for req. The body is the recorder's
// own buffer: the handler has returned, nothing writes to it any more.
func (w *recorder) response(req *http.Request) *http.Response {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	body := w.body.Bytes()
	if req.Method == http.MethodHead {
		body = nil
	}
	if _, ok := w.sent["Content-Type"]; !ok && len(body) > 0 {
		w.sent.Set("Content-Type", http.DetectContentType(body))
	}
	return &http.Response{
		Status:     strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode: w.status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        w.sent,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
