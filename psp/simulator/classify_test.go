package simulator

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

// Every row of every table, through the real server and the connector.
func TestDeclineCodeRows(t *testing.T) { forEachTransport(t, testDeclineCodeRows) }

func testDeclineCodeRows(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", 2*time.Second)
	for _, row := range DeclineCodes {
		t.Run(row.Code, func(t *testing.T) {
			if got, _ := ClassifyDecline(row.Code, "", ""); got != row.Class {
				t.Fatalf("ClassifyDecline(%q) = %q, want %q", row.Code, got, row.Class)
			}
			out := c.Attempt(context.Background(), authorize("dc-"+row.Code, "psp-a", DeclineWith(row.Code)))
			if out.Class != row.Class || out.PSPCode != row.Code || out.Outcome != psp.OutcomeOf(row.Class) {
				t.Fatalf("got %s/%q code %q, want %q", out.Outcome, out.Class, out.PSPCode, row.Class)
			}
			if row.Class == schemas.ClassSoftDecline && out.RetryAfter <= 0 {
				t.Errorf("soft decline without retry-after")
			}
		})
	}
}

func TestIssuerCodeRows(t *testing.T) { forEachTransport(t, testIssuerCodeRows) }

func testIssuerCodeRows(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", 2*time.Second)
	for _, row := range IssuerCodes {
		t.Run(row.Code, func(t *testing.T) {
			if got, _ := ClassifyDecline("", row.Code, ""); got != row.Class {
				t.Fatalf("ClassifyDecline(issuer %q) = %q, want %q", row.Code, got, row.Class)
			}
			out := c.Attempt(context.Background(), authorize("ic-"+row.Code, "psp-a", IssuerDecline(row.Code)))
			if out.Class != row.Class || out.IssuerCode != row.Code {
				t.Fatalf("got %q issuer %q, want %q", out.Class, out.IssuerCode, row.Class)
			}
		})
	}
}

func TestAdviceCodeRows(t *testing.T) { forEachTransport(t, testAdviceCodeRows) }

func testAdviceCodeRows(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", 2*time.Second)
	for _, row := range AdviceCodes {
		t.Run(row.Code, func(t *testing.T) {
			got, ra := ClassifyDecline("card_declined", "05", row.Code)
			if got != row.Class || ra != row.RetryAfter {
				t.Fatalf("ClassifyDecline(advice %q) = %q %v, want %q %v", row.Code, got, ra, row.Class, row.RetryAfter)
			}
			out := c.Attempt(context.Background(), authorize("ac-"+row.Code, "psp-a", AdviceDecline(row.Code)))
			if out.Class != row.Class || out.RetryAfter != row.RetryAfter {
				t.Fatalf("got %q retry %v, want %q %v", out.Class, out.RetryAfter, row.Class, row.RetryAfter)
			}
		})
	}
}

func TestClassifyPrecedenceAndUnknown(t *testing.T) {
	tests := []struct {
		code, issuer, advice string
		want                 schemas.Class
	}{
		{"insufficient_funds", "43", "", schemas.ClassHardDecline},        // issuer over PSP code
		{"stolen_card", "51", "", schemas.ClassSoftDecline},               // issuer over PSP code
		{"stolen_card", "zz", "", schemas.ClassHardDecline},               // unknown issuer: PSP code
		{"insufficient_funds", "51", "03", schemas.ClassHardDecline},      // advice over both
		{"do_not_honor", "05", "24", schemas.ClassSoftDecline},            // advice over both
		{"do_not_honor", "05", "99", schemas.ClassHardDecline},            // unknown advice ignored
		{"totally_new_code", "", "", UnknownCodeClass},                    // unknown: no failover
		{"totally_new_code", "QQ", "77", UnknownCodeClass},                // all unknown
		{"", "", "", UnknownCodeClass},                                    // nothing at all
		{"service_unavailable", "", "", schemas.ClassPSPError},            // error code in a decline body
		{"authentication_failed", "", "", schemas.ClassCustomerError},     // customer
		{"rate_limited", "", "", schemas.ClassRateLimited},                // rate limit code
		{"idempotency_conflict", "", "", schemas.ClassInvalidRequest},     // our bug
		{"issuer_declined", "1A", "", schemas.ClassCustomerError},         // SCA required
		{"card_declined", "", "", schemas.ClassSoftDecline},               // generic
		{"expired_card", "", "", schemas.ClassHardDecline},                // hard
		{"3ds_abandoned", "", "", schemas.ClassCustomerError},             // customer
		{"issuer_unavailable", "91", "", schemas.ClassSoftDecline},        // soft
		{"malformed_response", "", "", schemas.ClassPSPError},             // PSP
		{"authentication_error", "", "", schemas.ClassPSPError},           // our PSP credentials
		{"withdrawal_limit_exceeded", "61", "", schemas.ClassSoftDecline}, // soft
	}
	for _, tc := range tests {
		if got, _ := ClassifyDecline(tc.code, tc.issuer, tc.advice); got != tc.want {
			t.Errorf("ClassifyDecline(%q, %q, %q) = %q, want %q", tc.code, tc.issuer, tc.advice, got, tc.want)
		}
	}
	if UnknownCodeClass.FailsOver() {
		t.Fatal("unknown codes must not fail over")
	}
}

