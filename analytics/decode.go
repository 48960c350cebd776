package analytics

import (
	"context"
	"errors"
	"runtime"
	"sync"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/schemas"
)

// Decoding the Avro records is most of the sink's own CPU (the rest is
// building the columns and encoding the block), so the records of one poll
// are decoded on every core, in contiguous chunks, before they are put into
// the batch one by one and in order: only decoding is parallel, the
// bookkeeping of what is in hand stays in one goroutine.

// decoded is a record's event, or why it has none.
type decoded struct {
	// v is a *schemas.AttemptRecorded, *schemas.PaymentResult or
	// *schemas.PaymentRequested.
	v any
	// err is a *schemas.DecodeError or errNotAnalytics for a record to
	// skip, any other error for a transient failure that outlasted the
	// run.
	err error
}

// errNotAnalytics is the error of a record of a topic the sink does not
// load.
var errNotAnalytics = errors.New("not an analytics topic")

// minDecodeChunk is the fewest records worth a goroutine of their own.
const minDecodeChunk = 256

// decodeAll decodes recs into out (reused, and returned), in parallel when
// there are enough of them.
func (s *Sink) decodeAll(ctx context.Context, recs []*kgo.Record, out []decoded) []decoded {
	if cap(out) < len(recs) {
		out = make([]decoded, len(recs))
	}
	out = out[:len(recs)]
	workers := min(runtime.GOMAXPROCS(0), len(recs)/minDecodeChunk)
	if workers <= 1 {
		for i, rec := range recs {
			out[i] = s.decode(ctx, rec)
		}
		return out
	}
	var wg sync.WaitGroup
	chunk := (len(recs) + workers - 1) / workers
	for lo := 0; lo < len(recs); lo += chunk {
		hi := min(lo+chunk, len(recs))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				out[i] = s.decode(ctx, recs[i])
			}
		})
	}
	wg.Wait()
	return out
}

// decode decodes one record by its topic. A transient failure (the schema
// registry unreachable) is retried until ctx ends.
func (s *Sink) decode(ctx context.Context, rec *kgo.Record) decoded {
	var v any
	switch rec.Topic {
	case s.topics.Attempts:
		v = new(schemas.AttemptRecorded)
	case s.topics.Results:
		v = new(schemas.PaymentResult)
	case s.topics.Requested:
		v = new(schemas.PaymentRequested)
	default:
		return decoded{err: errNotAnalytics}
	}
	err := s.retry(ctx, "decode", func() error {
		err := s.decoder.Decode(rec.Value, v)
		var de *schemas.DecodeError
		if errors.As(err, &de) {
			return backoff.Permanent(err)
		}
		return err
	})
	if err != nil {
		return decoded{err: err}
	}
	return decoded{v: v}
}
