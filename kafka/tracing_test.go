package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
)

// remoteSpan is a span context as an upstream service would send it.
func remoteSpan(t *testing.T, traceHex, spanHex string) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex(traceHex)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex(spanHex)
	if err != nil {
		t.Fatal(err)
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

func TestHeaderCarrier(t *testing.T) {
	hs := []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}, {Key: "a", Value: []byte("3")}}
	c := HeaderCarrier{&hs}
	if got := c.Get("a"); got != "3" {
		t.Fatalf("Get(a) = %q, want the last one, 3", got)
	}
	if got := c.Get("missing"); got != "" {
		t.Fatalf("Get(missing) = %q", got)
	}
	c.Set("a", "4")
	if len(hs) != 2 || c.Get("a") != "4" || c.Get("b") != "2" {
		t.Fatalf("Set(a) must replace both a headers and keep b: %v", hs)
	}
	if keys := c.Keys(); len(keys) != 2 || keys[0] != "b" || keys[1] != "a" {
		t.Fatalf("Keys = %v", keys)
	}
}

func TestInjectExtractRoundTrip(t *testing.T) {
	sc := remoteSpan(t, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
	rec := &kgo.Record{Headers: []kgo.RecordHeader{{Key: "x-other", Value: []byte("kept")}}}
	InjectTrace(trace.ContextWithRemoteSpanContext(context.Background(), sc), rec)
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if got := (HeaderCarrier{&rec.Headers}).Get(TraceParentHeader); got != want {
		t.Fatalf("traceparent = %q, want %q", got, want)
	}
	if (HeaderCarrier{&rec.Headers}).Get("x-other") != "kept" {
		t.Fatal("other headers must be kept")
	}
	got := trace.SpanContextFromContext(ExtractTrace(context.Background(), rec))
	if !got.Equal(sc) {
		t.Fatalf("extracted %v, want %v", got, sc)
	}

	// No span context: nothing is written.
	empty := &kgo.Record{}
	InjectTrace(context.Background(), empty)
	if len(empty.Headers) != 0 {
		t.Fatalf("no trace, yet headers %v", empty.Headers)
	}
	// A malformed traceparent extracts to nothing rather than failing.
	bad := &kgo.Record{Headers: []kgo.RecordHeader{{Key: TraceParentHeader, Value: []byte("00-zz-yy-01")}}}
	if trace.SpanContextFromContext(ExtractTrace(context.Background(), bad)).IsValid() {
		t.Fatal("a malformed traceparent must not give a span context")
	}
}

// TestTraceHookThroughBroker produces and consumes through the embedded
// broker with clients of a Cluster: the producer's context reaches the
// consumer's record, and a record that carries its own traceparent keeps it.
func TestTraceHookThroughBroker(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Partitions = 1
	e, err := NewEmbedded(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := NewCluster(cfg, e)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.EnsureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	topic := c.Topics().Requested

	var hooked int
	c.AddClientHooks(func() []kgo.Hook { hooked++; return nil })
	prod, err := c.NewClient(kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if hooked != 1 {
		t.Fatalf("client hook factory called %d times for one client", hooked)
	}

	fromCtx := remoteSpan(t, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
	own := "00-11111111111111111111111111111111-2222222222222222-01"
	recs := []*kgo.Record{
		{Key: []byte("p1"), Value: []byte("v")},
		{Key: []byte("p2"), Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: TraceParentHeader, Value: []byte(own)}}},
		{Key: []byte("p3"), Value: []byte("v"), Context: context.Background()},
	}
	pctx := trace.ContextWithRemoteSpanContext(ctx, fromCtx)
	if err := prod.ProduceSync(pctx, recs[:2]...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(pctx, recs[2]).FirstErr(); err != nil {
		t.Fatal(err)
	}

	cons, err := c.NewClient(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[string]*kgo.Record{}
	for len(got) < 3 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Key)] = r })
	}
	if sc := trace.SpanContextFromContext(got["p1"].Context); !sc.Equal(fromCtx) {
		t.Errorf("p1: consumer context %v, want the producer's %v", sc, fromCtx)
	}
	if tp := (HeaderCarrier{&got["p2"].Headers}).Get(TraceParentHeader); tp != own {
		t.Errorf("p2: traceparent %q, want its own %q", tp, own)
	}
	if tp := (HeaderCarrier{&got["p3"].Headers}).Get(TraceParentHeader); tp != "" {
		t.Errorf("p3 was produced with a context without a trace, yet carries %q", tp)
	}
	if trace.SpanContextFromContext(got["p3"].Context).IsValid() {
		t.Error("p3: a record without traceparent must not get a trace on fetch")
	}
}
