package simulator

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

func TestTokensThroughServer(t *testing.T) { forEachTransport(t, testTokensThroughServer) }

func testTokensThroughServer(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", 2*time.Second)

	tests := []struct {
		token      string
		outcome    schemas.Outcome
		class      schemas.Class
		code       string
		issuer     string
		retryAfter bool
	}{
		{token: TokenApprove, outcome: schemas.OutcomeApproved},
		{token: "tok_whatever_else", outcome: schemas.OutcomeApproved},
		{token: TokenHardDecline, outcome: schemas.OutcomeDeclined, class: schemas.ClassHardDecline, code: "stolen_card", issuer: "43"},
		{token: TokenSoftDecline, outcome: schemas.OutcomeDeclined, class: schemas.ClassSoftDecline, code: "insufficient_funds", issuer: "51", retryAfter: true},
		{token: TokenCustomerError, outcome: schemas.OutcomeDeclined, class: schemas.ClassCustomerError, code: "authentication_failed"},
		{token: TokenPSP503, outcome: schemas.OutcomeError, class: schemas.ClassPSPError, code: "service_unavailable"},
		{token: TokenPSP500, outcome: schemas.OutcomeError, class: schemas.ClassPSPError, code: "internal_error"},
		{token: TokenRateLimited, outcome: schemas.OutcomeError, class: schemas.ClassRateLimited, code: "rate_limited", retryAfter: true},
		{token: TokenMalformed, outcome: schemas.OutcomeError, class: schemas.ClassPSPError, code: "malformed_response"},
		{token: FailAt("psp-a"), outcome: schemas.OutcomeError, class: schemas.ClassPSPError, code: "service_unavailable"},
		{token: FailAt("psp-b"), outcome: schemas.OutcomeApproved},
		{token: DeclineWith("mystery_code"), outcome: schemas.OutcomeDeclined, class: UnknownCodeClass, code: "mystery_code"},
	}
	for i, tc := range tests {
		t.Run(tc.token, func(t *testing.T) {
			id := "pay-token-" + string(rune('a'+i))
			out := c.Attempt(context.Background(), authorize(id, "psp-a", tc.token))
			if out.Outcome != tc.outcome || out.Class != tc.class {
				t.Fatalf("got %s/%q (%s: %s), want %s/%q", out.Outcome, out.Class, out.PSPCode, out.Message, tc.outcome, tc.class)
			}
			if tc.code != "" && out.PSPCode != tc.code {
				t.Errorf("PSPCode = %q, want %q", out.PSPCode, tc.code)
			}
			if out.IssuerCode != tc.issuer {
				t.Errorf("IssuerCode = %q, want %q", out.IssuerCode, tc.issuer)
			}
			if (out.RetryAfter > 0) != tc.retryAfter {
				t.Errorf("RetryAfter = %v, want set=%v", out.RetryAfter, tc.retryAfter)
			}
			if out.Latency <= 0 {
				t.Errorf("Latency not measured")
			}
			if tc.outcome == schemas.OutcomeApproved && out.Reference == "" {
				t.Errorf("approved without reference")
			}
			approvals := s.Approvals(id)
			if want := map[bool]int{true: 1, false: 0}[tc.outcome == schemas.OutcomeApproved]; approvals != want {
				t.Errorf("ledger approvals = %d, want %d", approvals, want)
			}
		})
	}
}

func TestTimeoutTokenIsInDoubtAndStatusFindsApproval(t *testing.T) {
	forEachTransport(t, testTimeoutTokenIsInDoubtAndStatusFindsApproval)
}

