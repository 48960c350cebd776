package admin

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/kafka/kafkatest"
)

// A group Kafka cannot answer for keeps its last lag and counts as a read
// error, while the other group's lag stays current.
func TestLagOfOneGroupFailingKeepsTheOthers(t *testing.T) {
	kcfg := kafka.DefaultConfiguration()
	kcfg.Partitions = 1
	cluster, emb := kafkatest.Cluster(t, kcfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cluster.EnsureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := cluster.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := cluster.Topics()
	produce := func(topic string, n int) {
		t.Helper()
		for range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	commit := func(group, topic string) {
		t.Helper()
		o := kadm.Offsets{}
		o.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1})
		if _, err := adm.CommitOffsets(ctx, group, o); err != nil {
			t.Fatal(err)
		}
	}
	produce(topics.Requested, 3)
	produce(topics.Attempts, 5)
	commit("payroute-processor", topics.Requested)
	commit("payroute-analytics", topics.Attempts)

	l := &lagReader{adm: adm, groups: []string{"payroute-processor", "payroute-analytics"}, metrics: NewMetrics()}
	lagOf := func(group, topic string) (int64, bool) {
		last, _, _ := l.snapshot()
		for _, tl := range last {
			if tl.Group == group && tl.Topic == topic {
				return tl.Lag, true
			}
		}
		return 0, false
	}
	l.read(ctx, 10*time.Second)
	if lag, ok := lagOf("payroute-analytics", topics.Attempts); !ok || lag != 4 {
		t.Fatalf("analytics lag %d (%v), want 4", lag, ok)
	}

	// The sink's group may not be described (an ACL refuses it); the
	// processor's lag moves on.
	kc := emb.Cluster()
	kc.ControlKey(int16(kmsg.DescribeGroups), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		// Both groups here have commits and no members: Empty is what
		// the broker says of the processor's.
		req := kreq.(*kmsg.DescribeGroupsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, name := range req.Groups {
			g := kmsg.NewDescribeGroupsResponseGroup()
			g.Group, g.State, g.ProtocolType = name, "Empty", "consumer"
			if name == "payroute-analytics" {
				g.ErrorCode = kerr.GroupAuthorizationFailed.Code
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp, nil, true
	})
	produce(topics.Requested, 2)
	l.read(ctx, 10*time.Second)
	if lag, ok := lagOf("payroute-processor", topics.Requested); !ok || lag != 4 {
		t.Errorf("processor lag %d (%v), want 4: a failing group held it back", lag, ok)
	}
	if lag, ok := lagOf("payroute-analytics", topics.Attempts); !ok || lag != 4 {
		t.Errorf("analytics lag %d (%v), want its last figure, 4", lag, ok)
	}
	if _, _, err := l.snapshot(); err == nil {
		t.Error("the failing group is not reported")
	}
	var errs dto.Metric
	if err := l.metrics.lagError.Write(&errs); err != nil || errs.GetCounter().GetValue() != 1 {
		t.Errorf("lag errors %v (%v), want 1", errs.GetCounter().GetValue(), err)
	}
}
