package router_test

import (
	"testing"
	"time"

	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

func decisionOf(version string, psps ...string) schemas.Decision {
	d := schemas.Decision{ConfigVersion: version, RuleID: "r"}
	for i, p := range psps {
		d.Candidates = append(d.Candidates, schemas.Candidate{PSP: p, Method: "card", Rank: int32(i + 1)})
	}
	return d
}

// TestRetryAction runs the retry rules of deploy/examples/payrails-rules.yaml
// (seed 003's when and where) and the defaults by class.
func TestRetryAction(t *testing.T) {
	r := loadRouter(t, "../deploy/examples/payrails-rules.yaml", payrailsPSPs)
	stripeFirst := decisionOf("payrails-2024-06-01", "stripe", "adyen")
	adyenFirst := decisionOf("payrails-2024-06-01", "adyen", "stripe")
	tests := []struct {
		name string
		in   router.RetryInput
		want router.RetryAction
	}{
		{
			name: "insufficient funds: same PSP in 24 hours",
			in:   router.RetryInput{Class: schemas.ClassSoftDecline, PSPCode: "insufficient_funds", AttemptNumber: 1, LastPSP: "stripe", Decision: stripeFirst, Rank: 1},
			want: router.RetryAction{Kind: router.RetrySamePSP, PSP: "stripe", Method: "card", Delay: 24 * time.Hour, RuleID: "insufficient-funds-tomorrow"},
		},
		{
			name: "insufficient funds after the third attempt: no rule, declines stop",
			in:   router.RetryInput{Class: schemas.ClassSoftDecline, PSPCode: "insufficient_funds", AttemptNumber: 3, LastPSP: "stripe", Decision: stripeFirst, Rank: 1},
			want: router.RetryAction{Kind: router.RetryStop, RuleID: router.RetryRuleDefault},
		},
		{
			name: "other soft decline: stop",
			in:   router.RetryInput{Class: schemas.ClassSoftDecline, PSPCode: "issuer_unavailable", AttemptNumber: 1, Decision: stripeFirst, Rank: 1},
			want: router.RetryAction{Kind: router.RetryStop, RuleID: router.RetryRuleDefault},
		},
		{
			name: "last provider Stripe: retry with Adyen",
			in:   router.RetryInput{Class: schemas.ClassPSPError, AttemptNumber: 1, LastPSP: "stripe", Decision: stripeFirst, Rank: 1},
			want: router.RetryAction{Kind: router.RetryNamedPSP, PSP: "adyen", Method: "card", RuleID: "stripe-failed-adyen"},
		},
		{
			name: "second attempt: Checkout.com whatever the first provider",
			in:   router.RetryInput{Class: schemas.ClassRateLimited, AttemptNumber: 1, LastPSP: "adyen", Decision: adyenFirst, Rank: 1},
			want: router.RetryAction{Kind: router.RetryNamedPSP, PSP: "checkout", Method: "card", RuleID: "second-attempt-checkout"},
		},
		{
			name: "no rule for a PSP error: next rank",
			in:   router.RetryInput{Class: schemas.ClassPSPError, AttemptNumber: 2, LastPSP: "adyen", Decision: adyenFirst, Rank: 1},
			want: router.RetryAction{Kind: router.RetryNextRank, PSP: "stripe", Method: "card", Rank: 2, RuleID: router.RetryRuleDefault},
		},
		{
			name: "no rank left: stop",
			in:   router.RetryInput{Class: schemas.ClassPSPError, AttemptNumber: 2, LastPSP: "adyen", Decision: stripeFirst, Rank: 2},
			want: router.RetryAction{Kind: router.RetryStop, RuleID: router.RetryRuleDefault},
		},
		{
			name: "hard decline: never retried",
			in:   router.RetryInput{Class: schemas.ClassHardDecline, AttemptNumber: 1, LastPSP: "stripe", Decision: stripeFirst, Rank: 1},
			want: router.RetryAction{Kind: router.RetryStop, RuleID: router.RetryRuleNever},
		},
		{
			name: "customer error: the customer decides",
			in:   router.RetryInput{Class: schemas.ClassCustomerError, AttemptNumber: 1, LastPSP: "stripe", Decision: stripeFirst, Rank: 1},
			want: router.RetryAction{Kind: router.RetryStop, RuleID: router.RetryRuleNever},
		},
		{
			name: "in doubt: never failed over blind",
			in:   router.RetryInput{Class: schemas.ClassInDoubt, AttemptNumber: 1, LastPSP: "stripe", Decision: stripeFirst, Rank: 1},
			want: router.RetryAction{Kind: router.RetryStop, RuleID: router.RetryRuleNever},
		},
		{
			name: "invalid request",
			in:   router.RetryInput{Class: schemas.ClassInvalidRequest, AttemptNumber: 1, Decision: stripeFirst, Rank: 1},
			want: router.RetryAction{Kind: router.RetryStop, RuleID: router.RetryRuleNever},
		},
		{
			name: "max_attempts reached",
			in:   router.RetryInput{Class: schemas.ClassPSPError, AttemptNumber: 10, LastPSP: "stripe", Decision: stripeFirst, Rank: 1},
			want: router.RetryAction{Kind: router.RetryStop, RuleID: router.RetryRuleLimit},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.RetryAction(tt.in)
			if got.Reason == "" || got.ConfigVersion != "payrails-2024-06-01" {
				t.Fatalf("reason %q, version %q", got.Reason, got.ConfigVersion)
			}
			got.Reason, got.ConfigVersion = "", ""
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestRetryFields covers the retry fields and payment fields in retry rules.
func TestRetryFields(t *testing.T) {
	cfg := router.DefaultConfiguration()
	cfg.RetryRules = []router.RetryRule{
		{ID: "issuer-51", When: []router.Condition{cond("issuer_code", "equals", "51")}, Action: "stop"},
		{ID: "eur-rank-2", When: []router.Condition{cond("currency", "equals", "EUR"), cond("rank", "equals", "2")}, Action: "psp", PSP: "psp-c"},
		{ID: "big", When: []router.Condition{cond("amount_minor", "gte", "100000")}, Action: "same_psp", Delay: time.Minute},
		{ID: "class", When: []router.Condition{cond("class", "not_equals", "psp_error"), cond("psp_code", "starts_with", "try_")}, Action: "next_rank", Delay: time.Second},
	}
	r, err := router.New(cfg, knownPSPs, router.ExcludeFromFailover("psp-b"))
	if err != nil {
		t.Fatal(err)
	}
	eur := event()
	big := event()
	big.Currency, big.AmountMinor = "USD", 250000
	d := decisionOf("v1", "psp-a", "psp-b", "psp-c")
	tests := []struct {
		name string
		in   router.RetryInput
		kind router.RetryKind
		rule string
		psp  string
	}{
		{"issuer code", router.RetryInput{Class: schemas.ClassSoftDecline, IssuerCode: "51", AttemptNumber: 1, Decision: d, Rank: 1}, router.RetryStop, "issuer-51", ""},
		{"payment field and rank", router.RetryInput{Class: schemas.ClassPSPError, AttemptNumber: 2, Decision: d, Rank: 2, Request: eur}, router.RetryNamedPSP, "eur-rank-2", "psp-c"},
		{"payment fields need the request", router.RetryInput{Class: schemas.ClassPSPError, AttemptNumber: 2, Decision: d, Rank: 2}, router.RetryNextRank, router.RetryRuleDefault, "psp-c"},
		{"amount, same PSP without LastPSP", router.RetryInput{Class: schemas.ClassPSPError, AttemptNumber: 1, Decision: d, Rank: 3, Request: big}, router.RetrySamePSP, "big", "psp-c"},
		{"class not_equals, next rank", router.RetryInput{Class: schemas.ClassRateLimited, PSPCode: "try_later", AttemptNumber: 1, Decision: d, Rank: 2}, router.RetryNextRank, "class", "psp-c"},
		// A decision of an older version may rank an account excluded since.
		{"next rank excluded from failover is skipped", router.RetryInput{Class: schemas.ClassPSPError, AttemptNumber: 1, Decision: d, Rank: 1}, router.RetryNextRank, router.RetryRuleDefault, "psp-c"},
		{"nothing left after skipping", router.RetryInput{Class: schemas.ClassPSPError, AttemptNumber: 1, Decision: decisionOf("v1", "psp-a", "psp-b"), Rank: 1}, router.RetryStop, router.RetryRuleDefault, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.RetryAction(tt.in)
			if got.Kind != tt.kind || got.RuleID != tt.rule || got.PSP != tt.psp {
				t.Fatalf("got %+v, want %s by %s to %q", got, tt.kind, tt.rule, tt.psp)
			}
			// A next rank names the rank, hence the retry topic, of its PSP.
			if got.Kind == router.RetryNextRank && (got.Rank < 1 || d.Candidates[got.Rank-1].PSP != got.PSP) {
				t.Fatalf("rank %d for %s", got.Rank, got.PSP)
			}
			if got.Kind != router.RetryNextRank && got.Rank != 0 {
				t.Fatalf("rank %d on %s", got.Rank, got.Kind)
			}
		})
	}
}

// TestRetryFollowUpNeverFailsOver: a capture pinned to the authorizing PSP
// is retried there or not at all.
func TestRetryFollowUpNeverFailsOver(t *testing.T) {
	r := loadRouter(t, "../deploy/examples/payrails-rules.yaml", payrailsPSPs)
	capture := event()
	capture.Operation, capture.ReferencePaymentID = schemas.OpCapture, "pay_auth"
	d, err := r.RouteFollowUp(capture, "stripe")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []router.RetryInput{
		{Class: schemas.ClassPSPError, AttemptNumber: 1, LastPSP: "stripe", Decision: d, Rank: 1, Request: capture},    // rule: stripe → adyen
		{Class: schemas.ClassRateLimited, AttemptNumber: 3, LastPSP: "stripe", Decision: d, Rank: 1, Request: capture}, // default: next rank
	} {
		if a := r.RetryAction(in); a.Kind != router.RetryStop || a.PSP != "" {
			t.Fatalf("follow-up failed over: %+v", a)
		}
	}
	in := router.RetryInput{Class: schemas.ClassSoftDecline, PSPCode: "insufficient_funds", AttemptNumber: 1, Decision: d, Rank: 1, Request: capture}
	if a := r.RetryAction(in); a.Kind != router.RetrySamePSP || a.PSP != "stripe" {
		t.Fatalf("same-PSP retry of a follow-up: %+v", a)
	}
}