func testTimeoutTokenIsInDoubtAndStatusFindsApproval(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", 150*time.Millisecond)
	req := authorize("pay-timeout", "psp-a", TokenTimeout)

	out := c.Attempt(context.Background(), req)
	if out.Class != schemas.ClassInDoubt || out.Outcome != schemas.OutcomeError {
		t.Fatalf("got %s/%s (%s), want ERROR/in_doubt", out.Outcome, out.Class, out.Message)
	}
	if out.Latency < 150*time.Millisecond {
		t.Errorf("latency %v shorter than the timeout", out.Latency)
	}
	st, err := c.Status(context.Background(), req)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if !st.Found || st.Outcome.Outcome != schemas.OutcomeApproved || st.Outcome.Reference == "" {
		t.Fatalf("Status = %+v, want found and approved", st)
	}
	// Re-attempting the same key replays the approval at once, without a second one.
	again := c.Attempt(context.Background(), req)
	if again.Outcome != schemas.OutcomeApproved || again.Reference != st.Outcome.Reference {
		t.Fatalf("replay = %+v, want approved %s", again, st.Outcome.Reference)
	}
	if n := s.Approvals("pay-timeout"); n != 1 {
		t.Fatalf("approvals = %d, want 1", n)
	}
	if got := s.Stats()["psp-a"].Timeouts; got != 1 {
		t.Errorf("Timeouts = %d, want 1", got)
	}
}

func TestThreeDSTokenAsksForAChallenge(t *testing.T) {
	forEachTransport(t, testThreeDSTokenAsksForAChallenge)
}

func testThreeDSTokenAsksForAChallenge(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", time.Second)
	first := authorize("pay-3ds", "psp-a", Token3DS)
	out := c.Attempt(context.Background(), first)
	if out.Class != schemas.ClassCustomerError || out.PSPCode != "authentication_required" || !out.Pending || !strings.HasSuffix(out.ActionURL, "/sim/psp-a/3ds/"+first.IdempotencyKey) {
		t.Fatalf("got %s/%s %s action_url %q, want customer_error authentication_required with the challenge URL", out.Outcome, out.Class, out.PSPCode, out.ActionURL)
	}
	if st, err := c.Status(context.Background(), first); err != nil || !st.Found || st.Outcome.ActionURL != out.ActionURL {
		t.Fatalf("Status = %+v, %v; want the stored challenge", st, err)
	}
	// Not completed yet: another request is challenged too.
	second := authorize("pay-3ds", "psp-a", Token3DS)
	second.IdempotencyKey = "pay-3ds-2"
	if out := c.Attempt(context.Background(), second); out.Class != schemas.ClassCustomerError {
		t.Fatalf("before the challenge is completed: %s/%s, want another challenge", out.Outcome, out.Class)
	}
	// The customer completes the first challenge: that request is approved,
	// and a status inquiry says so.
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/sim/psp-a/3ds/"+first.IdempotencyKey, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("completing the challenge: HTTP %d", rec.Code)
	}
	st, err := c.Status(context.Background(), first)
	if err != nil || !st.Found || st.Outcome.Outcome != schemas.OutcomeApproved || st.Outcome.ActionURL != "" {
		t.Fatalf("Status after the challenge = %+v, %v; want the approval", st, err)
	}
	if n := s.Approvals("pay-3ds"); n != 1 {
		t.Fatalf("approvals = %d, want 1", n)
	}
	// A client that sends the payment again has made a second payment.
	third := authorize("pay-3ds", "psp-a", Token3DS)
	third.IdempotencyKey = "pay-3ds-3"
	if out := c.Attempt(context.Background(), third); out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("after the challenge: %s/%s %s %s, want approved", out.Outcome, out.Class, out.PSPCode, out.Message)
	}
	if n := s.Approvals("pay-3ds"); n != 2 {
		t.Fatalf("approvals = %d, want 2", n)
	}
	if st := s.Stats()["psp-a"]; st.Challenges != 2 || st.Authenticated != 1 {
		t.Errorf("stats: %d challenges, %d authenticated; want 2 and 1", st.Challenges, st.Authenticated)
	}
}

func TestLostTokenIsInDoubtAndStatusFindsNothing(t *testing.T) {
	forEachTransport(t, testLostTokenIsInDoubtAndStatusFindsNothing)
}

