package consumers

import (
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/schemas"
)

// HeaderReplay is set on a result that answers a duplicate request by
// republishing the result already published for that payment.
const HeaderReplay = producers.HeaderReplay

// routeReasoner is the router's typed refusal; the processor needs only its
// machine-readable reason.
type routeReasoner interface{ RouteReason() string }

// handle processes one input record. It never drops an input silently: a
// payment either moves on (retry topic, schedule), ends (result), is
// answered from state (duplicate), or is refused (DLQ, plus REJECTED when
// its id is known and it is not a duplicate of a known payment).
func (p *Processor) handle(w *work, rec *kgo.Record) {
	w.counts.records++
	w.trace = kafka.TraceHeaders(rec)
	switch {
	case rec.Topic == p.topics.Requested:
		p.handleRequested(w, rec)
	case rec.Topic == p.topics.FollowUps:
		p.handleFollowUp(w, rec)
	case rec.Topic == p.topics.Actions:
		p.handleAction(w, rec)
	default:
		if rank, ok := p.topics.RankOf(rec.Topic); ok {
			p.handleRetry(w, rec, rank)
		} else if tier, ok := p.topics.DelayOf(rec.Topic); ok {
			p.handleDelayed(w, rec, tier.Topic)
		} else {
			p.deadLetter(w, rec, "unexpected_topic", "", fmt.Errorf("processor does not read topic %q", rec.Topic))
		}
	}
}

// handleRequested is the RequestConsumer: decode, validate, deduplicate,
// route, attempt rank 1. Follow-ups are re-keyed to the payment they follow.
func (p *Processor) handleRequested(w *work, rec *kgo.Record) {
	req, ok := p.decodeRequest(w, rec)
	if !ok {
		return
	}
	if req.Operation.IsFollowUp() {
		// The authorization's state lives with the authorization's partition:
		// hand the request, as received, to its owner.
		w.emit(&kgo.Record{Topic: p.topics.FollowUps, Key: []byte(req.ReferencePaymentID), Value: rec.Value, Headers: rec.Headers})
		return
	}
	if p.answerDuplicate(w, req.PaymentID) {
		return
	}
	dec, err := p.router.Route(req)
	if err != nil {
		reason := "routing"
		var rr routeReasoner
		if errors.As(err, &rr) {
			reason = "routing:" + rr.RouteReason()
		}
		p.reject(w, rec, req, req.PaymentID, reason, "routing", err)
		return
	}
	st := &PaymentState{PaymentID: req.PaymentID, Phase: PhaseInFlight, Request: req, Decision: dec,
		Operation: req.Operation, AmountMinor: req.AmountMinor, Currency: req.Currency}
	if p.hold(w, st) {
		return
	}
	cand := st.Decision.Candidates[0]
	p.attempt(w, rec, st, step{rank: 1, psp: cand.PSP, method: cand.Method})
}

// decodeRequest decodes and validates a PaymentRequested, refusing it (DLQ,
// and REJECTED where its id is readable) when it is bad.
func (p *Processor) decodeRequest(w *work, rec *kgo.Record) (*schemas.PaymentRequested, bool) {
	req, err := p.decoder.DecodePaymentRequested(rec.Value)
	if err != nil {
		reason, field := "undecodable", ""
		var de *schemas.DecodeError
		if errors.As(err, &de) {
			reason, field = de.Reason(), de.Field
		}
		paymentID := string(rec.Key)
		if req != nil && req.PaymentID != "" {
			paymentID = req.PaymentID
		}
		p.reject(w, rec, req, paymentID, reason, field, err)
		return nil, false
	}
	key := req.PaymentID
	if req.Operation.IsFollowUp() && rec.Topic == p.topics.FollowUps {
		key = req.ReferencePaymentID
	}
	if string(rec.Key) != key {
		// Keying by payment_id is what co-partitions a payment's topics; a
		// wrong key would split one payment across two owners.
		p.reject(w, rec, req, req.PaymentID, "key_mismatch", "payment_id",
			fmt.Errorf("record key %q is not the payment_id %q", rec.Key, key))
		return nil, false
	}
	return req, true
}

// answerDuplicate answers a request for a payment that already has state:
// a finished payment's result (or the ACTION_REQUIRED it awaits) is
// published again, marked as a replay; a payment still in flight gets
// nothing now, since its final result is on its way. Either way no second
// payment starts.
func (p *Processor) answerDuplicate(w *work, paymentID string) bool {
	st, ok := w.view.get(paymentID)
	if !ok {
		return false
	}
	w.counts.duplicates++
	p.log.Info("duplicate request", "payment_id", paymentID, "phase", st.Phase)
	if (st.Phase == PhaseFinal || st.Phase == PhaseActionRequired) && st.Result != nil {
		rec := p.resultRecord(st.Result)
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderReplay, Value: []byte("duplicate_request")})
		w.emit(rec)
	}
	return true
}

