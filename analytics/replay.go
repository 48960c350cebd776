package analytics

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/payroute/payroute/schemas"
)

// What-if replay: historical payment requests are routed through a
// candidate routing configuration, and each payment's outcome is projected
// from the statistics observed per PSP, next to what actually happened to
// the same payments.
//
// The projection follows the processor. The payment goes to its candidates
// in rank order. At each PSP it is approved, declined (never failed over),
// fails on the PSP's side (psp_error, rate_limited: on to the next rank,
// FAILED at the last), or ends otherwise (customer error, in doubt, invalid),
// with the probabilities observed for that PSP in the payment's currency.
// So a payment reaches rank k with the product of the failure rates of the
// ranks before it, and every quantity is an expected value: a PSP's
// projected attempts are the sum over payments of the probability that the
// payment reaches it, its approvals that times its approval rate, its fees
// that times its mean fee per attempt in the currency.
//
// The model's assumptions, to read the figures with: outcomes at successive
// PSPs are independent (an issuer that declines at one PSP would likely
// decline at the next, but a decline is never failed over, so this only
// touches PSP-side failures); the statistics of the observation window hold
// for the traffic moved (a PSP that took only EUR cards is projected on
// USD with its overall rates); PSP health (a PSP skipped while down) and
// retry rules are not modelled. Replaying the configuration that was in
// force over the same window reproduces what happened, in expectation, per
// PSP: that is the check the tests make.

// Router routes a payment request: router.(*Router).Route.
type Router interface {
	Route(req *schemas.PaymentRequested) (schemas.Decision, error)
}

// ReplayOptions selects the requests replayed and the statistics used.
type ReplayOptions struct {
	// From and To bound the requests replayed by requested_at (From
	// included, To excluded, to the millisecond); zero is no bound.
	From, To time.Time
	// Merchant restricts the replay (and the statistics) to one merchant.
	Merchant string
	// StatsFrom and StatsTo bound the attempts whose outcomes give the
	// per-PSP statistics (whole minutes, like reports). Both zero: the
	// replay period.
	StatsFrom, StatsTo time.Time
	// MinAttempts is the fewest attempts at a PSP in a currency for its
	// statistics in that currency to be used; below, the PSP's statistics
	// over every currency are. 0 means 30.
	MinAttempts int64
	// MaxRanks caps the ranks a payment may go through, as the processor's
	// retry topics do (kafka.max_ranks); 0 is no cap.
	MaxRanks int
}

// PSPObservation is what a PSP did in the observation window, in one
// currency ("" for every currency).
type PSPObservation struct {
	PSP, Currency string
	Attempts      int64
	Approved      int64
	Declined      int64
	// Failures are PSP-side failures (psp_error, rate_limited), the ones
	// that fail over.
	Failures int64
	FeeMinor int64
}

// rates are the outcome probabilities and mean fee of one observation.
func (o PSPObservation) rates() (approve, decline, fail, fee float64) {
	n := float64(o.Attempts)
	return float64(o.Approved) / n, float64(o.Declined) / n, float64(o.Failures) / n, float64(o.FeeMinor) / n
}

// ReplaySide is one PSP's figures on one side (actual or projected).
type ReplaySide struct {
	// Payments routed to this PSP first, and their share of all payments
	// replayed.
	Payments float64
	Share    float64
	// Attempts at this PSP, and approvals; SuccessRate is their ratio.
	Attempts, Approved float64
	SuccessRate        float64
}

// ReplayPSP is one PSP, actual next to projected.
type ReplayPSP struct {
	PSP               string
	Actual, Projected ReplaySide
	// Assumed is set when the PSP has no attempt in the observation window:
	// it is projected with the statistics of every PSP together.
	Assumed bool
}

// ReplayCost is one PSP's fees in one currency, actual next to projected.
type ReplayCost struct {
	PSP, Currency                           string
	ActualFee, ProjectedFee                 float64
	ActualApproved, ProjectedApproved       float64
	ActualPerApproved, ProjectedPerApproved float64
}