func TestTablesHaveNoDuplicates(t *testing.T) {
	for name, table := range map[string][]CodeRule{"DeclineCodes": DeclineCodes, "IssuerCodes": IssuerCodes, "AdviceCodes": AdviceCodes} {
		seen := map[string]bool{}
		for _, r := range table {
			if seen[r.Code] || r.Code == "" || r.Class == schemas.ClassNone || r.Meaning == "" {
				t.Errorf("%s: bad or duplicate row %+v", name, r)
			}
			seen[r.Code] = true
		}
	}
}

// Every HTTPStatuses row through a real HTTP exchange, plus the fallbacks.
func TestHTTPStatusRows(t *testing.T) {
	type row struct {
		status int
		want   schemas.Class
	}
	rows := make([]row, 0, len(HTTPStatuses)+4)
	for _, r := range HTTPStatuses {
		rows = append(rows, row{r.Status, r.Class})
	}
	rows = append(rows,
		row{http.StatusTeapot, schemas.ClassInvalidRequest},            // other 4xx
		row{http.StatusHTTPVersionNotSupported, schemas.ClassPSPError}, // other 5xx
		row{http.StatusMultipleChoices, schemas.ClassPSPError},         // unexpected
		row{http.StatusCreated, schemas.ClassPSPError},                 // unexpected 2xx
	)
	for _, r := range rows {
		t.Run(fmt.Sprint(r.status), func(t *testing.T) {
			if got := ClassifyHTTPStatus(r.status); got != r.want {
				t.Fatalf("ClassifyHTTPStatus(%d) = %q, want %q", r.status, got, r.want)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(r.status)
				fmt.Fprint(w, `{"code":"some_code"}`)
			}))
			defer srv.Close()
			c, err := NewConnector(ConnectorConfig{BaseURL: srv.URL, PSP: "psp-x", Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			out := c.Attempt(context.Background(), authorize("hs", "psp-x", TokenApprove))
			if out.Class != r.want || out.Outcome != psp.OutcomeOf(r.want) || out.PSPCode != "some_code" {
				t.Fatalf("got %+v, want %q", out, r.want)
			}
			if r.want == schemas.ClassRateLimited && out.RetryAfter != 2*time.Second {
				t.Errorf("RetryAfter = %v, want 2s from the header", out.RetryAfter)
			}
			if _, err := c.Status(context.Background(), authorize("hs", "psp-x", TokenApprove)); err == nil {
				t.Errorf("Status with HTTP %d returned no error", r.status)
			}
		})
	}
}

func TestMalformedAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"truncated":      `{"status":"approved","reference":"x`,
		"html":           `<html>gateway error</html>`,
		"unknown status": `{"status":"pending","reference":"x"}`,
		"empty":          ``,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusOK)
				fmt.Fprint(w, body)
			}))
			defer srv.Close()
			c, _ := NewConnector(ConnectorConfig{BaseURL: srv.URL, PSP: "psp-x", Timeout: time.Second})
			out := c.Attempt(context.Background(), authorize("m", "psp-x", TokenApprove))
			if out.Class != schemas.ClassPSPError || out.PSPCode != "malformed_response" {
				t.Fatalf("got %+v", out)
			}
			if _, err := c.Status(context.Background(), authorize("m", "psp-x", TokenApprove)); err == nil {
				t.Fatal("Status of a malformed answer returned no error")
			}
		})
	}
}

