package analytics

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/schemas"
)

// routes is a Router over fixed routes: the default route, or an error for
// a route_ref it does not know (as router.Router does).
type routes struct {
	version string
	route   []string
}

type routeErr string

func (e routeErr) Error() string       { return "route: " + string(e) }
func (e routeErr) RouteReason() string { return string(e) }

func (r routes) Route(req *schemas.PaymentRequested) (schemas.Decision, error) {
	if req.Routing.RouteRef != "" {
		return schemas.Decision{}, routeErr("unknown_route_ref")
	}
	d := schemas.Decision{ConfigVersion: r.version, RuleID: "default"}
	for i, p := range r.route {
		d.Candidates = append(d.Candidates, schemas.Candidate{PSP: p, Rank: int32(i + 1)})
	}
	return d, nil
}

// replayWorld is 200 EUR payments routed psp-a then psp-b: at psp-a 60%
// approved (fee 30), 10% declined (fee 5), 30% psp_error and on to psp-b;
// there two thirds approved (fee 20), a third psp_error (FAILED). Plus five
// payments with an unknown route_ref (REJECTED, no attempt), three invalid
// requests and one request sent twice.
func replayWorld() (events []any, valid int) {
	at := base
	for i := 0; i < 200; i++ {
		req := request("m-1", fmt.Sprintf("rp-%03d", i), at)
		req.Routing = schemas.Routing{}
		events = append(events, req)
		mk := func(n int32, psp, prev string, class schemas.Class, fee int64) *schemas.AttemptRecorded {
			a := attempt("m-1", req.PaymentID, n, psp, prev, class, at.Add(time.Duration(n)*time.Second))
			a.FeeMinor = fee
			return a
		}
		var path []*schemas.AttemptRecorded
		status := schemas.StatusApproved
		switch i % 10 {
		case 0, 1, 2, 3, 4, 5:
			path = append(path, mk(1, "psp-a", "", schemas.ClassNone, 30))
		case 6:
			path = append(path, mk(1, "psp-a", "", schemas.ClassHardDecline, 5))
			status = schemas.StatusDeclined
		default:
			path = append(path, mk(1, "psp-a", "", schemas.ClassPSPError, 0))
			if i%3 == 0 {
				path = append(path, mk(2, "psp-b", "psp-a", schemas.ClassPSPError, 0))
				status = schemas.StatusFailed
			} else {
				path = append(path, mk(2, "psp-b", "psp-a", schemas.ClassNone, 20))
			}
		}
		for _, a := range path {
			events = append(events, a)
		}
		events = append(events, result(status, path...))
		at = at.Add(10 * time.Second)
	}
	for i := 0; i < 5; i++ {
		req := request("m-1", fmt.Sprintf("rp-ref-%d", i), at)
		req.Routing = schemas.Routing{RouteRef: "nope"}
		events = append(events, req, &schemas.PaymentResult{PaymentID: req.PaymentID, MerchantID: "m-1",
			Operation: schemas.OpAuthorize, Status: schemas.StatusRejected, Currency: "EUR", Reason: "unknown_route_ref",
			RequestedAtMs: req.RequestedAtMs, CompletedAtMs: req.RequestedAtMs + 1})
	}
	for i := 0; i < 3; i++ {
		bad := request("m-1", fmt.Sprintf("rp-bad-%d", i), at)
		bad.AmountMinor = 0
		events = append(events, bad)
	}
	// rp-000 again, later: the processor ignores it, and so does replay.
	events = append(events, request("m-1", "rp-000", at))
	return events, 205
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestReplay(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.BatchSize = 500
	e := newEnv(t)
	c := openTest(t, cfg)
	events, valid := replayWorld()
	e.publish(t, events...)
	s := e.startSink(t, cfg)
	waitFor(t, 30*time.Second, "the history to load", func() bool { return s.Stats().Committed == int64(len(events)) })
	ctx := context.Background()
	opts := ReplayOptions{From: base, To: base.Add(time.Hour)}

	fromCH, err := RequestsFromClickHouse(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	fromKafka, err := RequestsFromKafka(ctx, e.cluster, e.serde, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromCH) != valid || len(fromKafka) != valid {
		t.Fatalf("%d requests from ClickHouse, %d from Kafka; want %d", len(fromCH), len(fromKafka), valid)
	}
	for i := range fromKafka {
		// ClickHouse does not keep the token and the fingerprint.
		k := *fromKafka[i]
		k.PaymentMethod.Token, k.PaymentMethod.Fingerprint = "", ""
		if !reflect.DeepEqual(&k, fromCH[i]) {
			t.Fatalf("request %d differs:\nkafka      %+v\nclickhouse %+v", i, k, *fromCH[i])
		}
	}
	// A period keeps to it, to the millisecond.
	half, err := RequestsFromClickHouse(ctx, c, ReplayOptions{From: base.Add(500 * time.Second), To: base.Add(1000 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	halfKafka, err := RequestsFromKafka(ctx, e.cluster, e.serde, ReplayOptions{From: base.Add(500 * time.Second), To: base.Add(1000 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(half) != 50 || len(halfKafka) != 50 || half[0].PaymentID != "rp-050" || half[49].PaymentID != "rp-099" {
		t.Fatalf("period: %d from ClickHouse, %d from Kafka", len(half), len(halfKafka))
	}

	// Replaying what was in force reproduces what happened, per PSP.
	same, err := Replay(ctx, c, fromCH, routes{"v1", []string{"psp-a", "psp-b"}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	logReplay(t, same)
	if same.Requests != 205 || same.Unrouted["unknown_route_ref"] != 5 || same.WithoutOutcome != 0 || same.Version != "v1" {
		t.Fatalf("replay: %+v", same)
	}
	for _, p := range same.PSPs {
		a, pr := p.Actual, p.Projected
		if !near(a.Payments, pr.Payments) || !near(a.Share, pr.Share) || !near(a.Attempts, pr.Attempts) ||
			!near(a.Approved, pr.Approved) || !near(a.SuccessRate, pr.SuccessRate) || p.Assumed {
			t.Errorf("%s: actual %+v, projected %+v", p.PSP, a, pr)
		}
	}
	for _, cs := range same.Costs {
		if !near(cs.ActualFee, cs.ProjectedFee) || !near(cs.ActualApproved, cs.ProjectedApproved) {
			t.Errorf("cost %+v", cs)
		}
	}
	if !near(same.ActualApproved, 160) || !near(same.ProjectedApproved, 160) || !near(same.ProjectedFailed, 20) ||
		!near(same.ActualApprovalRate, 160.0/205) {
		t.Errorf("totals: actual %v projected %v failed %v", same.ActualApproved, same.ProjectedApproved, same.ProjectedFailed)
	}

	// psp-b first: it approves two thirds (133.3 of 200), hands a third to
	// psp-a, which approves 60% of those (40).
	swap, err := Replay(ctx, c, fromCH, routes{"v2", []string{"psp-b", "psp-a"}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	logReplay(t, swap)
	b, a := findReplay(t, swap, "psp-b"), findReplay(t, swap, "psp-a")
	if !near(b.Projected.Share, 200.0/205) || !near(b.Projected.Attempts, 200) || !near(b.Projected.Approved, 400.0/3) ||
		!near(a.Projected.Attempts, 200.0/3) || !near(a.Projected.Approved, 40) || !near(a.Projected.Share, 0) ||
		!near(swap.ProjectedApproved, 400.0/3+40) || !near(swap.ProjectedFailed, 20) ||
		!near(a.Actual.Attempts, 200) || !near(b.Actual.Attempts, 60) {
		t.Errorf("swap: psp-b %+v, psp-a %+v, approved %v failed %v", b, a, swap.ProjectedApproved, swap.ProjectedFailed)
	}
	costB := findCost(t, swap, "psp-b")
	costA := findCost(t, swap, "psp-a")
	if !near(costB.ProjectedFee, 200*800.0/60) || !near(costB.ProjectedPerApproved, (200*800.0/60)/(400.0/3)) ||
		!near(costA.ProjectedFee, 200.0/3*3700/200) || !near(costA.ActualFee, 3700) || !near(costA.ActualPerApproved, 3700.0/120) {
		t.Errorf("swap costs: psp-b %+v, psp-a %+v", costB, costA)
	}

	// A PSP never observed is projected with everyone's rates, and said so.
	newcomer, err := Replay(ctx, c, fromCH, routes{"v3", []string{"psp-c", "psp-a"}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	cc := findReplay(t, newcomer, "psp-c")
	if !cc.Assumed || !near(cc.Projected.Approved, 200*160.0/260) || !near(findCost(t, newcomer, "psp-c").ProjectedFee, 200*4500.0/260) {
		t.Errorf("newcomer: %+v", cc)
	}
	var buf bytes.Buffer
	if err := WriteReplayText(&buf, newcomer); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"psp-c *", "no attempt observed at psp-c", "cannot route 5 payments", "unknown_route_ref 5",
		"candidate configuration v3", "approved payments: actual 160.0 (78.0%)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("replay text lacks %q:\n%s", want, buf.String())
		}
	}

	// With no attempt in the statistics window there is nothing to project.
	if _, err := Replay(ctx, c, fromCH, routes{"v1", []string{"psp-a"}}, ReplayOptions{StatsFrom: base.Add(-48 * time.Hour), StatsTo: base.Add(-47 * time.Hour)}); err == nil ||
		!strings.Contains(err.Error(), "no attempts in the statistics window") {
		t.Fatalf("empty window: %v", err)
	}
}

func findReplay(t *testing.T, r *ReplayResult, psp string) ReplayPSP {
	t.Helper()
	for _, p := range r.PSPs {
		if p.PSP == psp {
			return p
		}
	}
	t.Fatalf("no %s in the replay", psp)
	return ReplayPSP{}
}

func findCost(t *testing.T, r *ReplayResult, psp string) ReplayCost {
	t.Helper()
	for _, c := range r.Costs {
		if c.PSP == psp && c.Currency == "EUR" {
			return c
		}
	}
	t.Fatalf("no EUR cost for %s in the replay", psp)
	return ReplayCost{}
}

func logReplay(t *testing.T, r *ReplayResult) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteReplayText(&buf, r); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
}
