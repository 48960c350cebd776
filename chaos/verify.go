package chaos

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/consumers"
	"github.com/payroute/payroute/kafka/kafkatest"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/schemas"
)

// openTxnWait bounds the wait for transactions to end before the topics
// are read: longer than the processors' transaction timeout, after which
// the broker aborts a dead instance's transaction.
const openTxnWait = 45 * time.Second

// verify checks the guarantees on what the run left behind.
func (h *harness) verify(ctx context.Context) error {
	topics := h.cluster.Topics()
	rep := h.rep
	planned := map[string]*schemas.PaymentRequested{}
	for _, it := range h.planned {
		switch {
		case it.bad != nil:
			rep.BadInputs++
		case it.dup:
			rep.Duplicates++
		default:
			planned[it.payment.PaymentID] = it.payment
		}
	}
	rep.Payments = len(planned)
	rep.PSPTimeoutsHeld = h.gate.Held()

	// Results, as a downstream read_committed consumer sees them.
	finals := map[string][]schemas.PaymentResult{}
	resultIDs := map[string]bool{}
	var results, finalResults int
	err := kafkatest.ReadToEnd(ctx, h.cluster, []string{topics.Results}, true, openTxnWait, func(r *kgo.Record) {
		results++
		var res schemas.PaymentResult
		if err := h.serde.Decode(r.Value, &res); err != nil {
			rep.violation("undecodable result at %s/%d/%d: %v", r.Topic, r.Partition, r.Offset, err)
			return
		}
		if string(r.Key) != res.PaymentID {
			rep.violation("result of %s keyed %q", res.PaymentID, r.Key)
		}
		resultIDs[res.PaymentID] = true
		switch {
		case producers.HeaderValue(r, consumers.HeaderReplay) != "":
			rep.Replays++
		case res.Status == schemas.StatusActionRequired:
			rep.ActionRequired++
		default:
			finalResults++
			finals[res.PaymentID] = append(finals[res.PaymentID], res)
		}
	})
	if err != nil {
		rep.violation("results: %v", err)
	}
	bad := map[string]*kgo.Record{}
	h.badMu.Lock()
	for k, r := range h.badSent {
		bad[k] = r
	}
	h.badMu.Unlock()
	ids := make([]string, 0, len(planned))
	for id := range planned {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		switch fs := finals[id]; len(fs) {
		case 0:
			rep.violation("payment %s: no final result (lost)", id)
		case 1:
			rep.Statuses[fs[0].Status]++
		default:
			var st []string
			for _, f := range fs {
				st = append(st, string(f.Status))
			}
			rep.violation("payment %s: %d final results visible read_committed: %v", id, len(fs), st)
		}
	}
	for id, fs := range finals {
		if planned[id] != nil {
			continue
		}
		if bad[id] != nil {
			if len(fs) != 1 || fs[0].Status != schemas.StatusRejected || fs[0].Reason == "" {
				rep.violation("bad input %s: %d final results, want one REJECTED with a reason", id, len(fs))
			}
			continue
		}
		rep.violation("a final result for %q, which nobody requested", id)
	}
	for id := range bad {
		if len(finals[id]) == 0 {
			rep.violation("bad input %s: no REJECTED result", id)
		}
	}

	// Approvals at the PSPs against the results.
	approvals := map[string][]int{} // payment id -> ledger indexes
	ledger := h.sim.Ledger()
	for i, a := range ledger {
		if a.Operation == schemas.OpAuthorize || a.Operation == schemas.OpCharge {
			approvals[a.PaymentID] = append(approvals[a.PaymentID], i)
			rep.Approvals++
		}
	}
	for _, d := range h.sim.Duplicates() {
		var where []string
		for _, i := range approvals[d.PaymentID] {
			a := ledger[i]
			where = append(where, fmt.Sprintf("%s key %s ref %s at +%.2fs", a.PSP, a.IdempotencyKey, a.Reference, a.At.Sub(rep.start).Seconds()))
		}
		status := "no final result"
		if fs := finals[d.PaymentID]; len(fs) == 1 {
			status = fmt.Sprintf("final %s at %s (%s), path %s", fs[0].Status, fs[0].PSP, fs[0].PSPReference, pathString(fs[0]))
		}
		rep.violation("payment %s approved %d times for %s at the PSPs: %s; %s", d.PaymentID, d.Count, d.Operation, strings.Join(where, ", "), status)
	}
	for id, idx := range approvals {
		if planned[id] == nil {
			rep.violation("the PSPs approved %s, which nobody requested", id)
			continue
		}
		fs := finals[id]
		if len(fs) != 1 {
			continue // reported above
		}
		res, a := fs[0], ledger[idx[0]]
		switch res.Status {
		case schemas.StatusApproved:
			if len(idx) == 1 && (a.PSP != res.PSP || a.Reference != res.PSPReference) {
				rep.violation("payment %s: APPROVED at %s (%s) but the PSP approved at %s (%s)", id, res.PSP, res.PSPReference, a.PSP, a.Reference)
			}
		case schemas.StatusInDoubt:
			rep.InDoubtApproved++
		default:
			rep.violation("payment %s: the result is %s (path %s) but %s approved it (%s, key %s, at +%.2fs)", id, res.Status, pathString(res),
				a.PSP, a.Reference, a.IdempotencyKey, a.At.Sub(rep.start).Seconds())
		}
	}
	for _, id := range ids {
		if fs := finals[id]; len(fs) == 1 && fs[0].Status == schemas.StatusApproved && len(approvals[id]) == 0 {
			rep.violation("payment %s: APPROVED but no PSP approved it", id)
		}
	}

	// Attempts: each once, as many as the final result's path.
	attemptIDs := map[string]bool{}
	perPayment := map[string]int{}
	var attempts int
	err = kafkatest.ReadToEnd(ctx, h.cluster, []string{topics.Attempts}, true, openTxnWait, func(r *kgo.Record) {
		attempts++
		var a schemas.AttemptRecorded
		if err := h.serde.Decode(r.Value, &a); err != nil {
			rep.violation("undecodable attempt at %d/%d: %v", r.Partition, r.Offset, err)
			return
		}
		if attemptIDs[a.AttemptID] {
			rep.violation("attempt %s recorded twice", a.AttemptID)
		}
		attemptIDs[a.AttemptID] = true
		perPayment[a.PaymentID]++
		if a.AttemptNumber > 1 {
			rep.Failovers++
		}
	})
	if err != nil {
		rep.violation("attempts: %v", err)
	}
	rep.Attempts = attempts
	for id, fs := range finals {
		if len(fs) == 1 && perPayment[id] != len(fs[0].Path) {
			rep.violation("payment %s: %d attempts on the topic, %d in its final result's path", id, perPayment[id], len(fs[0].Path))
		}
	}

	// Dead letters: each bad input once, with a reason.
	dlqBySource := map[string]int{}
	err = kafkatest.ReadToEnd(ctx, h.cluster, []string{topics.DLQ}, true, openTxnWait, func(r *kgo.Record) {
		reason := producers.HeaderValue(r, producers.HeaderDLQReason)
		if reason == "" {
			rep.violation("dead letter at %d/%d without a reason", r.Partition, r.Offset)
		}
		rep.DeadLetters[reason]++
		dlqBySource[producers.HeaderValue(r, producers.HeaderSourceTopic)+"/"+
			producers.HeaderValue(r, producers.HeaderSourcePart)+"/"+producers.HeaderValue(r, producers.HeaderSourceOffset)]++
	})
	if err != nil {
		rep.violation("dead letters: %v", err)
	}
	for id, r := range bad {
		src := r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
		if n := dlqBySource[src]; n != 1 {
			rep.violation("bad input %s (%s): %d dead letters, want 1", id, src, n)
		}
	}

	if h.p.ClickHouse != "" {
		var validRequests int
		err := kafkatest.ReadToEnd(ctx, h.cluster, []string{topics.Requested}, true, openTxnWait, func(r *kgo.Record) {
			if _, err := h.serde.DecodePaymentRequested(r.Value); err == nil {
				validRequests++
			}
		})
		if err != nil {
			rep.violation("requests: %v", err)
		}
		if err := h.verifyClickHouse(ctx, map[string]uint64{
			"attempts": uint64(attempts), "requests": uint64(validRequests), "payments": uint64(len(resultIDs)),
			"psp_minute attempts": uint64(attempts),
			// The sink does not load replays; ACTION_REQUIRED counts as a
			// result but not as a payment.
			"final_payments_minute results":  uint64(results - rep.Replays),
			"final_payments_minute payments": uint64(finalResults),
		}); err != nil {
			return err
		}
	}

	// Card data: everything written, everywhere.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := h.scan.Topics(sctx, h.cluster); err != nil {
		return fmt.Errorf("scan topics: %w", err)
	}
	if h.p.ClickHouse != "" {
		conn, err := h.openDirect(sctx)
		if err != nil {
			return err
		}
		err = h.scan.Tables(sctx, conn)
		_ = conn.Close()
		if err != nil {
			return fmt.Errorf("scan tables: %w", err)
		}
	}
	for _, f := range h.scan.Findings() {
		rep.violation("card data scan: %s", f)
	}
	if n := h.scan.Counts()["findings"]; n > int64(len(h.scan.Findings())) {
		rep.violation("card data scan: %d more findings", n-int64(len(h.scan.Findings())))
	}
	rep.Scanned = h.scan.Counts()
	return nil
}

