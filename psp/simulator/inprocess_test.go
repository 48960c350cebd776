package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// The behaviour tests of this package (tokens, idempotency, conflicts, the
// ledger, status inquiries, closed keys, outages, presets) run over both
// transports through forEachTransport. The conformance suite (psptest)
// runs over HTTP only: it injects its faults with an HTTP proxy between the
// connector and the backend, which the in-process transport by design does
// not have. The in-process equivalents of those faults are below: a call
// given up after sending (in_doubt), a handler that aborts (a connection
// broken after sending: in_doubt) and a stopped server (a refused
// connection: nothing sent, psp_error).

// newUnstarted is a simulator that never listens: in-process use needs no
// socket.
func newUnstarted(t *testing.T, psps map[string]Profile) *Server {
	t.Helper()
	s, err := New(Configuration{Listen: "127.0.0.1:0", Seed: 7, MaxHold: 5 * time.Second, PSPs: psps}, quiet)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

// Two servers with the same seed and profile, one over HTTP and one in
// process, give byte-identical answers to the same sequence of requests:
// payments under random errors, rate limits and declines, test tokens, a
// replay, a conflict, a follow-up, invalid bodies, unknown PSPs and paths,
// status inquiries and the counters.
func TestInProcessAnswersLikeHTTP(t *testing.T) {
	profile := Profile{ErrorRate: 0.1, RateLimitRate: 0.1, DeclineRate: 0.2, RetryAfter: 2 * time.Second}
	overHTTP := startServer(t, map[string]Profile{"psp-a": profile})
	inProcess := newUnstarted(t, map[string]Profile{"psp-a": profile})

	type call struct{ method, path, body string }
	payment := func(id, token, op, ref string) call {
		return call{http.MethodPost, "/v1/psp-a/payments", fmt.Sprintf(
			`{"idempotency_key":"k-%s-%s","payment_id":%q,"operation":%q,"amount_minor":1250,"currency":"EUR","token":%q,"authorization_reference":%q}`,
			id, op, id, op, token, ref)}
	}
	var calls []call
	for i := range 40 {
		calls = append(calls, payment(fmt.Sprintf("p-%02d", i), TokenApprove, "AUTHORIZE", ""))
	}
	for _, tok := range []string{TokenHardDecline, TokenSoftDecline, TokenCustomerError, TokenPSP503, TokenPSP500,
		TokenRateLimited, TokenMalformed, FailAt("psp-a"), DeclineWith("do_not_honor"), IssuerDecline("51"), AdviceDecline("03")} {
		calls = append(calls, payment("t-"+tok, tok, "AUTHORIZE", ""))
	}
	calls = append(calls,
		payment("p-00", TokenApprove, "AUTHORIZE", ""), // a replay (or a new draw, if p-00 was not processed)
		call{http.MethodPost, "/v1/psp-a/payments", `{"idempotency_key":"k-p-00-AUTHORIZE","payment_id":"p-00","operation":"AUTHORIZE","amount_minor":1,"currency":"EUR","token":"tok_approve"}`},
		payment("c-1", "", "CAPTURE", "sim-psp-a-000001"),
		payment("c-2", "", "CAPTURE", "sim-psp-a-999999"),
		call{http.MethodPost, "/v1/psp-a/payments", `{nope`},
		call{http.MethodPost, "/v1/psp-zzz/payments", `{}`},
		call{http.MethodGet, "/v1/psp-a/payments/k-p-01-AUTHORIZE", ""},
		call{http.MethodGet, "/v1/psp-a/payments/never-sent", ""},
		call{http.MethodPost, "/v1/psp-a/payments", `{"idempotency_key":"never-sent","payment_id":"late","operation":"AUTHORIZE","amount_minor":1,"currency":"EUR","token":"tok_approve"}`},
		call{http.MethodGet, "/nowhere", ""},
		call{http.MethodGet, "/healthz", ""},
		call{http.MethodGet, "/sim/stats", ""},
	)
	for i, c := range calls {
		a := answer(t, viaHTTP, overHTTP, c.method, c.path, c.body)
		b := answer(t, viaInProcess, inProcess, c.method, c.path, c.body)
		if a != b {
			t.Fatalf("call %d %s %s %s:\nover HTTP:  %s\nin process: %s", i, c.method, c.path, c.body, a, b)
		}
	}
	if a, b := fmt.Sprint(overHTTP.Stats()), fmt.Sprint(inProcess.Stats()); a != b {
		t.Fatalf("stats differ:\nover HTTP:  %s\nin process: %s", a, b)
	}
	if a, b := len(overHTTP.Ledger()), len(inProcess.Ledger()); a != b || a == 0 {
		t.Fatalf("ledgers of %d and %d approvals", a, b)
	}
}

// answer is what a client can see of an answer: status, the headers the
// simulator sets, and the body.
func answer(t *testing.T, v via, s *Server, method, path, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, v.base(s)+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := v.client(s).Do(req)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", method, path, v.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s content-type=%q retry-after=%q %s", resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), b)
}

