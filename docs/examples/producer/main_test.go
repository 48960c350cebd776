package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/kafka/kafkatest"
	"github.com/payroute/payroute/schemas"
)

// TestProducerPublishesWhatPayrouteReads runs the example against an
// embedded broker and reads the records back as payroute does: keyed by
// payment_id, valid PaymentRequested events, each with a traceparent.
func TestProducerPublishesWhatPayrouteReads(t *testing.T) {
	cfg := kafka.DefaultConfiguration()
	cfg.Partitions = 3
	cluster, e := kafkatest.Cluster(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cluster.EnsureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	topic := cluster.Topics().Requested
	if err := run(strings.Join(e.Addrs(), ","), topic, "", "shop", 20, 1000); err != nil {
		t.Fatal(err)
	}

	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cluster.NewClient(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]bool{}
	for len(seen) < 20 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			req, err := serde.DecodePaymentRequested(r.Value)
			if err != nil {
				t.Fatalf("payroute would reject %s: %v", r.Key, err)
			}
			if string(r.Key) != req.PaymentID {
				t.Errorf("key %s is not the payment_id %s", r.Key, req.PaymentID)
			}
			if tp := (kafka.HeaderCarrier{Headers: &r.Headers}).Get(kafka.TraceParentHeader); len(tp) != 55 {
				t.Errorf("%s: traceparent %q", req.PaymentID, tp)
			}
			seen[req.PaymentID] = true
		})
	}
}