// openDirect connects to ClickHouse without the relay.
func (h *harness) openDirect(ctx context.Context) (*analytics.Conn, error) {
	cfg := h.sinkCfg.ClickHouse
	cfg.Addr = h.p.ClickHouse
	return analytics.Open(ctx, cfg)
}

// verifyClickHouse waits for the sink to load every record and compares
// ClickHouse with the topics:
//
//   - attempts: one row per record of payments.attempts (attempt ids are
//     unique, so the ReplacingMergeTree keeps them all);
//   - requests: one row per valid record of payments.requested;
//   - payments: one row per payment with a result (the table is a
//     ReplacingMergeTree by payment_id: a payment's ACTION_REQUIRED and a
//     duplicate request's replay collapse into its final row at merges);
//   - psp_minute counts every attempt record once, final_payments_minute
//     every result record but replays once, and every final result once as
//     a payment (the views see every inserted block, so a record inserted
//     twice would count twice there even after the raw tables merged the
//     copies).
func (h *harness) verifyClickHouse(ctx context.Context, want map[string]uint64) error {
	conn, err := h.openDirect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	db := conn.Database
	checks := []struct{ name, query string }{
		{"attempts", "SELECT count() FROM " + db + ".attempts"},
		{"requests", "SELECT count() FROM " + db + ".requests"},
		{"payments", "SELECT uniqExact(payment_id) FROM " + db + ".payments"},
		{"psp_minute attempts", "SELECT sum(attempts) FROM " + db + ".psp_minute"},
		{"final_payments_minute results", "SELECT sum(results) FROM " + db + ".final_payments_minute"},
		{"final_payments_minute payments", "SELECT sum(payments) FROM " + db + ".final_payments_minute"},
	}
	deadline := time.Now().Add(h.p.Settle)
	lastLog := time.Now()
	got := map[string]uint64{}
	errs := map[string]error{}
	for {
		same := true
		for _, c := range checks {
			var n uint64
			err := conn.QueryRow(ctx, c.query).Scan(&n)
			got[c.name], errs[c.name] = n, err
			if err != nil || n != want[c.name] {
				same = false
			}
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			h.rep.ClickHouse = append(h.rep.ClickHouse, "sink group at the deadline: "+h.describeGroup(ctx, h.sinkCfg.Group))
			break
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			h.o.Logf("chaos: waiting for ClickHouse: %v, want %v", got, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		h.supervise(ctx)
	}
	for _, c := range checks {
		h.rep.ClickHouse = append(h.rep.ClickHouse, fmt.Sprintf("%s: %d in ClickHouse, %d on the topic", c.name, got[c.name], want[c.name]))
		switch {
		case errs[c.name] != nil:
			h.rep.violation("clickhouse %s: %v", c.name, errs[c.name])
		case got[c.name] != want[c.name]:
			h.rep.violation("clickhouse %s: %d, but %d on the topic", c.name, got[c.name], want[c.name])
		}
	}
	// The sink is done: stop it so that its last log lines are scanned too.
	h.sinkMu.Lock()
	s := h.sink
	h.sink = nil
	h.sinkMu.Unlock()
	if s != nil {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		_ = s.Stop(sctx)
		cancel()
	}
	return nil
}

// describeGroup says who is in a consumer group and what it owns, for
// reports of a group that stopped making progress.
func (h *harness) describeGroup(ctx context.Context, group string) string {
	cl, err := h.cluster.NewClient()
	if err != nil {
		return err.Error()
	}
	defer cl.Close()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	groups, err := kadm.NewClient(cl).DescribeGroups(dctx, group)
	if err != nil {
		return err.Error()
	}
	g, ok := groups[group]
	if !ok {
		return "not found"
	}
	out := fmt.Sprintf("state %s, protocol %s, err %v, members:", g.State, g.Protocol, g.Err)
	for _, m := range g.Members {
		var parts []string
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				parts = append(parts, fmt.Sprintf("%s%v", t.Topic, t.Partitions))
			}
		}
		out += fmt.Sprintf(" %s (%s) %v;", m.MemberID, m.ClientID, parts)
	}
	return out
}

// pathString prints a result's attempts: "psp-a:psp_error:service_unavailable > psp-b:APPROVED:".
func pathString(res schemas.PaymentResult) string {
	var parts []string
	for _, a := range res.Path {
		c := string(a.Class)
		if c == "" {
			c = string(a.Outcome)
		}
		parts = append(parts, a.PSP+":"+c+":"+a.PSPCode)
	}
	return strings.Join(parts, " > ")
}