func testLostTokenIsInDoubtAndStatusFindsNothing(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}, "psp-b": {}})
	c := via.connector(t, s, "psp-a", 150*time.Millisecond)
	req := authorize("pay-lost", "psp-a", LostAt("psp-a"))
	out := c.Attempt(context.Background(), req)
	if out.Class != schemas.ClassInDoubt || out.Outcome != schemas.OutcomeError {
		t.Fatalf("got %s/%s (%s), want ERROR/in_doubt", out.Outcome, out.Class, out.Message)
	}
	st, err := c.Status(context.Background(), req)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Found {
		t.Fatalf("Status = %+v, want nothing found: the request was never processed", st)
	}
	if n := s.Approvals("pay-lost"); n != 0 {
		t.Fatalf("approvals = %d, want 0", n)
	}
	if got := s.Stats()["psp-a"].Timeouts; got != 1 {
		t.Errorf("Timeouts = %d, want 1", got)
	}
	// Elsewhere the token approves.
	b := via.connector(t, s, "psp-b", time.Second)
	if out := b.Attempt(context.Background(), authorize("pay-lost", "psp-b", LostAt("psp-a"))); out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("at psp-b: %s/%s, want approved", out.Outcome, out.Class)
	}
}

func TestTimeoutRateIsInDoubt(t *testing.T) { forEachTransport(t, testTimeoutRateIsInDoubt) }

func testTimeoutRateIsInDoubt(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {TimeoutRate: 1}})
	c := via.connector(t, s, "psp-a", 100*time.Millisecond)
	req := authorize("pay-timeout-rate", "psp-a", TokenHardDecline)
	if out := c.Attempt(context.Background(), req); out.Class != schemas.ClassInDoubt {
		t.Fatalf("class = %q, want in_doubt", out.Class)
	}
	st, err := c.Status(context.Background(), req)
	if err != nil || !st.Found || st.Outcome.Class != schemas.ClassHardDecline {
		t.Fatalf("Status = %+v, %v; want found hard decline", st, err)
	}
}

func TestStatusUnknownKeyNotFound(t *testing.T) { forEachTransport(t, testStatusUnknownKeyNotFound) }

func testStatusUnknownKeyNotFound(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", time.Second)
	st, err := c.Status(context.Background(), authorize("never-sent", "psp-a", TokenApprove))
	if err != nil || st.Found {
		t.Fatalf("Status = %+v, %v; want not found", st, err)
	}
	// An injected 503 is not processed either.
	req := authorize("pay-503", "psp-a", TokenPSP503)
	c.Attempt(context.Background(), req)
	if st, err := c.Status(context.Background(), req); err != nil || st.Found {
		t.Fatalf("Status after 503 = %+v, %v; want not found", st, err)
	}
}

func TestIdempotencySameKeyOneApproval(t *testing.T) {
	forEachTransport(t, testIdempotencySameKeyOneApproval)
}

func testIdempotencySameKeyOneApproval(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", time.Second)
	req := authorize("pay-idem", "psp-a", TokenApprove)

	first := c.Attempt(context.Background(), req)
	second := c.Attempt(context.Background(), req)
	if first.Outcome != schemas.OutcomeApproved || second.Outcome != schemas.OutcomeApproved {
		t.Fatalf("outcomes %s, %s", first.Outcome, second.Outcome)
	}
	if first.Reference != second.Reference {
		t.Fatalf("references differ: %s vs %s", first.Reference, second.Reference)
	}
	if n := s.Approvals("pay-idem"); n != 1 {
		t.Fatalf("approvals = %d, want 1", n)
	}

	// Racing duplicates of a new key: still one approval, one reference.
	race := authorize("pay-race", "psp-a", TokenApprove)
	var wg sync.WaitGroup
	refs := make([]string, 16)
	for i := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refs[i] = c.Attempt(context.Background(), race).Reference
		}()
	}
	wg.Wait()
	for _, r := range refs {
		if r != refs[0] || r == "" {
			t.Fatalf("references %v", refs)
		}
	}
	if n := s.Approvals("pay-race"); n != 1 {
		t.Fatalf("approvals = %d, want 1", n)
	}
	if st := s.Stats()["psp-a"]; st.Replays != 16 || st.Approved != 2 {
		t.Errorf("stats = %+v, want 16 replays, 2 approved", st)
	}
	if d := s.Duplicates(); len(d) != 0 {
		t.Errorf("duplicates = %v", d)
	}
}

