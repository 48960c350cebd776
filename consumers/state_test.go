package consumers_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/kafka/kafkatest"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/simulator"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

// TestDuplicateRequestChargesOnce sends a payment that fails over, a
// duplicate while it is in flight, and another after it finished: one
// payment, one approval, one final result; the late duplicate gets the
// result replayed.
func TestDuplicateRequestChargesOnce(t *testing.T) {
	s := newStack(t, nil)
	p := payment("p-twice", "tok_fail_at_psp-a", "psp-a", "psp-b")
	s.publish(t, s.request(t, p), s.request(t, p))
	first := s.results(t, 1)["p-twice"]
	if first.Status != schemas.StatusApproved || first.PSP != "psp-b" {
		t.Fatalf("result %s at %s, want APPROVED at psp-b", first.Status, first.PSP)
	}
	s.publish(t, s.request(t, p))
	final, replays := s.resultsAndReplays(t, 1)
	if len(replays) != 1 || replays[0].Status != schemas.StatusApproved || replays[0].PSPReference != final["p-twice"].PSPReference {
		t.Fatalf("late duplicate got %+v, want the approval replayed", replays)
	}
	if n := s.sim.Approvals("p-twice"); n != 1 {
		t.Fatalf("simulator approvals %d, want 1", n)
	}
	attempts := s.readTopic(t, s.cluster.Topics().Attempts, 2)
	if len(attempts) != 2 {
		t.Fatalf("%d attempts, want 2 (psp-a failed, psp-b approved)", len(attempts))
	}
}

// TestKilledProcessorResumesWithoutSecondApproval kills a processor while
// its PSP call is under way (its client closed, nothing committed) and
// starts another: it restores the state, re-processes the request with the
// same idempotency key, and the PSP answers from its stored approval.
func TestKilledProcessorResumesWithoutSecondApproval(t *testing.T) {
	s := newStackWith(t, stackOptions{
		profiles: map[string]simulator.Profile{"psp-slow": {Latency: 200 * time.Millisecond}},
		noStart:  true,
	})
	short := func(c *consumers.Configuration) {
		c.InDoubtWindow = time.Second
		c.TransactionTimeout = 3 * time.Second
	}
	first := s.startProcessor(t, short)
	s.publish(t, s.request(t, payment("p-crash", "tok_approve", "psp-slow")))
	waitFor(t, "the PSP call to start", func() bool { return s.sim.Stats()["psp-slow"].Requests > 0 })
	first.Kill()
	s.startProcessor(t, short)
	res := s.results(t, 1)["p-crash"]
	if res.Status != schemas.StatusApproved {
		t.Fatalf("result %s, want APPROVED", res.Status)
	}
	if n := s.sim.Approvals("p-crash"); n != 1 {
		t.Fatalf("simulator approvals %d, want 1", n)
	}
	if d := s.sim.Duplicates(); len(d) != 0 {
		t.Fatalf("simulator saw conflicting duplicates: %+v", d)
	}
}

// TestResentCallToADownPSPDoesNotFailOver kills a processor after its PSP
// approved the payment but before the answer arrived, and takes that PSP
// down. The next owner re-sends the call and gets a 503, which says
// nothing of the first send: it must inquire, not fail over to psp-b, and
// once the PSP is back it finds the approval.
func TestResentCallToADownPSPDoesNotFailOver(t *testing.T) {
	s := newStackWith(t, stackOptions{
		// Slow enough to kill the processor between the approval and its
		// answer, within the connectors' 300 ms timeout.
		profiles: map[string]simulator.Profile{"psp-slow": {Latency: 250 * time.Millisecond}},
		noStart:  true,
	})
	cfg := func(c *consumers.Configuration) {
		c.InDoubtWindow = time.Minute
		c.InDoubtInitialInterval = 20 * time.Millisecond
		c.TransactionTimeout = 3 * time.Second
	}
	first := s.startProcessor(t, cfg)
	s.publish(t, s.request(t, payment("p-resent", "tok_approve", "psp-slow", "psp-b")))
	waitFor(t, "the first send to be approved", func() bool { return s.sim.Approvals("p-resent") == 1 })
	first.Kill()
	if err := s.sim.SetDown("psp-slow", true); err != nil {
		t.Fatal(err)
	}
	s.startProcessor(t, cfg)
	// The re-send and at least one inquiry are answered 503 (or, wrongly,
	// the payment goes on to psp-b).
	waitFor(t, "the re-send and an inquiry to meet the outage", func() bool {
		st := s.sim.Stats()
		return st["psp-slow"].Unavailable >= 2 || st["psp-b"].Requests > 0
	})
	if err := s.sim.SetDown("psp-slow", false); err != nil {
		t.Fatal(err)
	}
	res := s.results(t, 1)["p-resent"]
	if res.Status != schemas.StatusApproved || res.PSP != "psp-slow" {
		t.Fatalf("result %s at %s, want APPROVED at psp-slow", res.Status, res.PSP)
	}
	if n := s.sim.Approvals("p-resent"); n != 1 {
		t.Fatalf("simulator approvals %d, want 1", n)
	}
	if n := s.sim.Stats()["psp-b"].Requests; n != 0 {
		t.Fatalf("psp-b got %d requests: the payment was failed over on a 503 to a re-send", n)
	}
	if n := s.sim.Stats()["psp-slow"].Requests; n != 2 {
		t.Fatalf("psp-slow got %d payment requests, want 2 (the first send and the re-send)", n)
	}
}

