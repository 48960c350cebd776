package consumers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/schemas"
)

// RouteError is the router's typed refusal; the processor needs only its
// machine-readable reason.
type routeReasoner interface{ RouteReason() string }

// handle processes one input record and returns every record it emits.
// It never returns nothing for an input: a payment either moves on (retry
// topic), ends (result), or is refused (DLQ, plus REJECTED when its id is known).
func (p *Processor) handle(ctx context.Context, rec *kgo.Record) []*kgo.Record {
	if rec.Topic == p.topics.Requested {
		return p.handleRequested(ctx, rec)
	}
	if rank, ok := p.topics.RankOf(rec.Topic); ok {
		return p.handleRetry(ctx, rec, rank)
	}
	return p.deadLetter(rec, "unexpected_topic", "", fmt.Errorf("processor does not read topic %q", rec.Topic))
}

// handleRequested is the RequestConsumer: decode, validate, route, attempt rank 1.
func (p *Processor) handleRequested(ctx context.Context, rec *kgo.Record) []*kgo.Record {
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
		return p.reject(rec, req, paymentID, reason, field, err)
	}
	if string(rec.Key) != req.PaymentID {
		// Keying by payment_id is what co-partitions a payment's topics; a
		// wrong key would split one payment across two owners.
		return p.reject(rec, req, req.PaymentID, "key_mismatch", "payment_id",
			fmt.Errorf("record key %q is not the payment_id %q", rec.Key, req.PaymentID))
	}
	dec, err := p.router.Route(req)
	if err != nil {
		reason := "routing"
		var rr routeReasoner
		if errors.As(err, &rr) {
			reason = "routing:" + rr.RouteReason()
		}
		return p.reject(rec, req, req.PaymentID, reason, "routing", err)
	}
	return p.attempt(ctx, rec, req, dec, 1, nil)
}

// handleRetry is the RetryConsumer of one rank: it attempts the rank's PSP
// with the decision the payment started with.
func (p *Processor) handleRetry(ctx context.Context, rec *kgo.Record, rank int) []*kgo.Record {
	var f schemas.AttemptFailed
	if err := p.decoder.Decode(rec.Value, &f); err != nil {
		reason := "undecodable"
		var de *schemas.DecodeError
		if errors.As(err, &de) {
			reason = de.Reason()
		}
		// A retry record is payroute's own output, so this is a bug or a foreign
		// writer; the payment was accepted and must still end, so it ends FAILED.
		outs := p.deadLetter(rec, reason, "", err)
		if id := string(rec.Key); id != "" {
			outs = append(outs, p.final(&schemas.PaymentRequested{PaymentID: id}, schemas.Decision{}, nil,
				schemas.StatusFailed, nil, "retry record unreadable: "+err.Error())...)
		}
		return outs
	}
	if int(f.NextRank) != rank || rank > len(f.Decision.Candidates) {
		return append(p.deadLetter(rec, "rank_mismatch", "next_rank",
			fmt.Errorf("record for rank %d (of %d candidates) on the rank-%d topic", f.NextRank, len(f.Decision.Candidates), rank)),
			p.final(&f.Request, f.Decision, f.Path, schemas.StatusFailed, nil, "retry record on the wrong rank")...)
	}
	return p.attempt(ctx, rec, &f.Request, f.Decision, rank, f.Path)
}

// reject refuses an input: the raw record to the DLQ with the reason, and a
// REJECTED result when a payment id is known, so its producer hears back.
func (p *Processor) reject(rec *kgo.Record, req *schemas.PaymentRequested, paymentID, reason, field string, cause error) []*kgo.Record {
	p.log.Warn("payment rejected", "payment_id", paymentID, "reason", reason, "field", field,
		"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "err", cause)
	outs := p.deadLetter(rec, reason, field, cause)
	if paymentID == "" {
		return outs
	}
	base := schemas.PaymentRequested{PaymentID: paymentID}
	if req != nil {
		base = *req
		base.PaymentID = paymentID
	}
	if !slices.Contains(schemas.Operations, base.Operation) {
		base.Operation = schemas.OpUnknown
	}
	res := &schemas.PaymentResult{
		PaymentID: paymentID, MerchantID: base.MerchantID, Operation: base.Operation,
		Status: schemas.StatusRejected, AmountMinor: base.AmountMinor, Currency: base.Currency,
		Class: schemas.ClassInvalidRequest, Reason: reason + ": " + cause.Error(),
		RequestedAtMs: base.RequestedAtMs, CompletedAtMs: time.Now().UnixMilli(),
	}
	return append(outs, p.resultRecord(res)...)
}

func (p *Processor) deadLetter(rec *kgo.Record, reason, field string, cause error) []*kgo.Record {
	p.stats.deadLetter.Add(1)
	return []*kgo.Record{p.records.DeadLetter(rec, reason, field, cause)}
}

// resultRecord encodes a final result. Results are built from decoded,
// validated values, so an encoding failure is a bug: it panics rather than
// lose a payment's only final result without a trace.
func (p *Processor) resultRecord(res *schemas.PaymentResult) []*kgo.Record {
	r, err := p.records.Result(res)
	if err != nil {
		panic(fmt.Sprintf("encode result of %s: %v", res.PaymentID, err))
	}
	p.stats.result(res.Status)
	return []*kgo.Record{r}
}
