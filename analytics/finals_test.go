package analytics

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/schemas"
)

// undecodedRejection is the REJECTED result of a request that could not be
// decoded: no request time, no PSP.
func undecodedRejection(id string, at time.Time) *schemas.PaymentResult {
	return &schemas.PaymentResult{PaymentID: id, Operation: schemas.OpUnknown, Status: schemas.StatusRejected,
		Class: schemas.ClassInvalidRequest, Reason: "malformed: not Avro", CompletedAtMs: at.UnixMilli()}
}

// replay is res republished for a duplicate request, as the processor does.
func (e *env) replay(t *testing.T, res *schemas.PaymentResult) *kgo.Record {
	t.Helper()
	rec, err := e.records.Result(res)
	if err != nil {
		t.Fatal(err)
	}
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: producers.HeaderReplay, Value: []byte("duplicate_request")})
	return rec
}

// final_payments_minute counts each payment once, by its final result:
// not its ACTION_REQUIRED results, not the copies republished for
// duplicate requests. Its time to final leaves out the payment whose
// request could not be decoded (no request time). payments_minute counted
// all of them.
func TestFinalPaymentsMinuteCountsEachPaymentOnce(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	e := newEnv(t)
	c := openTest(t, cfg)
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }

	// A: ACTION_REQUIRED, then approved on the customer's RETRY.
	a1 := attempt("m-1", "fin-a", 1, "psp-a", "", schemas.ClassCustomerError, at(1))
	a2 := attempt("m-1", "fin-a", 2, "psp-a", "psp-a", schemas.ClassNone, at(5))
	aWait, aFinal := result(schemas.StatusActionRequired, a1), result(schemas.StatusApproved, a1, a2)
	// B: approved, and asked for again.
	b1 := attempt("m-1", "fin-b", 1, "psp-a", "", schemas.ClassNone, at(2))
	bFinal := result(schemas.StatusApproved, b1)
	// C: ACTION_REQUIRED, asked for again while waiting, then declined.
	c1 := attempt("m-1", "fin-c", 1, "psp-b", "", schemas.ClassCustomerError, at(3))
	c2 := attempt("m-1", "fin-c", 2, "psp-b", "psp-b", schemas.ClassHardDecline, at(8))
	cWait, cFinal := result(schemas.StatusActionRequired, c1), result(schemas.StatusDeclined, c1, c2)
	// D: undecodable, rejected.
	dFinal := undecodedRejection("fin-d", at(4))
	// E: failed over and approved.
	e1 := attempt("m-1", "fin-e", 1, "psp-a", "", schemas.ClassPSPError, at(6))
	e2 := attempt("m-1", "fin-e", 2, "psp-b", "psp-a", schemas.ClassNone, at(7))
	eFinal := result(schemas.StatusApproved, e1, e2)

	events := []any{a1, aWait, b1, bFinal, e.replay(t, bFinal), c1, cWait, e.replay(t, cWait), dFinal,
		a2, aFinal, e1, e2, eFinal, c2, cFinal, e.replay(t, bFinal)}
	e.publish(t, events...)
	s := e.startSink(t, cfg)
	waitFor(t, 30*time.Second, "all records committed", func() bool { return s.Stats().Committed == int64(len(events)) })
	if st := s.Stats(); st.Replays != 3 || st.PaymentsInserted != 7 {
		t.Fatalf("stats: %d replays, %d payment rows; want 3 and 7", st.Replays, st.PaymentsInserted)
	}

	finals := []*schemas.PaymentResult{aFinal, bFinal, cFinal, eFinal} // with a request time
	var ttf uint64
	for _, r := range finals {
		ttf += uint64(r.CompletedAtMs - r.RequestedAtMs)
	}
	for q, want := range map[string]uint64{
		"sum(results)":                                           7, // A twice, B, C twice, D, E
		"sum(payments)":                                          5,
		"sumIf(payments, status = 'APPROVED')":                   3,
		"sumIf(payments, status = 'ACTION_REQUIRED')":            0,
		"sum(attempts)":                                          7, // A 2, B 1, C 2, D 0, E 2
		"sum(failed_over)":                                       1,
		"toUInt64(sum(amount_minor_sum))":                        4 * 1299,
		"sum(timed_payments)":                                    4,
		"sum(time_to_final_ms_sum)":                              ttf,
		"sumIf(payments, psp = 'psp-b' AND first_psp = 'psp-a')": 1,
	} {
		if got := count(t, c, "SELECT "+q+" FROM "+c.table("final_payments_minute")); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}

	d, err := Report(context.Background(), c, ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Payments != 5 || d.Status(schemas.StatusApproved) != 3 || d.ActionRequired != 2 {
		t.Errorf("report: %d payments, statuses %+v, %d ACTION_REQUIRED", d.Payments, d.Statuses, d.ActionRequired)
	}
	for _, st := range d.Statuses {
		if st.Status == schemas.StatusActionRequired {
			t.Errorf("the report lists ACTION_REQUIRED as a final status")
		}
	}
}

// The REJECTED result of an undecodable request has no request time: its
// time_to_final_ms is 0 (unknown), not the time since 1970, and so is that
// of a result stamped before its request.
func TestTimeToFinalOfUnknownRequestTimeIsZero(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	e := newEnv(t)
	c := openTest(t, cfg)
	a := attempt("m-1", "ttf-ok", 1, "psp-a", "", schemas.ClassNone, base)
	ok := result(schemas.StatusApproved, a)
	skewed := result(schemas.StatusApproved, attempt("m-1", "ttf-skewed", 1, "psp-a", "", schemas.ClassNone, base))
	skewed.RequestedAtMs = skewed.CompletedAtMs + 1000
	events := []any{a, ok, undecodedRejection("ttf-undecoded", base), skewed}
	e.publish(t, events...)
	s := e.startSink(t, cfg)
	waitFor(t, 30*time.Second, "all records committed", func() bool { return s.Stats().Committed == int64(len(events)) })
	for id, want := range map[string]uint64{
		"ttf-ok": uint64(ok.CompletedAtMs - ok.RequestedAtMs), "ttf-undecoded": 0, "ttf-skewed": 0,
	} {
		var got uint64
		if err := c.QueryRow(context.Background(), "SELECT time_to_final_ms FROM "+c.table("payments")+" WHERE payment_id = ?", id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: time_to_final_ms %d, want %d", id, got, want)
		}
	}
}