func TestDeclineIsReplayedNotReprocessed(t *testing.T) {
	forEachTransport(t, testDeclineIsReplayedNotReprocessed)
}

func testDeclineIsReplayedNotReprocessed(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", time.Second)
	req := authorize("pay-soft", "psp-a", TokenSoftDecline)
	a := c.Attempt(context.Background(), req)
	b := c.Attempt(context.Background(), req)
	if a.Class != schemas.ClassSoftDecline || b.Class != a.Class || b.Reference != a.Reference {
		t.Fatalf("a=%+v b=%+v", a, b)
	}
	// A deliberate retry uses a new key and is processed anew.
	req.IdempotencyKey = psp.RetryIdempotencyKey("pay-soft", "psp-a", schemas.OpAuthorize, 1)
	if c2 := c.Attempt(context.Background(), req); c2.Reference == a.Reference {
		t.Fatalf("retry key replayed the first answer")
	}
}

func TestIdempotencyConflict(t *testing.T) { forEachTransport(t, testIdempotencyConflict) }

func testIdempotencyConflict(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", time.Second)
	req := authorize("pay-conflict", "psp-a", TokenApprove)
	c.Attempt(context.Background(), req)
	req.AmountMinor++
	out := c.Attempt(context.Background(), req)
	if out.Class != schemas.ClassInvalidRequest || out.PSPCode != "idempotency_conflict" {
		t.Fatalf("got %+v, want invalid_request idempotency_conflict", out)
	}
	if n := s.Approvals("pay-conflict"); n != 1 {
		t.Fatalf("approvals = %d", n)
	}
}

func TestFailAtFailsOverToSecondary(t *testing.T) {
	forEachTransport(t, testFailAtFailsOverToSecondary)
}

func testFailAtFailsOverToSecondary(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}, "psp-b": {}})
	token := FailAt("psp-a")
	a := via.connector(t, s, "psp-a", time.Second).Attempt(context.Background(), authorize("pay-fo", "psp-a", token))
	if a.Class != schemas.ClassPSPError || !a.Class.FailsOver() {
		t.Fatalf("primary: %+v", a)
	}
	b := via.connector(t, s, "psp-b", time.Second).Attempt(context.Background(), authorize("pay-fo", "psp-b", token))
	if b.Outcome != schemas.OutcomeApproved {
		t.Fatalf("secondary: %+v", b)
	}
	if n := s.Approvals("pay-fo"); n != 1 {
		t.Fatalf("approvals = %d", n)
	}
}

func TestOutageWindow(t *testing.T) { forEachTransport(t, testOutageWindow) }

