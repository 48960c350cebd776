package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Trace context travels in Kafka record headers as W3C Trace Context
// (traceparent, tracestate) plus W3C baggage, the OpenTelemetry defaults, so
// a payment's trace started by an upstream producer continues through
// payroute and on to downstream consumers of payments.results, whatever
// tracing SDK each side uses.
//
// The propagator is fixed rather than taken from otel.GetTextMapPropagator:
// the global one is a no-op until an SDK installs another, and the header
// format on payroute's topics is part of its contract with producers and
// consumers, not a deployment choice.
var tracePropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// TraceParentHeader is the header that carries the W3C trace context.
const TraceParentHeader = "traceparent"

// HeaderCarrier adapts a record's headers to OpenTelemetry's TextMapCarrier.
// Get returns the last header with the key; Set replaces every header with
// the key by one.
type HeaderCarrier struct {
	Headers *[]kgo.RecordHeader
}

var _ propagation.TextMapCarrier = HeaderCarrier{}

// Get returns the value of the last header named key, or "".
func (c HeaderCarrier) Get(key string) string {
	hs := *c.Headers
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return string(hs[i].Value)
		}
	}
	return ""
}

// Set replaces the headers named key with one header.
func (c HeaderCarrier) Set(key, value string) {
	hs := (*c.Headers)[:0:0]
	for _, h := range *c.Headers {
		if h.Key != key {
			hs = append(hs, h)
		}
	}
	*c.Headers = append(hs, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

// Keys lists the header keys.
func (c HeaderCarrier) Keys() []string {
	out := make([]string, 0, len(*c.Headers))
	for _, h := range *c.Headers {
		out = append(out, h.Key)
	}
	return out
}

// InjectTrace writes the trace context of ctx (its span, or a remote span
// context it carries) into r's headers. Without a valid span context it
// leaves the headers as they are, so a record never carries a made-up trace.
func InjectTrace(ctx context.Context, r *kgo.Record) {
	if ctx == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	tracePropagator.Inject(ctx, HeaderCarrier{&r.Headers})
}

// ExtractTrace returns ctx carrying the trace context found in r's headers
// as the remote parent: spans started from it (with any SDK) join the
// producer's trace. A record without (or with a malformed) traceparent
// yields ctx unchanged.
func ExtractTrace(ctx context.Context, r *kgo.Record) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return tracePropagator.Extract(ctx, HeaderCarrier{&r.Headers})
}

// TraceHook is the kgo hook that carries trace context through every client
// of the Cluster:
//
//   - on produce, a record without a traceparent header gets the trace
//     context of its Context (the ctx given to Produce, or one set by the
//     caller), so producing an output with the context of the input it came
//     from continues the input's trace;
//   - on fetch, a record's Context becomes the trace context extracted from
//     its headers, before the record is polled.
//
// A record that already carries a traceparent keeps it: a caller that
// copied an input's headers onto an output has said what it wants.
type TraceHook struct{}

var (
	_ kgo.HookProduceRecordBuffered = TraceHook{}
	_ kgo.HookFetchRecordBuffered   = TraceHook{}
)

// OnProduceRecordBuffered injects the record's context.
func (TraceHook) OnProduceRecordBuffered(r *kgo.Record) {
	if (HeaderCarrier{&r.Headers}).Get(TraceParentHeader) != "" {
		return
	}
	InjectTrace(r.Context, r)
}

// OnFetchRecordBuffered sets the record's context from its headers.
func (TraceHook) OnFetchRecordBuffered(r *kgo.Record) {
	if (HeaderCarrier{&r.Headers}).Get(TraceParentHeader) == "" {
		return
	}
	r.Context = ExtractTrace(r.Context, r)
}

// TraceHeaders returns the trace context headers of r (traceparent,
// tracestate, baggage), for an output that continues r's trace after r
// itself is gone (a PSP call finishes in a later batch): the processor
// keeps them with the payment and copies them onto what it produces.
func TraceHeaders(r *kgo.Record) []kgo.RecordHeader {
	var out []kgo.RecordHeader
	for _, h := range r.Headers {
		switch h.Key {
		case TraceParentHeader, "tracestate", "baggage":
			out = append(out, h)
		}
	}
	return out
}
