package analytics

import (
	"sort"
	"strings"
	"time"

	"github.com/payroute/payroute/schemas"
)

// The expected answers of the query pack, computed in Go straight from a
// generated world's events, following each query's documented definition.
// A table is key -> column -> value; keys join the key columns with "|".

type table map[string]map[string]float64

// scope is a query's period and merchant, with the same whole-minute
// rounding as ReportOptions.period.
type scope struct {
	from, to time.Time
	merchant string
}

func scopeOf(o ReportOptions) scope {
	from, to := o.period()
	return scope{from: from, to: to, merchant: o.Merchant}
}

func (s scope) has(merchant string, ms int64) bool {
	sec := time.Unix(ms/1000, 0)
	return (s.merchant == "" || s.merchant == merchant) && !sec.Before(s.from) && sec.Before(s.to)
}

func (s scope) attempts(w *world) []*schemas.AttemptRecorded {
	var out []*schemas.AttemptRecorded
	for _, a := range w.attempts {
		if s.has(a.MerchantID, a.StartedAtMs) {
			out = append(out, a)
		}
	}
	return out
}

// results are the final results in scope: an ACTION_REQUIRED result waits
// for the customer and ends no payment (final_payments_minute).
func (s scope) results(w *world) []*schemas.PaymentResult {
	var out []*schemas.PaymentResult
	for _, r := range w.results {
		if r.Status != schemas.StatusActionRequired && s.has(r.MerchantID, r.CompletedAtMs) {
			out = append(out, r)
		}
	}
	return out
}

func (t table) add(key, col string, v float64) {
	row, ok := t[key]
	if !ok {
		row = map[string]float64{}
		t[key] = row
	}
	row[col] += v
}

// touch makes sure a row exists with the columns at 0.
func (t table) touch(key string, cols ...string) {
	for _, c := range cols {
		t.add(key, c, 0)
	}
}

func div(n, d float64) float64 {
	if d == 0 {
		return 0
	}
	return n / d
}

func isHop(a *schemas.AttemptRecorded) bool { return a.PreviousPSP != "" && a.PreviousPSP != a.PSP }

func failedOver(r *schemas.PaymentResult) bool {
	for i := 1; i < len(r.Path); i++ {
		if r.Path[i].PSP != r.Path[i-1].PSP {
			return true
		}
	}
	return false
}