func testOutageWindow(t *testing.T, via via) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := startServer(t, map[string]Profile{
		"psp-a": {Outages: []Window{{Start: 10 * time.Second, End: 20 * time.Second}}},
		"psp-b": {Preset: "outage", Latency: time.Microsecond, LatencyJitter: time.Microsecond},
	}, WithClock(clock.Now))
	c := via.connector(t, s, "psp-a", time.Second)

	if out := c.Attempt(context.Background(), authorize("o-1", "psp-a", TokenApprove)); out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("before outage: %+v", out)
	}
	clock.Advance(15 * time.Second)
	out := c.Attempt(context.Background(), authorize("o-2", "psp-a", TokenApprove))
	if out.Class != schemas.ClassPSPError || out.PSPCode != "service_unavailable" {
		t.Fatalf("in outage: %+v", out)
	}
	if _, err := c.Status(context.Background(), authorize("o-1", "psp-a", TokenApprove)); err == nil {
		t.Fatalf("status during outage answered")
	}
	if !s.Stats()["psp-a"].Outage {
		t.Errorf("Stats does not show the outage")
	}
	clock.Advance(10 * time.Second)
	if out := c.Attempt(context.Background(), authorize("o-2", "psp-a", TokenApprove)); out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("after outage: %+v", out)
	}

	// The "outage" preset: up at start, down from 30s to 90s.
	b := via.connector(t, s, "psp-b", time.Second)
	clock.Advance(20 * time.Second) // 45s after start
	if out := b.Attempt(context.Background(), authorize("o-3", "psp-b", TokenApprove)); out.Class != schemas.ClassPSPError {
		t.Fatalf("outage preset at 45s: %+v", out)
	}
	clock.Advance(50 * time.Second) // 95s
	if out := b.Attempt(context.Background(), authorize("o-3", "psp-b", TokenApprove)); out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("outage preset at 95s: %+v", out)
	}
}

func TestSetDownAndAdminEndpoints(t *testing.T) { forEachTransport(t, testSetDownAndAdminEndpoints) }

func testSetDownAndAdminEndpoints(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", time.Second)

	if err := s.SetDown("psp-a", true); err != nil {
		t.Fatal(err)
	}
	if out := c.Attempt(context.Background(), authorize("d-1", "psp-a", TokenApprove)); out.Class != schemas.ClassPSPError {
		t.Fatalf("down: %+v", out)
	}
	if err := s.SetDown("psp-a", false); err != nil {
		t.Fatal(err)
	}
	if out := c.Attempt(context.Background(), authorize("d-1", "psp-a", TokenApprove)); out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("up: %+v", out)
	}
	if err := s.SetDown("nope", true); err == nil {
		t.Fatal("SetDown of unknown PSP succeeded")
	}

	post := func(path string) int {
		code, _ := via.do(t, s, http.MethodPost, path, "")
		return code
	}
	if code := post("/sim/psp-a/down"); code != http.StatusOK {
		t.Fatalf("down endpoint: %d", code)
	}
	if !s.Stats()["psp-a"].Down {
		t.Fatal("admin down did not take effect")
	}
	if out := c.Attempt(context.Background(), authorize("d-2", "psp-a", TokenApprove)); out.Class != schemas.ClassPSPError {
		t.Fatalf("down via admin: %+v", out)
	}
	if code := post("/sim/psp-a/up"); code != http.StatusOK {
		t.Fatalf("up endpoint: %d", code)
	}
	if code := post("/sim/nope/down"); code != http.StatusNotFound {
		t.Fatalf("unknown psp: %d", code)
	}

	_, body := via.do(t, s, http.MethodGet, "/sim/approvals?payment_id=d-1", "")
	var rep ApprovalsReport
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total != 1 || rep.Approvals[0].PSP != "psp-a" || rep.Approvals[0].IdempotencyKey == "" || len(rep.Duplicates) != 0 {
		t.Fatalf("approvals report = %+v", rep)
	}

	_, body = via.do(t, s, http.MethodGet, "/sim/stats", "")
	var stats map[string]PSPStats
	if err := json.Unmarshal(body, &stats); err != nil {
		t.Fatal(err)
	}
	if st := stats["psp-a"]; st.Requests != 3 || st.Unavailable != 2 || st.Approved != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestConnectionRefusedIsPSPError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := NewConnector(ConnectorConfig{BaseURL: "http://" + addr, PSP: "psp-a", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	out := c.Attempt(context.Background(), authorize("refused", "psp-a", TokenApprove))
	if out.Class != schemas.ClassPSPError || out.PSPCode != "connection_refused" {
		t.Fatalf("got %+v, want psp_error connection_refused", out)
	}
	if _, err := c.Status(context.Background(), authorize("refused", "psp-a", TokenApprove)); err == nil {
		t.Fatal("Status over a refused connection returned no error")
	}
}

func TestRateLimitProfile(t *testing.T) { forEachTransport(t, testRateLimitProfile) }

func testRateLimitProfile(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {RateLimitRate: 1, RetryAfter: 1500 * time.Millisecond}})
	c := via.connector(t, s, "psp-a", time.Second)
	req := authorize("rl", "psp-a", TokenApprove)
	out := c.Attempt(context.Background(), req)
	if out.Class != schemas.ClassRateLimited || out.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("got %+v", out)
	}
	if st, err := c.Status(context.Background(), req); err != nil || st.Found {
		t.Fatalf("a rate-limited request was processed: %+v %v", st, err)
	}
}

