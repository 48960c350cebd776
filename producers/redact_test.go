package producers

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/schemas"
	"github.com/payroute/payroute/schemas/schemastest"
)

// Error text quoting a card number (a decoder quotes the value it choked
// on, a PSP echoes what it was sent) reaches no header: the number is
// redacted, even cut in groups, even where cutting the text to its bound
// would split it.
func TestDeadLetterRedactsCardNumbers(t *testing.T) {
	r := newRecords(t)
	pan := schemastest.CardNumber("4" + strings.Repeat("0", 14))
	grouped := pan[:4] + " " + pan[4:8] + " " + pan[8:12] + " " + pan[12:]
	src := &kgo.Record{Topic: "payments.requested", Key: []byte("p-3"), Value: []byte("raw")}
	kept := len(clip(strings.Repeat("x", 2*MaxDLQErrorBytes), MaxDLQErrorBytes)) - len("…(truncated)") // bytes before the mark
	pan19 := schemastest.CardNumber(pan + "00")
	for _, c := range []struct {
		cause error
		cut   bool // the number is where the text is cut
	}{
		{errors.New("cannot decode binary bytes: negative size: -" + pan), false},
		{errors.New("psp-a: invalid_number card " + grouped + " is invalid"), false},
		// The cut keeps 15 digits of a 19-digit card number: no longer a
		// card number, but most of one. Redacting after the cut only would
		// keep them.
		{errors.New(strings.Repeat("x", kept-15) + pan19 + strings.Repeat("y", 100)), true},
		// The cut keeps 16 digits of a 20-digit run, which is no card
		// number, but the 16 are: redacting before the cut only would
		// keep them.
		{errors.New(strings.Repeat("x", kept-16) + pan + "0000" + strings.Repeat("y", 100)), true},
	} {
		dl := r.DeadLetter(src, "malformed", "", c.cause)
		msg := HeaderValue(dl, HeaderDLQError)
		if schemas.ContainsPAN(msg) || strings.Contains(msg, pan[:13]) || !c.cut && !strings.Contains(msg, schemas.Redacted) || len(msg) > MaxDLQErrorBytes {
			t.Errorf("error header %q (%d bytes)", msg, len(msg))
		}
		for _, h := range dl.Headers {
			if schemas.ContainsPAN(string(h.Value)) {
				t.Errorf("header %s carries the card number", h.Key)
			}
		}
		if string(dl.Value) != "raw" {
			t.Errorf("the value was not kept")
		}
	}
}

// Results, attempts and retries carry their free text redacted; the
// caller's event is left as it was.
func TestOutputsRedactCardNumbers(t *testing.T) {
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	r := newRecords(t)
	pan := schemastest.CardNumber("4" + strings.Repeat("0", 14))
	text := "psp-a: card " + pan + " declined"
	check := func(what string, rec *kgo.Record, err error, v any, field func() string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if schemas.ContainsPAN(string(rec.Value)) {
			t.Errorf("%s: the record carries the card number", what)
		}
		if err := serde.Decode(rec.Value, v); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := field(); got != "psp-a: card "+schemas.Redacted+" declined" {
			t.Errorf("%s: %q", what, got)
		}
	}

	res := &schemas.PaymentResult{PaymentID: "p-4", Operation: schemas.OpCharge, Status: schemas.StatusRejected,
		Class: schemas.ClassInvalidRequest, Currency: "EUR", Reason: text}
	rec, err := r.Result(res)
	var gotRes schemas.PaymentResult
	check("result", rec, err, &gotRes, func() string { return gotRes.Reason })
	if res.Reason != text {
		t.Errorf("the caller's result was changed")
	}

	a := &schemas.AttemptRecorded{AttemptID: "p-4-1", PaymentID: "p-4", AttemptNumber: 1, Rank: 1, PSP: "psp-a",
		Operation: schemas.OpCharge, Currency: "EUR", Outcome: schemas.OutcomeDeclined, Class: schemas.ClassHardDecline, Message: text}
	rec, err = r.Attempt(a)
	var gotA schemas.AttemptRecorded
	check("attempt", rec, err, &gotA, func() string { return gotA.Message })

	f := &schemas.AttemptFailed{PaymentID: "p-4", NextRank: 2, Message: text,
		Failure: schemas.AttemptSummary{PSP: "psp-a", Rank: 1, Outcome: schemas.OutcomeError, Class: schemas.ClassPSPError},
		Request: schemas.PaymentRequested{PaymentID: "p-4", Operation: schemas.OpCharge, Currency: "EUR"}}
	rec, err = r.Retry(f)
	var gotF schemas.AttemptFailed
	check("retry", rec, err, &gotF, func() string { return gotF.Message })
	if f.Message != text {
		t.Errorf("the caller's retry was changed")
	}
}