// TestCustomerActions: RETRY after ACTION_REQUIRED re-attempts the same PSP
// (PortOne's user error) and CANCEL ends the payment; an action for a
// payment that waits for none is refused to the DLQ.
func TestCustomerActions(t *testing.T) {
	s := newStack(t, nil)
	s.publish(t,
		s.request(t, payment("p-retry", "tok_customer_error", "psp-a", "psp-b")),
		s.request(t, payment("p-cancel", "tok_customer_error", "psp-a", "psp-b")),
		s.request(t, payment("p-done", "tok_approve", "psp-a")),
	)
	s.results(t, 1)
	action := func(id string, kind schemas.CustomerActionKind, token string) *kgo.Record {
		b, err := s.serde.Encode(&schemas.CustomerAction{PaymentID: id, Action: kind, Token: token, RequestedAtMs: time.Now().UnixMilli()})
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Topic: s.cluster.Topics().Actions, Key: []byte(id), Value: b}
	}
	// Wait for both ACTION_REQUIRED before acting.
	waitFor(t, "ACTION_REQUIRED results", func() bool {
		_, others := s.resultsAndReplays(t, 1)
		return len(others) == 2
	})
	s.publish(t,
		action("p-retry", schemas.ActionRetry, "tok_approve"),
		action("p-cancel", schemas.ActionCancel, ""),
		action("p-done", schemas.ActionCancel, ""),
		action("p-nobody", schemas.ActionRetry, ""),
	)
	results := s.results(t, 3)
	retry := results["p-retry"]
	if retry.Status != schemas.StatusApproved || !equal(pathPSPs(retry), []string{"psp-a", "psp-a"}) {
		t.Errorf("p-retry: %s via %v, want APPROVED via psp-a twice", retry.Status, pathPSPs(retry))
	}
	if c := results["p-cancel"]; c.Status != schemas.StatusCancelled {
		t.Errorf("p-cancel: %s, want CANCELLED", c.Status)
	}
	if d := results["p-done"]; d.Status != schemas.StatusApproved {
		t.Errorf("p-done: %s, want it to stay APPROVED", d.Status)
	}
	reasons := map[string]string{}
	for _, r := range s.readTopic(t, s.cluster.Topics().DLQ, 2) {
		reasons[string(r.Key)] = producers.HeaderValue(r, producers.HeaderDLQReason)
	}
	if reasons["p-done"] != "action_not_applicable" || reasons["p-nobody"] != "unknown_payment" {
		t.Errorf("DLQ reasons %v", reasons)
	}
	if n := s.sim.Approvals("p-retry"); n != 1 {
		t.Errorf("p-retry approvals %d, want 1", n)
	}
}

// TestThreeDSChallengeThenApproval is PortOne's "happy scenario with 3DS":
// the PSP asks for a 3-D Secure challenge, the payment is ACTION_REQUIRED
// with the PSP's action_url (not failed over: the customer, not the PSP,
// must act). Completing the challenge completes that payment at the PSP,
// so the merchant's RETRY asks the PSP about it instead of sending the
// payment again, which would charge the card twice: a RETRY before the
// customer is done gets the same challenge back, the one after it the
// challenged payment's approval. One approval in all.
func TestThreeDSChallengeThenApproval(t *testing.T) {
	s := newStack(t, nil)
	s.publish(t, s.request(t, payment("p-3ds", simulator.Token3DS, "psp-a", "psp-b")))
	challenges := func(want int) schemas.PaymentResult {
		t.Helper()
		var last schemas.PaymentResult
		waitFor(t, "an ACTION_REQUIRED result", func() bool {
			_, interim := s.resultsAndReplays(t, 0)
			n := 0
			for _, r := range interim {
				if r.PaymentID == "p-3ds" && r.Status == schemas.StatusActionRequired {
					n, last = n+1, r
				}
			}
			return n == want
		})
		return last
	}
	retry := func() {
		t.Helper()
		b, err := s.serde.Encode(&schemas.CustomerAction{PaymentID: "p-3ds", Action: schemas.ActionRetry, RequestedAtMs: time.Now().UnixMilli()})
		if err != nil {
			t.Fatal(err)
		}
		s.publish(t, &kgo.Record{Topic: s.cluster.Topics().Actions, Key: []byte("p-3ds"), Value: b})
	}
	challenge := challenges(1)
	if challenge.PSP != "psp-a" || challenge.Class != schemas.ClassCustomerError || !strings.Contains(challenge.ActionURL, "/sim/psp-a/3ds/") {
		t.Fatalf("ACTION_REQUIRED at %s, class %s, action_url %q: want psp-a's challenge URL", challenge.PSP, challenge.Class, challenge.ActionURL)
	}
	// A RETRY while the customer has not completed it: the same challenge.
	retry()
	if again := challenges(2); again.ActionURL != challenge.ActionURL {
		t.Fatalf("RETRY before the challenge is done: action_url %q, want the same %q", again.ActionURL, challenge.ActionURL)
	}
	// The customer completes the challenge at the PSP.
	resp, err := http.Post(challenge.ActionURL, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("completing the challenge: HTTP %d", resp.StatusCode)
	}
	retry()
	res := s.results(t, 1)["p-3ds"]
	if res.Status != schemas.StatusApproved || res.ActionURL != "" || res.PSP != "psp-a" || res.PSPReference != challenge.PSPReference {
		t.Fatalf("after the challenge: %s at %s, reference %q (action_url %q); want APPROVED at psp-a with the challenged payment's reference %q",
			res.Status, res.PSP, res.PSPReference, res.ActionURL, challenge.PSPReference)
	}
	if n := s.sim.Approvals("p-3ds"); n != 1 {
		t.Fatalf("approvals %d, want 1: the RETRY sent the payment again", n)
	}
	if n := s.sim.Stats()["psp-a"].Challenges; n != 1 {
		t.Fatalf("%d challenges at psp-a, want 1: a RETRY sent the payment again", n)
	}
}