func TestPresetsTestFailureAndTestSuccess(t *testing.T) {
	forEachTransport(t, testPresetsTestFailureAndTestSuccess)
}

func testPresetsTestFailureAndTestSuccess(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"test-failure": {Preset: "test-failure"}, "test-success": {Preset: "test-success"}})
	f := via.connector(t, s, "test-failure", time.Second)
	ok := via.connector(t, s, "test-success", time.Second)
	for i := 0; i < 3; i++ {
		if out := f.Attempt(context.Background(), authorize("tf", "test-failure", TokenApprove)); out.Class != schemas.ClassPSPError || out.PSPCode != "service_unavailable" {
			t.Fatalf("test-failure: %+v", out)
		}
	}
	for _, tok := range []string{TokenApprove, TokenHardDecline, TokenPSP503, TokenTimeout} {
		if out := ok.Attempt(context.Background(), authorize("ts-"+tok, "test-success", tok)); out.Outcome != schemas.OutcomeApproved {
			t.Fatalf("test-success with %s: %+v", tok, out)
		}
	}
}

func TestFollowUpOperations(t *testing.T) { forEachTransport(t, testFollowUpOperations) }

func testFollowUpOperations(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", time.Second)
	auth := c.Attempt(context.Background(), authorize("pay-auth", "psp-a", TokenApprove))
	if auth.Outcome != schemas.OutcomeApproved {
		t.Fatal(auth)
	}
	capture := psp.Request{
		PaymentID:              "pay-capture",
		IdempotencyKey:         psp.IdempotencyKey("pay-capture", "psp-a", schemas.OpCapture),
		Operation:              schemas.OpCapture,
		AmountMinor:            1250,
		Currency:               "EUR",
		AuthorizationReference: auth.Reference,
	}
	if out := c.Attempt(context.Background(), capture); out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("capture: %+v", out)
	}
	bad := capture
	bad.PaymentID = "pay-capture-2"
	bad.IdempotencyKey = psp.IdempotencyKey(bad.PaymentID, "psp-a", schemas.OpCapture)
	bad.AuthorizationReference = "sim-psp-a-999999"
	if out := c.Attempt(context.Background(), bad); out.Class != schemas.ClassInvalidRequest {
		t.Fatalf("capture of unknown reference: %+v", out)
	}
	if n := s.Approvals("pay-capture"); n != 0 {
		t.Errorf("Approvals counts captures: %d", n)
	}
	if len(s.Ledger()) != 2 {
		t.Errorf("ledger = %+v", s.Ledger())
	}
}

func TestInvalidRequests(t *testing.T) { forEachTransport(t, testInvalidRequests) }