// quantileExact is ClickHouse's quantileExact: the value at 0-based rank
// floor(level * n) of the sorted values.
func quantileExact(values []float64, level float64) float64 {
	if len(values) == 0 {
		return 0
	}
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	i := int(level * float64(len(s)))
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func truthSuccessRate(w *world, s scope) table {
	t := table{}
	cols := []string{"attempts", "approved", "first_attempts", "first_approved", "payments", "net_approved"}
	for _, a := range s.attempts(w) {
		t.touch(a.PSP, cols...)
		t.add(a.PSP, "attempts", 1)
		if a.Outcome == schemas.OutcomeApproved {
			t.add(a.PSP, "approved", 1)
		}
		if a.AttemptNumber == 1 {
			t.add(a.PSP, "first_attempts", 1)
			if a.Outcome == schemas.OutcomeApproved {
				t.add(a.PSP, "first_approved", 1)
			}
		}
	}
	for _, r := range s.results(w) {
		if r.FirstPSP == "" {
			continue
		}
		t.touch(r.FirstPSP, cols...)
		t.add(r.FirstPSP, "payments", 1)
		if r.Status == schemas.StatusApproved {
			t.add(r.FirstPSP, "net_approved", 1)
		}
	}
	for _, row := range t {
		row["success_rate"] = div(row["approved"], row["attempts"])
		row["first_attempt_rate"] = div(row["first_approved"], row["first_attempts"])
		row["net_rate"] = div(row["net_approved"], row["payments"])
		row["uplift_rate"] = row["net_rate"] - row["first_attempt_rate"]
	}
	return t
}

func truthFailoverRate(w *world, s scope) table {
	t := table{}
	cols := []string{"attempts", "psp_failures", "failovers_out", "payments", "payments_failed_over"}
	for _, a := range s.attempts(w) {
		t.touch(a.PSP, cols...)
		t.add(a.PSP, "attempts", 1)
		if a.Class.FailsOver() {
			t.add(a.PSP, "psp_failures", 1)
		}
		if isHop(a) {
			t.touch(a.PreviousPSP, cols...)
			t.add(a.PreviousPSP, "failovers_out", 1)
		}
	}
	for _, r := range s.results(w) {
		if r.FirstPSP == "" {
			continue
		}
		t.touch(r.FirstPSP, cols...)
		t.add(r.FirstPSP, "payments", 1)
		if failedOver(r) {
			t.add(r.FirstPSP, "payments_failed_over", 1)
		}
	}
	for _, row := range t {
		row["failure_rate"] = div(row["psp_failures"], row["attempts"])
		row["failover_rate"] = div(row["failovers_out"], row["attempts"])
		row["payment_failover_rate"] = div(row["payments_failed_over"], row["payments"])
	}
	return t
}

func truthRecoveryByHop(w *world, s scope) table {
	t := table{}
	for _, a := range s.attempts(w) {
		if !isHop(a) {
			continue
		}
		k := a.PreviousPSP + "|" + a.PSP
		t.touch(k, "hops", "recovered", "declined", "failed", "fee_minor")
		t.add(k, "hops", 1)
		t.add(k, "fee_minor", float64(a.FeeMinor))
		switch {
		case a.Outcome == schemas.OutcomeApproved:
			t.add(k, "recovered", 1)
		case a.Outcome == schemas.OutcomeDeclined:
			t.add(k, "declined", 1)
		case a.Class.FailsOver():
			t.add(k, "failed", 1)
		}
	}
	for _, row := range t {
		row["recovery_rate"] = div(row["recovered"], row["hops"])
	}
	return t
}

func truthCostPerApproved(w *world, s scope) table {
	t := table{}
	cols := []string{"attempts", "fee_minor", "approved_payments"}
	for _, a := range s.attempts(w) {
		k := a.PSP + "|" + a.Currency
		t.touch(k, cols...)
		t.add(k, "attempts", 1)
		t.add(k, "fee_minor", float64(a.FeeMinor))
	}
	for _, r := range s.results(w) {
		if r.Status != schemas.StatusApproved {
			continue
		}
		k := r.PSP + "|" + r.Currency
		t.touch(k, cols...)
		t.add(k, "approved_payments", 1)
	}
	for _, row := range t {
		row["cost_per_approved"] = div(row["fee_minor"], row["approved_payments"])
		row["fee_per_attempt"] = div(row["fee_minor"], row["attempts"])
	}
	return t
}

func truthLatency(w *world, s scope) table {
	lat := map[string][]float64{}
	for _, a := range s.attempts(w) {
		lat[a.PSP] = append(lat[a.PSP], float64(a.LatencyMs))
	}
	t := table{}
	for psp, v := range lat {
		var sum, mx float64
		for _, x := range v {
			sum += x
			mx = max(mx, x)
		}
		t[psp] = map[string]float64{
			"attempts": float64(len(v)),
			"p50_ms":   quantileExact(v, 0.5), "p95_ms": quantileExact(v, 0.95), "p99_ms": quantileExact(v, 0.99),
			"avg_ms": sum / float64(len(v)), "max_ms": mx,
		}
	}
	return t
}

func truthDeclineReasons(w *world, s scope) table {
	t := table{}
	perPSP := map[string]float64{}
	for _, a := range s.attempts(w) {
		if a.Outcome != schemas.OutcomeDeclined {
			continue
		}
		k := strings.Join([]string{a.PSP, string(a.Class), a.PSPCode, a.IssuerCode}, "|")
		t.add(k, "declines", 1)
		perPSP[a.PSP]++
	}
	for k, row := range t {
		row["share_rate"] = div(row["declines"], perPSP[strings.SplitN(k, "|", 2)[0]])
	}
	return t
}

func truthInDoubt(w *world, s scope) table {
	t := table{}
	cols := []string{"attempts", "in_doubt_attempts", "episodes", "resolved", "in_doubt_payments"}
	times := map[string][]float64{}
	for _, a := range s.attempts(w) {
		t.touch(a.PSP, cols...)
		t.add(a.PSP, "attempts", 1)
		if a.Class != schemas.ClassInDoubt && a.Inquiries == 0 {
			continue
		}
		t.add(a.PSP, "in_doubt_attempts", 1)
		t.add(a.PSP, "episodes", 1)
		if a.Class != schemas.ClassInDoubt {
			t.add(a.PSP, "resolved", 1)
			times[a.PSP] = append(times[a.PSP], float64(a.InDoubtMs))
		}
	}
	for _, r := range s.results(w) {
		if _, ok := t[r.PSP]; ok && r.Status == schemas.StatusInDoubt {
			t.add(r.PSP, "in_doubt_payments", 1)
		}
	}
	for psp, row := range t {
		row["in_doubt_rate"] = div(row["in_doubt_attempts"], row["attempts"])
		row["unresolved"] = row["episodes"] - row["resolved"]
		v := times[psp]
		row["resolve_p50_ms"], row["resolve_p95_ms"], row["resolve_max_ms"] = 0, 0, 0
		if len(v) > 0 {
			row["resolve_p50_ms"] = quantileExact(v, 0.5)
			row["resolve_p95_ms"] = quantileExact(v, 0.95)
			row["resolve_max_ms"] = quantileExact(v, 1)
		}
	}
	return t
}

func truthRuleHits(w *world, s scope) table {
	t := table{}
	for _, r := range s.results(w) {
		k := r.ConfigVersion + "|" + r.RuleID
		minute := float64(time.UnixMilli(r.CompletedAtMs).Truncate(time.Minute).Unix())
		row, ok := t[k]
		if !ok {
			row = map[string]float64{"payments": 0, "approved": 0, "attempts": 0, "failed_over": 0,
				"first_minute": minute, "last_minute": minute}
			t[k] = row
		}
		row["payments"]++
		row["attempts"] += float64(r.AttemptCount)
		if r.Status == schemas.StatusApproved {
			row["approved"]++
		}
		if failedOver(r) {
			row["failed_over"]++
		}
		row["first_minute"] = min(row["first_minute"], minute)
		row["last_minute"] = max(row["last_minute"], minute)
	}
	for _, row := range t {
		row["approval_rate"] = div(row["approved"], row["payments"])
		row["attempts_per_payment"] = div(row["attempts"], row["payments"])
	}
	return t
}

// packTruth maps each query of the pack to its key columns and truth.
var packTruth = map[string]struct {
	keys  []string
	truth func(*world, scope) table
}{
	"success_rate":      {[]string{"psp"}, truthSuccessRate},
	"failover_rate":     {[]string{"psp"}, truthFailoverRate},
	"recovery_by_hop":   {[]string{"from_psp", "to_psp"}, truthRecoveryByHop},
	"cost_per_approved": {[]string{"psp", "currency"}, truthCostPerApproved},
	"latency":           {[]string{"psp"}, truthLatency},
	"decline_reasons":   {[]string{"psp", "class", "psp_code", "issuer_code"}, truthDeclineReasons},
	"in_doubt":          {[]string{"psp"}, truthInDoubt},
	"rule_hits":         {[]string{"config_version", "rule_id"}, truthRuleHits},
}