// ReplayResult is a replay's outcome.
type ReplayResult struct {
	Options ReplayOptions
	// Version is the candidate configuration's version, from its
	// decisions.
	Version string
	// Requests is the number of payments replayed.
	Requests int
	// Unrouted are payments the candidate configuration cannot route (they
	// would be REJECTED), by reason.
	Unrouted map[string]int
	// WithoutOutcome are payments replayed with no attempt and no result in
	// ClickHouse (still in flight when loaded, or rejected before any PSP).
	WithoutOutcome int
	PSPs           []ReplayPSP
	Costs          []ReplayCost
	// Approved payments, actual and projected, and their rate over
	// Requests.
	ActualApproved, ProjectedApproved         float64
	ActualApprovalRate, ProjectedApprovalRate float64
	// ProjectedFailed are payments projected to end FAILED (every rank
	// failed on the PSP side).
	ProjectedFailed float64
}

// Replay routes each request through router and projects its outcome from
// the per-PSP statistics observed in ClickHouse over the statistics window;
// the actual side is what ClickHouse holds for the same payments.
func Replay(ctx context.Context, c *Conn, reqs []*schemas.PaymentRequested, router Router, opts ReplayOptions) (*ReplayResult, error) {
	if opts.MinAttempts <= 0 {
		opts.MinAttempts = 30
	}
	obs, err := ObservePSPs(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	actual, err := actualOutcomes(ctx, c, reqs)
	if err != nil {
		return nil, err
	}
	res := &ReplayResult{Options: opts, Requests: len(reqs), Unrouted: map[string]int{}}
	type side struct{ first, attempts, approved float64 }
	act, proj := map[string]*side{}, map[string]*side{}
	get := func(m map[string]*side, psp string) *side {
		s, ok := m[psp]
		if !ok {
			s = &side{}
			m[psp] = s
		}
		return s
	}
	type costKey struct{ psp, currency string }
	type cost struct{ actFee, projFee, actApproved, projApproved float64 }
	costs := map[costKey]*cost{}
	getCost := func(psp, cur string) *cost {
		k := costKey{psp, cur}
		c, ok := costs[k]
		if !ok {
			c = &cost{}
			costs[k] = c
		}
		return c
	}
	assumed := map[string]bool{}

	for _, req := range reqs {
		// What happened.
		if a, ok := actual[req.PaymentID]; ok {
			for _, at := range a.attempts {
				s := get(act, at.psp)
				s.attempts++
				if at.number == 1 {
					s.first++
				}
				c := getCost(at.psp, at.currency)
				c.actFee += float64(at.fee)
				if at.approved {
					s.approved++
					c.actApproved++
				}
			}
			if a.approved {
				res.ActualApproved++
			}
		} else {
			res.WithoutOutcome++
		}
		// What the candidate would do.
		dec, err := router.Route(req)
		if err != nil {
			reason := err.Error()
			if r, ok := err.(interface{ RouteReason() string }); ok {
				reason = r.RouteReason()
			}
			res.Unrouted[reason]++
			continue
		}
		if res.Version == "" {
			res.Version = dec.ConfigVersion
		}
		cands := dec.Candidates
		if opts.MaxRanks > 0 && len(cands) > opts.MaxRanks {
			cands = cands[:opts.MaxRanks]
		}
		reach := 1.0
		for k, cand := range cands {
			o, isAssumed := obs.lookup(cand.PSP, req.Currency, opts.MinAttempts)
			if isAssumed {
				assumed[cand.PSP] = true
			}
			approve, _, fail, _ := o.rates()
			fee := obs.fee(cand.PSP, req.Currency)
			s := get(proj, cand.PSP)
			if k == 0 {
				s.first++
			}
			s.attempts += reach
			s.approved += reach * approve
			c := getCost(cand.PSP, req.Currency)
			c.projFee += reach * fee
			c.projApproved += reach * approve
			res.ProjectedApproved += reach * approve
			if k == len(cands)-1 {
				res.ProjectedFailed += reach * fail
			}
			reach *= fail
		}
	}

	n := float64(len(reqs))
	names := map[string]bool{}
	for p := range act {
		names[p] = true
	}
	for p := range proj {
		names[p] = true
	}
	mk := func(s *side) ReplaySide {
		if s == nil {
			return ReplaySide{}
		}
		out := ReplaySide{Payments: s.first, Attempts: s.attempts, Approved: s.approved}
		if n > 0 {
			out.Share = s.first / n
		}
		if s.attempts > 0 {
			out.SuccessRate = s.approved / s.attempts
		}
		return out
	}
	for p := range names {
		res.PSPs = append(res.PSPs, ReplayPSP{PSP: p, Actual: mk(act[p]), Projected: mk(proj[p]), Assumed: assumed[p]})
	}
	sort.Slice(res.PSPs, func(i, j int) bool { return res.PSPs[i].PSP < res.PSPs[j].PSP })
	for k, c := range costs {
		if c.actFee == 0 && c.projFee == 0 && c.actApproved == 0 && c.projApproved == 0 {
			continue // a candidate rank never reached, in a currency never charged
		}
		rc := ReplayCost{PSP: k.psp, Currency: k.currency, ActualFee: c.actFee, ProjectedFee: c.projFee,
			ActualApproved: c.actApproved, ProjectedApproved: c.projApproved}
		if c.actApproved > 0 {
			rc.ActualPerApproved = c.actFee / c.actApproved
		}
		if c.projApproved > 0 {
			rc.ProjectedPerApproved = c.projFee / c.projApproved
		}
		res.Costs = append(res.Costs, rc)
	}
	sort.Slice(res.Costs, func(i, j int) bool {
		if res.Costs[i].PSP != res.Costs[j].PSP {
			return res.Costs[i].PSP < res.Costs[j].PSP
		}
		return res.Costs[i].Currency < res.Costs[j].Currency
	})
	if n > 0 {
		res.ActualApprovalRate = res.ActualApproved / n
		res.ProjectedApprovalRate = res.ProjectedApproved / n
	}
	return res, nil
}

// Observations are the per-PSP statistics a replay projects with.
type Observations struct {
	// ByCurrency has one entry per PSP and currency, Overall one per PSP
	// (Currency ""), Pooled every PSP together, per currency and overall.
	ByCurrency map[[2]string]PSPObservation
	Overall    map[string]PSPObservation
	Pooled     map[string]PSPObservation
}

// lookup returns the statistics to project a PSP in a currency with: the
// PSP's in the currency when it has MinAttempts there, else the PSP's over
// every currency, else (assumed) every PSP's together.
func (o *Observations) lookup(psp, currency string, minAttempts int64) (PSPObservation, bool) {
	if c, ok := o.ByCurrency[[2]string{psp, currency}]; ok && c.Attempts >= minAttempts {
		return c, false
	}
	if p, ok := o.Overall[psp]; ok && p.Attempts > 0 {
		return p, false
	}
	if p, ok := o.Pooled[currency]; ok && p.Attempts > 0 {
		return p, true
	}
	return o.Pooled[""], true
}

// fee is the mean fee per attempt of a PSP in a currency: the PSP's own
// when it has attempts in the currency (fees are per currency and never
// mixed), else every PSP's in the currency, else 0.
func (o *Observations) fee(psp, currency string) float64 {
	if c, ok := o.ByCurrency[[2]string{psp, currency}]; ok && c.Attempts > 0 {
		return float64(c.FeeMinor) / float64(c.Attempts)
	}
	if p, ok := o.Pooled[currency]; ok && p.Attempts > 0 {
		return float64(p.FeeMinor) / float64(p.Attempts)
	}
	return 0
}

// ObservePSPs reads the per-PSP statistics of the statistics window from
// psp_minute.
func ObservePSPs(ctx context.Context, c *Conn, opts ReplayOptions) (*Observations, error) {
	win := ReportOptions{From: opts.StatsFrom, To: opts.StatsTo, Merchant: opts.Merchant}
	if opts.StatsFrom.IsZero() && opts.StatsTo.IsZero() {
		win.From, win.To = opts.From, opts.To
	}
	o := &Observations{ByCurrency: map[[2]string]PSPObservation{}, Overall: map[string]PSPObservation{}, Pooled: map[string]PSPObservation{}}
	add := func(m map[string]PSPObservation, key string, v PSPObservation) {
		cur := m[key]
		cur.PSP, cur.Currency = v.PSP, v.Currency
		cur.Attempts += v.Attempts
		cur.Approved += v.Approved
		cur.Declined += v.Declined
		cur.Failures += v.Failures
		cur.FeeMinor += v.FeeMinor
		m[key] = cur
	}
	err := scan(ctx, c, `SELECT psp, currency, sum(attempts), sum(approved), sum(declined), sum(psp_errors) + sum(rate_limited), sum(fee_minor_sum)
FROM `+c.table("psp_minute")+win.where("minute")+`
GROUP BY psp, currency`, func(r scanner) error {
		var v PSPObservation
		var att, ok, dec, fail uint64
		if err := r.Scan(&v.PSP, &v.Currency, &att, &ok, &dec, &fail, &v.FeeMinor); err != nil {
			return err
		}
		v.Attempts, v.Approved, v.Declined, v.Failures = int64(att), int64(ok), int64(dec), int64(fail)
		o.ByCurrency[[2]string{v.PSP, v.Currency}] = v
		overall := v
		overall.Currency = ""
		add(o.Overall, v.PSP, overall)
		pooled := v
		pooled.PSP = ""
		add(o.Pooled, v.Currency, pooled)
		pooled.Currency = ""
		add(o.Pooled, "", pooled)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("observe PSPs: %w", err)
	}
	if len(o.ByCurrency) == 0 {
		return nil, fmt.Errorf("no attempts in the statistics window (%s): nothing to project with", describePeriod(win.applied()))
	}
	return o, nil
}

// actualAttempt is one real attempt of a replayed payment.
type actualAttempt struct {
	psp, currency string
	number        uint32
	approved      bool
	fee           int64
}

type actualPayment struct {
	attempts []actualAttempt
	approved bool
}

// actualOutcomes reads the attempts and final results of the payments.
func actualOutcomes(ctx context.Context, c *Conn, reqs []*schemas.PaymentRequested) (map[string]*actualPayment, error) {
	out := map[string]*actualPayment{}
	const chunk = 5000
	for i := 0; i < len(reqs); i += chunk {
		ids := make([]any, 0, chunk)
		for _, r := range reqs[i:min(i+chunk, len(reqs))] {
			ids = append(ids, r.PaymentID)
		}
		set := clickhouse.GroupSet{Value: ids}
		if err := scan(ctx, c, `SELECT payment_id, psp, currency, attempt_number, outcome = 'APPROVED', fee_minor
FROM `+c.table("attempts")+` WHERE payment_id IN ?`, func(r scanner) error {
			var id string
			var a actualAttempt
			var ok uint8
			if err := r.Scan(&id, &a.psp, &a.currency, &a.number, &ok, &a.fee); err != nil {
				return err
			}
			a.approved = ok != 0
			p := out[id]
			if p == nil {
				p = &actualPayment{}
				out[id] = p
			}
			p.attempts = append(p.attempts, a)
			return nil
		}, set); err != nil {
			return nil, fmt.Errorf("actual attempts: %w", err)
		}
		if err := scan(ctx, c, `SELECT payment_id, status = 'APPROVED' FROM `+c.table("payments")+` WHERE payment_id IN ?`, func(r scanner) error {
			var id string
			var ok uint8
			if err := r.Scan(&id, &ok); err != nil {
				return err
			}
			p := out[id]
			if p == nil {
				p = &actualPayment{}
				out[id] = p
			}
			p.approved = p.approved || ok != 0
			return nil
		}, set); err != nil {
			return nil, fmt.Errorf("actual results: %w", err)
		}
	}
	return out, nil
}