func testInvalidRequests(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", time.Second)
	pan := authorize("pan", "psp-a", strings.Repeat("1", 16))
	if out := c.Attempt(context.Background(), pan); out.Class != schemas.ClassInvalidRequest {
		t.Fatalf("digit token accepted: %+v", out)
	}
	noAmount := authorize("zero", "psp-a", TokenApprove)
	noAmount.AmountMinor = 0
	if out := c.Attempt(context.Background(), noAmount); out.Class != schemas.ClassInvalidRequest {
		t.Fatalf("zero amount: %+v", out)
	}
	if code, _ := via.do(t, s, http.MethodPost, "/v1/psp-a/payments", "{nope"); code != http.StatusBadRequest {
		t.Fatalf("bad JSON: %d", code)
	}
	// An unknown PSP is a configuration error: psp_error on attempt, error on status.
	u := via.connector(t, s, "psp-a", time.Second)
	u.paymentURL = via.base(s) + "/v1/psp-zzz/payments"
	u.statusURL = u.paymentURL + "/"
	if out := u.Attempt(context.Background(), authorize("u", "psp-zzz", TokenApprove)); out.Class != schemas.ClassPSPError || out.PSPCode != "unknown_psp" {
		t.Fatalf("unknown psp: %+v", out)
	}
	if _, err := u.Status(context.Background(), authorize("u", "psp-zzz", TokenApprove)); err == nil {
		t.Fatal("status at unknown psp: no error")
	}
}

func TestErrorRateShareIsSeededAndRoughlyConfigured(t *testing.T) {
	forEachTransport(t, testErrorRateShareIsSeededAndRoughlyConfigured)
}

func testErrorRateShareIsSeededAndRoughlyConfigured(t *testing.T, via via) {
	const n = 600
	run := func() []schemas.Class {
		s := startServer(t, map[string]Profile{"psp-a": {ErrorRate: 0.3, ErrorStatus: 500}})
		c := via.connector(t, s, "psp-a", time.Second)
		classes := make([]schemas.Class, n)
		for i := range classes {
			classes[i] = c.Attempt(context.Background(), authorize("er-"+itoa(i), "psp-a", TokenApprove)).Class
		}
		return classes
	}
	a := run()
	errs := 0
	for _, c := range a {
		if c == schemas.ClassPSPError {
			errs++
		}
	}
	share := float64(errs) / n
	if share < 0.25 || share > 0.35 {
		t.Fatalf("error share %.3f, want about 0.3", share)
	}
	b := run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different outcome at %d: %q vs %q", i, a[i], b[i])
		}
	}
}

func TestStopReleasesHeldRequests(t *testing.T) { forEachTransport(t, testStopReleasesHeldRequests) }

func testStopReleasesHeldRequests(t *testing.T, via via) {
	s, err := New(Configuration{Listen: "127.0.0.1:0", Seed: 1, PSPs: map[string]Profile{"psp-a": {}}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := via.connector(t, s, "psp-a", 20*time.Second)
	done := make(chan psp.Outcome, 1)
	go func() { done <- c.Attempt(context.Background(), authorize("held", "psp-a", TokenTimeout)) }()
	// Wait until the request is held.
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats()["psp-a"].Timeouts == 0 {
		if time.Now().After(deadline) {
			t.Fatal("request never held")
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Stop took %v", d)
	}
	out := <-done
	if out.Outcome != schemas.OutcomeApproved {
		t.Fatalf("released request: %+v", out)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Fatal("Start after Stop succeeded")
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestLatencyAndJitterApplied(t *testing.T) { forEachTransport(t, testLatencyAndJitterApplied) }

func testLatencyAndJitterApplied(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {Latency: 30 * time.Millisecond, LatencyJitter: 5 * time.Millisecond}})
	c := via.connector(t, s, "psp-a", time.Second)
	out := c.Attempt(context.Background(), authorize("lat", "psp-a", TokenApprove))
	if out.Latency < 30*time.Millisecond {
		t.Fatalf("latency %v below the configured 30ms", out.Latency)
	}
}

func TestDeclineRate(t *testing.T) { forEachTransport(t, testDeclineRate) }

func testDeclineRate(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {DeclineRate: 1}})
	c := via.connector(t, s, "psp-a", time.Second)
	for i := 0; i < 20; i++ {
		out := c.Attempt(context.Background(), authorize("dr-"+itoa(i), "psp-a", TokenApprove))
		if out.Outcome != schemas.OutcomeDeclined || out.Class.FailsOver() || out.IssuerCode == "" {
			t.Fatalf("got %+v", out)
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