// TestAbandonedActionEndsCancelled: a payment that waits for a customer
// action longer than processor.action_timeout ends CANCELLED, without any
// traffic to wake its partition, and a RETRY that comes later is refused;
// one that waits less is not touched.
func TestAbandonedActionEndsCancelled(t *testing.T) {
	s := newStackWith(t, stackOptions{noStart: true})
	var skew atomic.Int64 // how far the processor's clock is ahead
	s.proc = s.startProcessorWith(t, func(c *consumers.Configuration) { c.ActionTimeout = time.Hour },
		func(p *consumers.Processor) {
			consumers.SetClock(p, func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
		})
	s.publish(t, s.request(t, payment("p-abandoned", "tok_customer_error", "psp-a", "psp-b")))
	waitFor(t, "ACTION_REQUIRED of p-abandoned", func() bool {
		_, others := s.resultsAndReplays(t, 0)
		return len(others) == 1
	})
	skew.Store(int64(30 * time.Minute))
	s.publish(t, s.request(t, payment("p-waiting", "tok_customer_error", "psp-a", "psp-b")))
	waitFor(t, "ACTION_REQUIRED of p-waiting", func() bool {
		_, others := s.resultsAndReplays(t, 0)
		return len(others) == 2
	})
	// An hour and a bit after p-abandoned's ACTION_REQUIRED, 35 minutes
	// after p-waiting's.
	skew.Store(int64(65 * time.Minute))
	res := s.results(t, 1)
	got, ok := res["p-abandoned"]
	if !ok || len(res) != 1 {
		t.Fatalf("final results %v, want p-abandoned's alone", res)
	}
	if got.Status != schemas.StatusCancelled || !strings.Contains(got.Reason, "no customer action within 1h0m0s") || got.AttemptCount != 1 {
		t.Fatalf("p-abandoned: %s (%q, %d attempts), want CANCELLED for want of a customer action after its one attempt", got.Status, got.Reason, got.AttemptCount)
	}
	b, err := s.serde.Encode(&schemas.CustomerAction{PaymentID: "p-abandoned", Action: schemas.ActionRetry, Token: "tok_approve", RequestedAtMs: time.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	s.publish(t, &kgo.Record{Topic: s.cluster.Topics().Actions, Key: []byte("p-abandoned"), Value: b})
	dlq := s.readTopic(t, s.cluster.Topics().DLQ, 1)
	if r := producers.HeaderValue(dlq[0], producers.HeaderDLQReason); r != "action_not_applicable" {
		t.Fatalf("a RETRY after the timeout went to the DLQ as %q, want action_not_applicable", r)
	}
	if res, _ := s.resultsAndReplays(t, 1); len(res) != 1 {
		t.Fatalf("final results %v: p-waiting must still wait", res)
	}
	if n := s.sim.Approvals("p-abandoned"); n != 0 {
		t.Fatalf("p-abandoned approved %d times after it was cancelled", n)
	}
}

// TestFollowUpCustomerErrorIsDeclined: a follow-up the PSP refuses with a
// customer error ends DECLINED, not ACTION_REQUIRED (no customer is there
// to act, and a RETRY would lose what made it a follow-up), and its
// reservation is released: a capture of the full amount then goes through.
func TestFollowUpCustomerErrorIsDeclined(t *testing.T) {
	s := newStackWith(t, stackOptions{noStart: true})
	s.connectors = customerErrorOn{reg: s.reg, payment: "cap-ce"}
	s.proc = s.startProcessor(t, nil)
	auth := payment("auth-ce", "tok_approve", "psp-a")
	auth.Operation = schemas.OpAuthorize
	s.publish(t, s.request(t, auth))
	s.results(t, 1)
	capture := func(id, token string) *kgo.Record {
		return s.request(t, &schemas.PaymentRequested{PaymentID: id, ReferencePaymentID: "auth-ce", MerchantID: "m-1",
			Operation: schemas.OpCapture, AmountMinor: auth.AmountMinor, Currency: auth.Currency, RequestedAtMs: time.Now().UnixMilli(),
			PaymentMethod: schemas.PaymentMethod{Token: token, Type: "card", Network: "visa", BIN: "424242", Last4: "4242"}})
	}
	s.publish(t, capture("cap-ce", "tok_customer_error"))
	res := s.results(t, 2)["cap-ce"]
	if res.Status != schemas.StatusDeclined || res.Class != schemas.ClassCustomerError {
		t.Fatalf("capture refused with a customer error: %s class %q, want DECLINED customer_error", res.Status, res.Class)
	}
	s.publish(t, capture("cap-ok", "tok_approve"))
	if res := s.results(t, 3)["cap-ok"]; res.Status != schemas.StatusApproved {
		t.Fatalf("full capture after the refused one: %s (%s), want APPROVED: the reservation was not released", res.Status, res.Reason)
	}
}

// customerErrorOn answers one payment's attempts with a customer error, as
// a PSP that wants the cardholder to authenticate again would; the
// simulator never does for a follow-up.
type customerErrorOn struct {
	reg     *psp.Registry
	payment string
}

func (c customerErrorOn) Get(name string) (psp.Connector, bool) {
	conn, ok := c.reg.Get(name)
	if !ok {
		return nil, false
	}
	return customerErrorConnector{Connector: conn, payment: c.payment}, true
}

func (c customerErrorOn) Fee(name string, in psp.FeeInput) int64 { return c.reg.Fee(name, in) }

type customerErrorConnector struct {
	psp.Connector
	payment string
}

func (c customerErrorConnector) Attempt(ctx context.Context, req psp.Request) psp.Outcome {
	if req.PaymentID == c.payment {
		return psp.Outcome{Outcome: schemas.OutcomeDeclined, Class: schemas.ClassCustomerError, PSPCode: "authentication_required",
			Message: "the cardholder must authenticate"}
	}
	return c.Connector.Attempt(ctx, req)
}

// TestCaptureGoesToTheAuthorizingPSP authorizes a payment that fails over
// to psp-b, then captures it: the capture goes to psp-b, pinned. Follow-ups
// without an authorization are refused clearly.
func TestCaptureGoesToTheAuthorizingPSP(t *testing.T) {
	s := newStack(t, nil)
	auth := payment("auth-1", "tok_fail_at_psp-a", "psp-a", "psp-b")
	auth.Operation = schemas.OpAuthorize
	s.publish(t, s.request(t, auth))
	if r := s.results(t, 1)["auth-1"]; r.Status != schemas.StatusApproved || r.PSP != "psp-b" {
		t.Fatalf("authorization %s at %s, want APPROVED at psp-b", r.Status, r.PSP)
	}
	followUp := func(id string, op schemas.Operation, ref string, amount int64) *kgo.Record {
		f := &schemas.PaymentRequested{PaymentID: id, ReferencePaymentID: ref, MerchantID: "m-1", Operation: op,
			AmountMinor: amount, Currency: "EUR", RequestedAtMs: time.Now().UnixMilli()}
		return s.request(t, f)
	}
	// Follow-ups of one payment have no order among themselves until they
	// reach its partition: like any client, wait for one result before
	// sending a follow-up that depends on it.
	s.publish(t, followUp("cap-1", schemas.OpCapture, "auth-1", 1000), followUp("cap-unknown", schemas.OpCapture, "auth-nope", 100))
	s.results(t, 3)
	s.publish(t, followUp("cap-too-much", schemas.OpCapture, "auth-1", 5000), followUp("void-after-capture", schemas.OpVoid, "auth-1", 1250))
	s.results(t, 5)
	s.publish(t, followUp("refund-1", schemas.OpRefund, "auth-1", 400), s.request(t, auth))
	results, replays := s.resultsAndReplays(t, 6)
	if len(replays) != 1 || replays[0].PaymentID != "auth-1" {
		t.Errorf("a duplicate of the authorization got %+v, want its result replayed", replays)
	}
	want := map[string]schemas.Status{
		"cap-1": schemas.StatusApproved, "cap-too-much": schemas.StatusRejected, "cap-unknown": schemas.StatusRejected,
		"void-after-capture": schemas.StatusRejected, "refund-1": schemas.StatusApproved,
	}
	for id, st := range want {
		r := results[id]
		if r.Status != st {
			t.Errorf("%s: %s (%s), want %s", id, r.Status, r.Reason, st)
		}
		if st == schemas.StatusApproved && (r.PSP != "psp-b" || r.RuleID != "pinned" || len(r.Path) != 1) {
			t.Errorf("%s went to %v (rule %s), want psp-b pinned", id, pathPSPs(r), r.RuleID)
		}
	}
}

// retryOnce is a retry rule (Payrails): a soft decline on the first
// attempt is retried once, at the same PSP, after delay.
func retryOnce(delay time.Duration) []router.RetryRule {
	return []router.RetryRule{{
		ID: "soft-decline-retry-once",
		When: []router.Condition{
			{Field: "class", Op: "equals", Value: "soft_decline"},
			{Field: "attempt", Op: "equals", Value: "2"},
		},
		Action: "same_psp", Delay: delay,
	}}
}

// TestDelayedRetryIsNeverEarlyAndSurvivesARebalance schedules a retry of a
// soft decline through a delay tier, starts a second processor in the group
// while the retry waits (a rebalance), and checks the retry runs once, not
// before it was due.
func TestDelayedRetryIsNeverEarlyAndSurvivesARebalance(t *testing.T) {
	const delay = 2 * time.Second
	s := newStackWith(t, stackOptions{
		delayTiers: []time.Duration{time.Second, 3 * time.Second},
		retryRules: retryOnce(delay),
		// The PSP advises retrying after 1.5s; the rule says 2s: the later wins.
		profiles: map[string]simulator.Profile{"psp-a": {Latency: time.Millisecond, DeclineRetryAfter: 1500 * time.Millisecond}},
		noStart:  true,
	})
	s.startProcessor(t, nil)
	ids := []string{"p-later-1", "p-later-2", "p-later-3", "p-later-4"}
	var recs []*kgo.Record
	for _, id := range ids {
		recs = append(recs, s.request(t, payment(id, "tok_soft_decline", "psp-a", "psp-b")))
	}
	s.publish(t, recs...)
	waitFor(t, "first attempts", func() bool { return len(s.readTopicNow(t, s.cluster.Topics().Attempts)) >= len(ids) })
	s.startProcessor(t, nil) // rebalance while the retries wait
	results := s.results(t, len(ids))
	attempts := map[string][]schemas.AttemptRecorded{}
	for _, r := range s.readTopic(t, s.cluster.Topics().Attempts, 2*len(ids)) {
		var a schemas.AttemptRecorded
		if err := s.serde.Decode(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		attempts[a.PaymentID] = append(attempts[a.PaymentID], a)
	}
	for _, id := range ids {
		res := results[id]
		if res.Status != schemas.StatusDeclined || res.Class != schemas.ClassSoftDecline {
			t.Errorf("%s: %s/%s, want DECLINED soft_decline after the retry", id, res.Status, res.Class)
		}
		as := attempts[id]
		if len(as) != 2 {
			t.Errorf("%s: %d attempts, want 2", id, len(as))
			continue
		}
		if as[1].PSP != "psp-a" {
			t.Errorf("%s: retried at %s, want the same PSP", id, as[1].PSP)
		}
		if early := as[0].FinishedAtMs + delay.Milliseconds() - as[1].StartedAtMs; early > 0 {
			t.Errorf("%s: retry ran %dms before it was due", id, early)
		}
		if as[0].IdempotencyKey == as[1].IdempotencyKey {
			t.Errorf("%s: the retry reused the declined attempt's idempotency key", id)
		}
	}
}

// TestParkedRetriesRunOnceAcrossTwoRebalances parks retries, then adds two
// processors one after the other while they wait. The first processor ends
// no transaction through its session between the two rebalances (it has no
// new input), and the session then passes on only the first revocation: the
// second one, which takes partitions away from it, it swallows. The first
// processor must still forget those partitions, and must not run their
// retries when they come due, or their new owners and it both make them.
func TestParkedRetriesRunOnceAcrossTwoRebalances(t *testing.T) {
	const (
		delay      = 10 * time.Second
		partitions = 6
	)
	s := newStackWith(t, stackOptions{
		delayTiers: []time.Duration{delay},
		retryRules: retryOnce(delay),
		profiles:   map[string]simulator.Profile{"psp-a": {Latency: time.Millisecond, DeclineRetryAfter: time.Second}},
		partitions: partitions,
		noStart:    true,
	})
	first := s.startProcessor(t, nil)
	// One payment per partition: each delay partition then holds only the
	// parked head, and a new owner finds nothing new to read there (new
	// input would end a transaction through the session, which resets it).
	var ids []string
	var recs []*kgo.Record
	taken := map[int32]bool{}
	for i := 0; len(ids) < partitions; i++ {
		id := fmt.Sprintf("p-parked-%d", i)
		if part := s.partitionOf(id); !taken[part] {
			taken[part] = true
			ids = append(ids, id)
			recs = append(recs, s.request(t, payment(id, "tok_soft_decline", "psp-a", "psp-b")))
		}
	}
	s.publish(t, recs...)
	waitFor(t, "every retry to be parked", func() bool {
		parked := 0
		for _, id := range ids {
			for part := range int32(partitions) {
				if st, ok := first.Store().Get(part, id); ok && st.Phase == consumers.PhaseScheduled && st.Scheduled != nil {
					parked++
				}
			}
		}
		return parked == len(ids)
	})
	// Two members: three partitions each; three members: two each. So the
	// second rebalance takes at least one partition from the first
	// processor, in a revocation its session does not pass on.
	second := s.startProcessor(t, nil)
	waitFor(t, "the first rebalance", func() bool {
		return first.Assigned() && second.Assigned() && len(first.Store().Partitions()) == partitions/2
	})
	third := s.startProcessor(t, nil)
	waitFor(t, "the second rebalance", func() bool {
		return first.Assigned() && second.Assigned() && third.Assigned() &&
			len(second.Store().Partitions()) == partitions/3 && len(third.Store().Partitions()) == partitions/3
	})
	if n := len(first.Store().Partitions()); n != partitions/3 {
		t.Errorf("the first processor holds the state of %d partitions after the second rebalance, want %d", n, partitions/3)
	}
	results := s.results(t, len(ids))
	for _, id := range ids {
		if res := results[id]; res.Status != schemas.StatusDeclined || res.AttemptCount != 2 {
			t.Errorf("%s: %s after %d attempts, want DECLINED after 2", id, res.Status, res.AttemptCount)
		}
	}
	// Every request the PSP got: a first attempt and one retry per payment.
	// A retry made by two instances would show here (the second one a
	// replay of the stored answer) even where only one result commits.
	if st := s.sim.Stats()["psp-a"]; st.Requests != int64(2*len(ids)) {
		t.Errorf("psp-a got %d requests (%d replays), want %d", st.Requests, st.Replays, 2*len(ids))
	}
}

// TestInvariantsUnderRandomPSPBehaviour is a property test: random payments
// over PSPs that fail, rate-limit, time out and decline at random, with a
// processor killed and replaced midway. Whatever happens: at most one
// approval per payment at any PSP, exactly one final result per payment,
// and a payment is APPROVED exactly when a PSP approved it.
func TestInvariantsUnderRandomPSPBehaviour(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed-", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			profiles := map[string]simulator.Profile{}
			names := []string{"rnd-a", "rnd-b", "rnd-c"}
			for _, n := range names {
				profiles[n] = simulator.Profile{
					Latency: time.Millisecond, LatencyJitter: 5 * time.Millisecond,
					ErrorRate: rng.Float64() * 0.4, RateLimitRate: rng.Float64() * 0.1,
					TimeoutRate: rng.Float64() * 0.05, DeclineRate: rng.Float64() * 0.2,
				}
			}
			s := newStackWith(t, stackOptions{profiles: profiles, noStart: true})
			short := func(c *consumers.Configuration) {
				c.InDoubtWindow = time.Second
				c.TransactionTimeout = 3 * time.Second
				c.MaxPollRecords = 20
			}
			first := s.startProcessor(t, short)
			tokens := []string{"tok_approve", "tok_approve", "tok_approve", "tok_soft_decline", "tok_hard_decline", "tok_customer_error", "tok_timeout"}
			const n = 120
			var recs []*kgo.Record
			for i := 0; i < n; i++ {
				perm := rng.Perm(len(names))
				var cands []string
				for _, j := range perm[:1+rng.IntN(len(names))] {
					cands = append(cands, names[j])
				}
				p := payment(fmt.Sprintf("prop-%d-%03d", seed, i), tokens[rng.IntN(len(tokens))], cands...)
				recs = append(recs, s.request(t, p))
				if rng.IntN(10) == 0 { // a duplicate request
					recs = append(recs, s.request(t, p))
				}
			}
			s.publish(t, recs[:len(recs)/2]...)
			waitFor(t, "some progress", func() bool { return first.Stats().Committed() > 0 })
			first.Kill()
			s.startProcessor(t, short)
			s.publish(t, recs[len(recs)/2:]...)

			final, waiting := s.answers(t, n)
			for id := range waiting {
				if _, dup := final[id]; dup {
					t.Errorf("%s: ACTION_REQUIRED and a final result", id)
				}
			}
			for i := 0; i < n; i++ {
				id := fmt.Sprintf("prop-%d-%03d", seed, i)
				approvals := s.sim.Approvals(id)
				if approvals > 1 {
					t.Errorf("%s approved %d times", id, approvals)
				}
				res, ok := final[id]
				if !ok {
					continue // waiting for a customer action
				}
				if (res.Status == schemas.StatusApproved) != (approvals == 1) {
					t.Errorf("%s: result %s but %d approvals at the PSPs; path %+v; ledger %+v", id, res.Status, approvals, res.Path, ledgerOf(s, id))
				}
			}
			if d := s.sim.Duplicates(); len(d) != 0 {
				t.Errorf("conflicting duplicate requests at the PSPs: %+v", d)
			}
		})
	}
}

// answers reads payments.results until n payments have an answer: a final
// result, or ACTION_REQUIRED (waiting for the customer). It fails on a
// second final result for any payment.
func (s *stack) answers(t *testing.T, n int) (final map[string]schemas.PaymentResult, waiting map[string]bool) {
	t.Helper()
	tally := func(recs []*kgo.Record) (map[string]schemas.PaymentResult, map[string]bool) {
		final, waiting := map[string]schemas.PaymentResult{}, map[string]bool{}
		for _, r := range recs {
			if producers.HeaderValue(r, consumers.HeaderReplay) != "" {
				continue
			}
			var res schemas.PaymentResult
			if err := s.serde.Decode(r.Value, &res); err != nil {
				t.Fatal(err)
			}
			if res.Status == schemas.StatusActionRequired {
				waiting[res.PaymentID] = true
				continue
			}
			if prev, dup := final[res.PaymentID]; dup {
				t.Errorf("payment %s has two final results: %s then %s", res.PaymentID, prev.Status, res.Status)
			}
			delete(waiting, res.PaymentID)
			final[res.PaymentID] = res
		}
		return final, waiting
	}
	recs := kafkatest.Read(t, s.cluster, s.cluster.Topics().Results, func(recs []*kgo.Record) bool {
		f, w := tally(recs)
		return len(f)+len(w) >= n
	})
	final, waiting = tally(recs)
	if len(final)+len(waiting) != n {
		t.Fatalf("%d payments answered (%d final, %d waiting for the customer), want %d", len(final)+len(waiting), len(final), len(waiting), n)
	}
	return final, waiting
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readTopicNow reads what a topic holds now, read_committed.
func (s *stack) readTopicNow(t *testing.T, topic string) []*kgo.Record {
	t.Helper()
	return kafkatest.ReadNow(t, s.cluster, topic)
}

// TestCardReattemptLimit: a card already reattempted MaxReattempts times in
// the last 30 days (by any payment, on any instance) is not retried again;
// a card one below the limit is.
func TestCardReattemptLimit(t *testing.T) {
	s := newStackWith(t, stackOptions{
		delayTiers: []time.Duration{time.Second},
		retryRules: retryOnce(200 * time.Millisecond),
		profiles:   map[string]simulator.Profile{"psp-a": {Latency: time.Millisecond, DeclineRetryAfter: 100 * time.Millisecond}},
		noStart:    true,
	})
	now := time.Now()
	var ledger []*kgo.Record
	for i := 0; i < consumers.MaxReattempts; i++ {
		at := now.Add(-time.Duration(i) * time.Hour).UnixMilli()
		ledger = append(ledger, &kgo.Record{Topic: s.cluster.Topics().Reattempts, Key: []byte("fp_exhausted"),
			Value: []byte(fmt.Sprintf(`{"payment_id":"old-%d","at_ms":%d}`, i, at))})
		if i < consumers.MaxReattempts-1 {
			ledger = append(ledger, &kgo.Record{Topic: s.cluster.Topics().Reattempts, Key: []byte("fp_one_left"),
				Value: []byte(fmt.Sprintf(`{"payment_id":"old-%d","at_ms":%d}`, i, at))})
		}
	}
	// Reattempts older than the window do not count.
	ledger = append(ledger, &kgo.Record{Topic: s.cluster.Topics().Reattempts, Key: []byte("fp_one_left"),
		Value: []byte(fmt.Sprintf(`{"payment_id":"ancient","at_ms":%d}`, now.Add(-31*24*time.Hour).UnixMilli()))})
	s.publish(t, ledger...)
	s.startProcessor(t, nil)
	exhausted := payment("p-card-exhausted", "tok_soft_decline", "psp-a")
	exhausted.PaymentMethod.Fingerprint = "fp_exhausted"
	oneLeft := payment("p-card-one-left", "tok_soft_decline", "psp-a")
	oneLeft.PaymentMethod.Fingerprint = "fp_one_left"
	s.publish(t, s.request(t, exhausted), s.request(t, oneLeft))
	s.results(t, 2)
	perPayment := map[string]int{}
	for _, r := range s.readTopic(t, s.cluster.Topics().Attempts, 3) {
		var a schemas.AttemptRecorded
		if err := s.serde.Decode(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		perPayment[a.PaymentID]++
	}
	if perPayment["p-card-exhausted"] != 1 || perPayment["p-card-one-left"] != 2 {
		t.Fatalf("attempts %v: want the exhausted card tried once and the other retried once", perPayment)
	}
}

// TestRetryRuleNamesAnotherPSP: Payrails' "retry failed psp-a
// authorizations with another provider": a retry rule sends the payment to
// a PSP outside its ranked list.
func TestRetryRuleNamesAnotherPSP(t *testing.T) {
	s := newStackWith(t, stackOptions{
		delayTiers: []time.Duration{time.Second},
		retryRules: []router.RetryRule{{
			ID:     "psp-a-errors-to-test-success",
			When:   []router.Condition{{Field: "last_psp", Op: "equals", Value: "psp-a"}, {Field: "class", Op: "equals", Value: "psp_error"}},
			Action: "psp", PSP: "test-success",
		}},
	})
	s.publish(t, s.request(t, payment("p-named", "tok_fail_at_psp-a", "psp-a")))
	res := s.results(t, 1)["p-named"]
	if res.Status != schemas.StatusApproved || !equal(pathPSPs(res), []string{"psp-a", "test-success"}) {
		t.Fatalf("result %s via %v, want APPROVED via psp-a then test-success", res.Status, pathPSPs(res))
	}
}

// TestSlowPSPDoesNotStallOtherPayments: payments at a PSP that takes a
// long time to answer do not hold back payments at a fast PSP in the same
// partitions: every fast payment's result is published before any slow one.
func TestSlowPSPDoesNotStallOtherPayments(t *testing.T) {
	s := newStackWith(t, stackOptions{
		profiles: map[string]simulator.Profile{"psp-slow": {Latency: 250 * time.Millisecond}},
		processor: func(c *consumers.Configuration) {
			c.MaxInFlightPerPSP = 4
		},
	})
	var recs []*kgo.Record
	for i := 0; i < 8; i++ {
		recs = append(recs, s.request(t, payment(fmt.Sprintf("slow-%d", i), "tok_approve", "psp-slow")))
		recs = append(recs, s.request(t, payment(fmt.Sprintf("fast-%d", i), "tok_approve", "psp-a")))
	}
	s.publish(t, recs...)
	s.results(t, 16)
	var order []string
	for _, r := range s.readTopicNow(t, s.cluster.Topics().Results) {
		order = append(order, string(r.Key))
	}
	// Records of all partitions: compare by when they were written.
	byTime := s.readTopicNow(t, s.cluster.Topics().Results)
	lastFast, firstSlow := time.Time{}, time.Time{}
	for _, r := range byTime {
		if string(r.Key[:4]) == "fast" && r.Timestamp.After(lastFast) {
			lastFast = r.Timestamp
		}
		if string(r.Key[:4]) == "slow" && (firstSlow.IsZero() || r.Timestamp.Before(firstSlow)) {
			firstSlow = r.Timestamp
		}
	}
	if !lastFast.Before(firstSlow) {
		t.Fatalf("a fast payment's result came after a slow one's: fast results waited on the slow PSP (%v)", order)
	}
}

// TestCallsWaitAheadOfFreeSlots: with a backlog, max_in_flight calls run,
// all PSPs together, and more payments are admitted ahead, their calls
// waiting, so that a call that ends is followed at once by the next; every
// payment still gets its one result.
func TestCallsWaitAheadOfFreeSlots(t *testing.T) {
	slow := simulator.Profile{Latency: 100 * time.Millisecond}
	s := newStackWith(t, stackOptions{
		partitions: 1,
		profiles:   map[string]simulator.Profile{"psp-slow": slow, "psp-slow-2": slow},
		processor: func(c *consumers.Configuration) {
			c.MaxInFlight, c.MaxInFlightPerPSP, c.MaxPollRecords = 4, 4, 4
		},
	})
	var recs []*kgo.Record
	for i := 0; i < 32; i++ {
		recs = append(recs, s.request(t, payment(fmt.Sprintf("p-%02d", i), "tok_approve", []string{"psp-slow", "psp-slow-2"}[i%2])))
	}
	var (
		over, ahead atomic.Bool
		stop        = make(chan struct{})
		sampled     = make(chan struct{})
	)
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			r1, q1 := s.proc.Calls("psp-slow")
			r2, q2 := s.proc.Calls("psp-slow-2")
			if r1+r2 > 4 {
				over.Store(true)
			}
			if r1+r2 == 4 && q1+q2 > 0 {
				ahead.Store(true)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	s.publish(t, recs...)
	results := s.results(t, 32)
	close(stop)
	<-sampled
	if over.Load() {
		t.Fatal("more than max_in_flight (4) calls under way at once")
	}
	if !ahead.Load() {
		t.Fatal("never saw calls waiting ahead of the 4 busy slots")
	}
	for id, res := range results {
		if res.Status != schemas.StatusApproved {
			t.Fatalf("%s: %s, want APPROVED", id, res.Status)
		}
	}
	if n := len(s.sim.Ledger()); n != 32 {
		t.Fatalf("%d approvals at the PSPs for 32 payments", n)
	}
}

// TestStuckPSPPaymentsFailOverUnsent: payments that wait longer than
// queue_timeout for a slot at a PSP that takes too long fail over, never
// sent there, and the payments of other PSPs go on: every payment is
// approved once.
func TestStuckPSPPaymentsFailOverUnsent(t *testing.T) {
	s := newStackWith(t, stackOptions{
		partitions: 1,
		profiles:   map[string]simulator.Profile{"psp-slow": {Latency: 250 * time.Millisecond}},
		processor: func(c *consumers.Configuration) {
			c.MaxInFlight, c.MaxInFlightPerPSP, c.QueueTimeout = 4, 2, 200*time.Millisecond
		},
	})
	var recs []*kgo.Record
	for i := 0; i < 10; i++ {
		recs = append(recs, s.request(t, payment(fmt.Sprintf("slow-%d", i), "tok_approve", "psp-slow", "psp-a")))
		recs = append(recs, s.request(t, payment(fmt.Sprintf("fast-%d", i), "tok_approve", "psp-a", "psp-b")))
	}
	s.publish(t, recs...)
	results := s.results(t, 20)
	shed := 0
	for id, res := range results {
		if res.Status != schemas.StatusApproved {
			t.Fatalf("%s: %s (%s), want APPROVED", id, res.Status, res.Reason)
		}
		if n := s.sim.Approvals(id); n != 1 {
			t.Fatalf("%s approved %d times", id, n)
		}
		if len(res.Path) == 2 && res.Path[0].PSPCode == consumers.PSPCodeQueueTimeout {
			shed++
			if res.Path[0].PSP != "psp-slow" || res.Path[0].Class != schemas.ClassRateLimited || res.PSP != "psp-a" {
				t.Fatalf("%s: path %+v, want psp-slow queue_timeout then psp-a", id, res.Path)
			}
			if n := len(ledgerOf(s, id)); n != 1 {
				t.Fatalf("%s: %d approvals in the ledger", id, n)
			}
		}
	}
	// psp-slow takes 2 at a time, 250 ms each: of 10, the later ones wait
	// more than 200 ms.
	if shed == 0 {
		t.Fatal("no payment failed over after waiting for psp-slow")
	}
	if got := s.sim.Stats()["psp-slow"].Requests; got != int64(10-shed) {
		t.Fatalf("psp-slow saw %d requests; %d of 10 payments were never to be sent there", got, shed)
	}
}

// TestFailedBatchKeepsItsFinishedCalls: a batch holding finished PSP calls
// fails with an error (EndTxn refused), and the processor restarts its
// session. The calls' outcomes are not lost with the batch: the payment
// ends with its one result. (Dropped, they left the payment marked as
// being called, the reloaded state's call was ignored, and the payment
// waited for ever: the chaos harness's long run found 164 such.)
func TestFailedBatchKeepsItsFinishedCalls(t *testing.T) {
	s := newStackWith(t, stackOptions{
		partitions: 1,
		profiles:   map[string]simulator.Profile{"psp-slow": {Latency: 200 * time.Millisecond}},
		// The refused EndTxn leaves the transaction open at the broker until
		// it times out, and the restore waits for that.
		processor: func(c *consumers.Configuration) { c.TransactionTimeout = 2 * time.Second },
	})
	s.publish(t, s.request(t, payment("p-endtxn", "tok_approve", "psp-slow")))
	waitFor(t, "the call under way", func() bool { running, _ := s.proc.Calls("psp-slow"); return running == 1 })
	kc := s.emb.Cluster()
	var refused atomic.Int32
	kc.ControlKey(int16(kmsg.EndTxn), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if refused.Load() >= 1 {
			return nil, nil, false
		}
		refused.Add(1)
		resp := kreq.(*kmsg.EndTxnRequest).ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil, true
	})
	res := s.results(t, 1)["p-endtxn"]
	if res.Status != schemas.StatusApproved || s.sim.Approvals("p-endtxn") != 1 {
		t.Fatalf("result %s, %d approvals; want APPROVED once", res.Status, s.sim.Approvals("p-endtxn"))
	}
	if refused.Load() == 0 || s.proc.Stats().Restarts() == 0 {
		t.Fatalf("%d EndTxn refused, %d session restarts: the test did not fail a batch", refused.Load(), s.proc.Stats().Restarts())
	}
}

func ledgerOf(s *stack, id string) []simulator.Approval {
	var out []simulator.Approval
	for _, a := range s.sim.Ledger() {
		if a.PaymentID == id {
			out = append(out, a)
		}
	}
	return out
}

// TestStateFromANewerVersionStopsForGood puts on the changelog a payment
// state written by a newer build. An instance that cannot read it must not
// process that partition (it would forget the payment), and no restart can
// mend that: it stops for good and says so (OnFatal, Err), so that it is
// seen and upgraded, rather than restarting in a loop.
func TestStateFromANewerVersionStopsForGood(t *testing.T) {
	s := newStackWith(t, stackOptions{noStart: true})
	newer := &kgo.Record{Topic: s.cluster.Topics().State, Key: []byte("p-newer"), Partition: 0,
		Value: []byte(`{"v":99,"payment_id":"p-newer","phase":"final"}`)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client.ProduceSync(ctx, newer).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fatal := make(chan error, 1)
	proc := s.startProcessorWith(t, nil, func(p *consumers.Processor) {
		p.OnFatal(func(err error) { fatal <- err })
	})
	select {
	case err := <-fatal:
		if !strings.Contains(err.Error(), "version 99") {
			t.Errorf("stopped with %v, want the unreadable state named", err)
		}
		if proc.Err() == nil || proc.Assigned() {
			t.Errorf("after a fatal stop: Err %v, Assigned %v", proc.Err(), proc.Assigned())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the processor did not stop")
	}
	proc.Kill() // its Stop would report the error the test expects
}