// A call given up while the simulator holds it is in_doubt, returns when
// the caller gives up (not when the hold ends), and was processed: the
// status inquiry finds the approval.
func TestInProcessCancelledCallIsInDoubt(t *testing.T) {
	s := newUnstarted(t, map[string]Profile{"psp-a": {}})
	c := viaInProcess.connector(t, s, "psp-a", time.Minute)
	req := authorize("pay-cancel", "psp-a", TokenTimeout)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan psp.Outcome, 1)
	go func() { done <- c.Attempt(ctx, req) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats()["psp-a"].Timeouts == 0 {
		if time.Now().After(deadline) {
			t.Fatal("request never held")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	var out psp.Outcome
	select {
	case out = <-done:
	case <-time.After(3 * time.Second): // the hold is 5 s
		t.Fatal("the call did not return when its context was cancelled")
	}
	if out.Class != schemas.ClassInDoubt || out.PSPCode != "cancelled" {
		t.Fatalf("got %s/%q code %q (%s), want in_doubt cancelled", out.Outcome, out.Class, out.PSPCode, out.Message)
	}
	st, err := c.Status(context.Background(), req)
	if err != nil || !st.Found || st.Outcome.Outcome != schemas.OutcomeApproved {
		t.Fatalf("Status = %+v, %v; want found approved", st, err)
	}
	if n := s.Approvals("pay-cancel"); n != 1 {
		t.Fatalf("approvals = %d, want 1", n)
	}
}

// A call whose context ended before it was handed to the handler was
// never sent: psp_error, fails over, nothing processed.
func TestInProcessContextDoneBeforeSendingIsNotSent(t *testing.T) {
	s := newUnstarted(t, map[string]Profile{"psp-a": {}})
	c := viaInProcess.connector(t, s, "psp-a", time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := c.Attempt(ctx, authorize("pay-early", "psp-a", TokenApprove))
	if out.Class != schemas.ClassPSPError {
		t.Fatalf("got %s/%q (%s), want psp_error", out.Outcome, out.Class, out.Message)
	}
	if st := s.Stats()["psp-a"]; st.Requests != 0 {
		t.Fatalf("the handler saw %d requests", st.Requests)
	}
}

// After Stop, calls fail unsent (psp_error), like a refused connection.
func TestInProcessAfterStopIsNotSent(t *testing.T) {
	s := newUnstarted(t, map[string]Profile{"psp-a": {}})
	c := viaInProcess.connector(t, s, "psp-a", time.Second)
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := c.Attempt(context.Background(), authorize("pay-stopped", "psp-a", TokenApprove))
	if out.Class != schemas.ClassPSPError || out.Outcome != schemas.OutcomeError {
		t.Fatalf("got %s/%q (%s), want ERROR/psp_error", out.Outcome, out.Class, out.Message)
	}
	if _, err := c.Status(context.Background(), authorize("pay-stopped", "psp-a", TokenApprove)); err == nil {
		t.Fatal("Status after Stop returned no error")
	}
	req, _ := http.NewRequest(http.MethodGet, InProcessURL+"/healthz", nil)
	if _, err := s.Transport().RoundTrip(req); !errors.Is(err, ErrStopped) {
		t.Fatalf("RoundTrip after Stop: %v, want ErrStopped", err)
	}
	if n := len(s.Ledger()); n != 0 {
		t.Fatalf("ledger has %d approvals", n)
	}
}

// A handler that panics breaks the exchange after the request was sent:
// in_doubt, and the caller survives.
func TestInProcessHandlerPanicIsInDoubt(t *testing.T) {
	for _, p := range []any{http.ErrAbortHandler, "boom"} {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			s := newUnstarted(t, map[string]Profile{"psp-a": {}})
			s.handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusOK)
				panic(p)
			})
			c := viaInProcess.connector(t, s, "psp-a", time.Second)
			out := c.Attempt(context.Background(), authorize("pay-panic", "psp-a", TokenApprove))
			if out.Class != schemas.ClassInDoubt {
				t.Fatalf("got %s/%q (%s), want in_doubt", out.Outcome, out.Class, out.Message)
			}
		})
	}
}