// handleRetry is the RetryConsumer of one rank: it attempts the rank's PSP
// with the decision the payment started with.
func (p *Processor) handleRetry(w *work, rec *kgo.Record, rank int) {
	f, st, ok := p.decodeRetry(w, rec)
	if !ok {
		return
	}
	if int(f.NextRank) != rank || rank > len(f.Decision.Candidates) {
		p.deadLetter(w, rec, "rank_mismatch", "next_rank",
			fmt.Errorf("record for rank %d (of %d candidates) on the rank-%d topic", f.NextRank, len(f.Decision.Candidates), rank))
		p.finish(w, st, schemas.StatusFailed, nil, "retry record on the wrong rank")
		return
	}
	if st.Phase != PhaseInFlight || st.PendingRank != rank {
		// Already moved past this rank: a stale copy, nothing to do.
		w.counts.duplicates++
		return
	}
	cand := f.Decision.Candidates[rank-1]
	p.attempt(w, rec, st, step{rank: rank, psp: cand.PSP, method: cand.Method})
}

// decodeRetry reads an AttemptFailed and the state of its payment. The
// event is self-contained, so a payment whose state is missing (it cannot
// be, with transactions, unless state retention passed) carries on from it.
func (p *Processor) decodeRetry(w *work, rec *kgo.Record) (*schemas.AttemptFailed, *PaymentState, bool) {
	var f schemas.AttemptFailed
	if err := p.decoder.Decode(rec.Value, &f); err != nil {
		reason := "undecodable"
		var de *schemas.DecodeError
		if errors.As(err, &de) {
			reason = de.Reason()
		}
		// A retry record is payroute's own output, so this is a bug or a
		// foreign writer. The payment was accepted and must still end.
		p.deadLetter(w, rec, reason, "", err)
		if st, ok := w.view.get(string(rec.Key)); ok && st.Phase != PhaseFinal {
			p.finish(w, st, schemas.StatusFailed, nil, "retry record unreadable: "+producers.ErrorText(err))
		}
		return nil, nil, false
	}
	st, ok := w.view.get(f.PaymentID)
	if !ok {
		p.log.Warn("retry for a payment without state; continuing from the event", "payment_id", f.PaymentID, "topic", rec.Topic)
		req := f.Request
		st = &PaymentState{PaymentID: f.PaymentID, Phase: PhaseInFlight, Request: &req, Decision: f.Decision,
			Path: f.Path, PendingRank: int(f.NextRank), Operation: req.Operation, AmountMinor: req.AmountMinor, Currency: req.Currency}
		if _, isDelay := p.topics.DelayOf(rec.Topic); isDelay {
			st.Phase = PhaseScheduled
		}
	}
	if st.Phase == PhaseFinal {
		w.counts.duplicates++
		return nil, nil, false
	}
	return &f, st, true
}

// reject refuses an input: the raw record to the DLQ with the reason, and a
// REJECTED result when a payment id is known (and within
// schemas.MaxIDBytes), so its producer hears back.
// An id that already belongs to a payment gets no REJECTED: that payment's
// one final result is its own.
func (p *Processor) reject(w *work, rec *kgo.Record, req *schemas.PaymentRequested, paymentID, reason, field string, cause error) {
	// Error text can quote the input, card numbers and huge keys included:
	// bound and redact it wherever it goes, logs and results alike.
	causeText := producers.ErrorText(cause)
	p.log.Warn("payment rejected", "payment_id", paymentID, "reason", reason, "field", field,
		"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "err", causeText)
	p.deadLetter(w, rec, reason, field, cause)
	if paymentID == "" || len(paymentID) > schemas.MaxIDBytes {
		// No id, or one no payment may have: nothing to keep state or
		// publish a result under (a key of any size could make the result
		// too large to write, and stall the partition). The dead letter is
		// the answer.
		return
	}
	if _, known := w.view.get(paymentID); known {
		w.counts.duplicates++
		return
	}
	base := schemas.PaymentRequested{PaymentID: paymentID}
	if req != nil {
		base = *req
		base.PaymentID = paymentID
	}
	if !slices.Contains(schemas.Operations, base.Operation) {
		base.Operation = schemas.OpUnknown
	}
	st := &PaymentState{PaymentID: paymentID, Request: &base, Operation: base.Operation,
		AmountMinor: base.AmountMinor, Currency: base.Currency}
	res := p.newResult(w, st, schemas.StatusRejected, reason+": "+causeText)
	res.Class = schemas.ClassInvalidRequest
	p.publishFinal(w, st, res)
}

func (p *Processor) deadLetter(w *work, rec *kgo.Record, reason, field string, cause error) {
	w.counts.deadLetters++
	w.emit(p.records.DeadLetter(rec, reason, field, cause))
}

// resultRecord encodes a result. Results are built from decoded, validated
// values, so an encoding failure is a bug: it panics, which fails the batch
// (see processBatch) rather than commit past a payment with no result.
func (p *Processor) resultRecord(res *schemas.PaymentResult) *kgo.Record {
	r, err := p.records.Result(res)
	if err != nil {
		panic(fmt.Sprintf("encode result of %s: %v", res.PaymentID, err))
	}
	return r
}
