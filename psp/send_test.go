package psp_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/psptest"
	"github.com/payroute/payroute/schemas"
)

func post(t *testing.T, ctx context.Context, url, body string, header map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

func TestSendAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(append([]byte("echo:"), b...))
	}))
	defer srv.Close()
	reply, err := psp.Send(psp.NewHTTPClient(), post(t, context.Background(), srv.URL, "hello", nil))
	if err != nil {
		t.Fatal(err)
	}
	if reply.Status != http.StatusTooManyRequests || string(reply.Body) != "echo:hello" || reply.Sends != 1 ||
		psp.ParseRetryAfter(reply.Header.Get("Retry-After")) != 7*time.Second {
		t.Fatalf("reply = %+v", reply)
	}
}

func TestSendRefusedIsNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	_ = ln.Close()
	_, err = psp.Send(psp.NewHTTPClient(), post(t, context.Background(), url, "x", nil))
	out := psp.SendFailure(err)
	if out.Class != schemas.ClassPSPError || out.PSPCode != "connection_refused" || out.Outcome != schemas.OutcomeError {
		t.Fatalf("refused: %+v", out)
	}
}

func TestSendTimeoutAfterWriteIsInDoubt(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := psp.Send(psp.NewHTTPClient(), post(t, ctx, srv.URL, "x", nil))
	out := psp.SendFailure(err)
	if out.Class != schemas.ClassInDoubt || out.PSPCode != "timeout" {
		t.Fatalf("timeout after write: %+v", out)
	}
}

// net/http re-sends a written POST on its own when it carries an
// Idempotency-Key header and its reused connection broke; Send counts the
// copies, and InDoubtIfResent turns the copy's error answer into in_doubt.
// Without the header there is no re-send: the broken request is in doubt.
func TestSendCountsSilentResend(t *testing.T) {
	var processed atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		processed.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	defer backend.Close()
	proxy := psptest.NewProxy(t, backend.URL)
	client := psp.NewHTTPClient()
	for _, tc := range []struct {
		name   string
		header map[string]string
		sends  int
	}{
		{"with Idempotency-Key", map[string]string{"Idempotency-Key": "pr_key"}, 2},
		{"without", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := psp.Send(client, post(t, context.Background(), proxy.URL(), "warm-up", tc.header)); err != nil {
				t.Fatal(err)
			}
			marker := "payment-" + strings.ReplaceAll(tc.name, " ", "-")
			proxy.DropOnce(marker)
			defer proxy.Clear(marker)
			reply, err := psp.Send(client, post(t, context.Background(), proxy.URL(), marker, tc.header))
			if tc.sends == 1 {
				if out := psp.SendFailure(err); err == nil || out.Class != schemas.ClassInDoubt {
					t.Fatalf("err = %v, outcome %+v: want in_doubt", err, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("re-sent request: %v", err)
			}
			if reply.Sends != tc.sends || reply.Status != http.StatusServiceUnavailable || proxy.Resends(marker) != 1 {
				t.Fatalf("sends = %d status %d resends %d", reply.Sends, reply.Status, proxy.Resends(marker))
			}
			out := reply.InDoubtIfResent(psp.Failure(schemas.ClassPSPError, "http_503", "unavailable"))
			if out.Class != schemas.ClassInDoubt || out.Outcome != schemas.OutcomeError {
				t.Fatalf("a re-sent request's 503 is %+v, want in_doubt", out)
			}
		})
	}
}

func TestInDoubtIfResent(t *testing.T) {
	once, twice := &psp.Reply{Sends: 1}, &psp.Reply{Sends: 2}
	declined := psp.Failure(schemas.ClassHardDecline, "stolen_card", "")
	approved := psp.Outcome{Outcome: schemas.OutcomeApproved, Reference: "r"}
	failed := psp.Failure(schemas.ClassPSPError, "http_503", "down")
	limited := psp.Failure(schemas.ClassRateLimited, "rate_limit", "")
	for _, tc := range []struct {
		reply *psp.Reply
		in    psp.Outcome
		want  schemas.Class
	}{
		{once, failed, schemas.ClassPSPError},
		{twice, failed, schemas.ClassInDoubt},
		{twice, limited, schemas.ClassInDoubt},
		{twice, declined, schemas.ClassHardDecline},
		{twice, approved, schemas.ClassNone},
		{nil, failed, schemas.ClassPSPError},
	} {
		if got := tc.reply.InDoubtIfResent(tc.in); got.Class != tc.want {
			t.Errorf("%+v with %+v: class %q, want %q", tc.reply, tc.in, got.Class, tc.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	for in, ok := range map[string]func(time.Duration) bool{
		"":                              func(d time.Duration) bool { return d == 0 },
		"3":                             func(d time.Duration) bool { return d == 3*time.Second },
		"-1":                            func(d time.Duration) bool { return d == 0 },
		"soon":                          func(d time.Duration) bool { return d == 0 },
		future:                          func(d time.Duration) bool { return d > 59*time.Minute && d <= time.Hour },
		"Mon, 02 Jan 2006 15:04:05 GMT": func(d time.Duration) bool { return d == 0 },
	} {
		if d := psp.ParseRetryAfter(in); !ok(d) {
			t.Errorf("ParseRetryAfter(%q) = %v", in, d)
		}
	}
}