// The transport keeps the RoundTripper contract: it closes the request
// body, leaves the request as it was, and answers with a body of its own
// that later requests do not touch.
func TestInProcessRoundTripContract(t *testing.T) {
	s := newUnstarted(t, map[string]Profile{"psp-a": {}})
	tr := s.Transport()
	body := &closeTracker{Reader: strings.NewReader(`{"idempotency_key":"k-1","payment_id":"p-1","operation":"AUTHORIZE","amount_minor":5,"currency":"EUR","token":"tok_approve"}`)}
	req, err := http.NewRequest(http.MethodPost, InProcessURL+"/v1/psp-a/payments", body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if !body.closed {
		t.Error("request body not closed")
	}
	if req.URL.String() != InProcessURL+"/v1/psp-a/payments" || req.RequestURI != "" {
		t.Errorf("request modified: URL %s, RequestURI %q", req.URL, req.RequestURI)
	}
	if resp.Request != req || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("response %+v", resp)
	}
	// A second exchange must not change the first one's answer.
	req2, _ := http.NewRequest(http.MethodGet, InProcessURL+"/v1/psp-a/payments/unknown", nil)
	resp2, err := tr.RoundTrip(req2)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := io.ReadAll(resp.Body)
	second, _ := io.ReadAll(resp2.Body)
	if !strings.Contains(string(first), `"reference":"sim-psp-a-000001"`) || !strings.Contains(string(second), `"not_found"`) {
		t.Fatalf("answers %s / %s", first, second)
	}
	if resp.ContentLength != int64(len(first)) {
		t.Errorf("ContentLength %d, body %d bytes", resp.ContentLength, len(first))
	}
}

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

// Many goroutines share one in-process connector, each payment sent twice
// at once: every call gets its own payment's answer, each payment is
// approved once, and the duplicates are replays (run with -race).
func TestInProcessConcurrentCalls(t *testing.T) {
	const workers, perWorker = 16, 40
	s := newUnstarted(t, map[string]Profile{"psp-a": {}})
	c := viaInProcess.connector(t, s, "psp-a", 10*time.Second)
	var wg sync.WaitGroup
	for w := range workers {
		for copyOf := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWorker {
					id := fmt.Sprintf("pay-%02d-%03d", w, i)
					out := c.Attempt(context.Background(), authorize(id, "psp-a", TokenApprove))
					if out.Outcome != schemas.OutcomeApproved || out.Reference == "" {
						t.Errorf("%s (copy %d): %+v", id, copyOf, out)
						return
					}
					st, err := c.Status(context.Background(), authorize(id, "psp-a", TokenApprove))
					if err != nil || !st.Found || st.Outcome.Reference != out.Reference {
						t.Errorf("%s: status %+v %v, want reference %s", id, st, err, out.Reference)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	const payments = workers * perWorker
	if st := s.Stats()["psp-a"]; st.Approved != payments || st.Replays != payments || st.Requests != 2*payments {
		t.Fatalf("stats %+v, want %d approved, %d replays", st, payments, payments)
	}
	if d := s.Duplicates(); len(d) != 0 {
		t.Fatalf("duplicates %v", d)
	}
}
