package consumers

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/schemas"
)

// work is one partition's share of a batch: the state it sees, the records
// it emits, and what it counted. Nothing in it is visible outside the batch
// until the batch's transaction commits.
type work struct {
	p      *Processor
	view   *partView
	now    time.Time
	outs   []*kgo.Record
	pause  map[topicPartition]time.Time
	counts counts
	// trace is the trace context (traceparent...) of the input being
	// handled, copied onto every record it leads to.
	trace []kgo.RecordHeader
	// launch lists payments whose PSP call starts once the batch commits.
	launch []string
	// reattempts counts the batch's own scheduled reattempts per card,
	// which the ledger sees only once the batch commits.
	reattempts map[string]int
}

// emit adds output records, carrying the trace of the input they come
// from (unless they carry one of their own, as a dead letter copying its
// input's headers does).
func (w *work) emit(recs ...*kgo.Record) {
	for _, r := range recs {
		if len(w.trace) > 0 && r.Topic != w.p.topics.State && producers.HeaderValue(r, kafka.TraceParentHeader) == "" {
			r.Headers = append(r.Headers, w.trace...)
		}
	}
	w.outs = append(w.outs, recs...)
}

// save records a state change; flushState writes each changed payment's
// last state of the batch to the changelog.
func (w *work) save(st *PaymentState) {
	st.UpdatedAtMs = w.now.UnixMilli()
	w.view.put(st)
}

func (w *work) flushState() {
	for _, id := range slices.Sorted(maps.Keys(w.view.changes)) {
		rec := &kgo.Record{Topic: w.p.topics.State, Key: []byte(id), Partition: w.view.part}
		if st := w.view.changes[id]; st != nil {
			b, err := encodeState(st)
			if err != nil {
				panic(fmt.Sprintf("encode state of %s: %v", id, err))
			}
			rec.Value = b
			if w.view.encoded == nil {
				w.view.encoded = map[string][]byte{}
			}
			w.view.encoded[id] = b
		}
		w.emit(rec)
	}
}

// pauseUntil asks for a delay partition to be paused until its head is due.
func (w *work) pauseUntil(rec *kgo.Record, until time.Time) {
	if w.pause == nil {
		w.pause = map[topicPartition]time.Time{}
	}
	tp := topicPartition{Topic: rec.Topic, Partition: rec.Partition}
	if cur, ok := w.pause[tp]; !ok || until.Before(cur) {
		w.pause[tp] = until
	}
}

// counts are what a batch did, added to Stats once it commits.
type counts struct {
	records, attempts, failovers, deadLetters, duplicates, scheduled, held int64
	results                                                                map[schemas.Status]int64
}

func (c *counts) result(st schemas.Status) {
	if c.results == nil {
		c.results = map[schemas.Status]int64{}
	}
	c.results[st]++
}

func (c *counts) add(o counts) {
	c.records += o.records
	c.attempts += o.attempts
	c.failovers += o.failovers
	c.deadLetters += o.deadLetters
	c.duplicates += o.duplicates
	c.scheduled += o.scheduled
	c.held += o.held
	for st, n := range o.results {
		if c.results == nil {
			c.results = map[schemas.Status]int64{}
		}
		c.results[st] += n
	}
}

// topicPartition names one partition of one topic.
type topicPartition struct {
	Topic     string
	Partition int32
}