func TestPaymentRequired402IsADecline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusPaymentRequired)
		fmt.Fprint(w, `{"status":"declined","code":"expired_card","issuer_code":"54"}`)
	}))
	defer srv.Close()
	c, _ := NewConnector(ConnectorConfig{BaseURL: srv.URL, PSP: "psp-x", Timeout: time.Second})
	if out := c.Attempt(context.Background(), authorize("p", "psp-x", TokenApprove)); out.Class != schemas.ClassHardDecline {
		t.Fatalf("got %+v", out)
	}
}

// A connection that breaks after the request was written is in doubt.
func TestBrokenConnectionAfterWriteIsInDoubt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = r.Body.Read(make([]byte, 1024))
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	c, _ := NewConnector(ConnectorConfig{BaseURL: srv.URL, PSP: "psp-x", Timeout: time.Second})
	out := c.Attempt(context.Background(), authorize("broken", "psp-x", TokenApprove))
	if out.Class != schemas.ClassInDoubt || out.Outcome != schemas.OutcomeError {
		t.Fatalf("got %+v, want in_doubt", out)
	}
}

// A dial that never completes sends nothing: psp_error, not in_doubt.
func TestTimeoutBeforeWriteIsPSPError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-ctx.Done() // never connects
		return nil, ctx.Err()
	}}
	c, _ := NewConnector(ConnectorConfig{BaseURL: "http://" + ln.Addr().String(), PSP: "psp-x", Timeout: 50 * time.Millisecond, HTTPClient: &http.Client{Transport: tr}})
	out := c.Attempt(context.Background(), authorize("slow-dial", "psp-x", TokenApprove))
	if out.Class != schemas.ClassPSPError || out.PSPCode != "timeout" {
		t.Fatalf("got %+v, want psp_error timeout", out)
	}
}

// A reused keep-alive connection breaks after the request was written. The
// PSP may have processed it, so the attempt is in doubt: the connector must
// not let net/http silently re-send it and report the re-send's 503 as a
// psp_error that would fail over.
func TestRetriedAfterWriteStaysInDoubt(t *testing.T) {
	t.Run("default client", func(t *testing.T) { testBrokenReusedConnection(t, nil, 2) })
	// A client that makes the POST replayable lets net/http re-send it; the
	// connector sees two writes and still reports in_doubt.
	t.Run("replaying client", func(t *testing.T) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		testBrokenReusedConnection(t, &http.Client{Transport: addIdempotencyHeader{tr}}, 3)
	})
}

type addIdempotencyHeader struct{ next http.RoundTripper }

func (a addIdempotencyHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Idempotency-Key", "k")
	return a.next.RoundTrip(r)
}

func testBrokenReusedConnection(t *testing.T, client *http.Client, wantCalls int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1: // establishes the pooled connection
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, `{"status":"approved","reference":"r1"}`)
		case 2: // reads the request, then the connection breaks
			_, _ = r.Body.Read(make([]byte, 1024))
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
		default: // the transport's retry
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"code":"service_unavailable"}`)
		}
	}))
	defer srv.Close()
	c, _ := NewConnector(ConnectorConfig{BaseURL: srv.URL, PSP: "psp-x", Timeout: time.Second, HTTPClient: client})
	if out := c.Attempt(context.Background(), authorize("first", "psp-x", TokenApprove)); out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("first: %+v", out)
	}
	out := c.Attempt(context.Background(), authorize("second", "psp-x", TokenApprove))
	if out.Class != schemas.ClassInDoubt {
		t.Fatalf("got %+v after %d calls, want in_doubt", out, calls.Load())
	}
	if n := calls.Load(); n != wantCalls {
		t.Fatalf("server saw %d calls, want %d", n, wantCalls)
	}
}
