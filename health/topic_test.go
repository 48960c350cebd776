package health

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

// broker is an embedded kfake broker with payroute's topics.
type broker struct {
	cluster *kafka.Cluster
	serde   *schemas.Serde
}

func newBroker(t *testing.T) *broker {
	t.Helper()
	cfg := kafka.DefaultConfiguration()
	cfg.Partitions = 3
	cluster, _ := kafkatest.Cluster(t, cfg)
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	return &broker{cluster: cluster, serde: serde}
}

// instance starts a Tracker named id on the broker and the shared clock.
func (b *broker) instance(t *testing.T, id string, c *clock) *Tracker {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.InstanceID = id
	tr := newTracker(t, cfg, c, WithKafka(b.cluster, b.serde))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tr.Start(ctx); err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() { _ = tr.Stop(context.Background()) })
	return tr
}

// eventually polls cond until it holds or the deadline passes. Convergence
// takes a produce and a fetch, milliseconds on kfake; the deadline is only
// there to fail rather than hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// latest is the latest record of a scope on the topic.
func (b *broker) latest(t *testing.T, psp, scope string) (schemas.PspHealthChanged, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, skipped, err := Load(ctx, b.cluster, b.serde)
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 0 {
		t.Errorf("Load skipped %d records", skipped)
	}
	for _, r := range recs {
		if r.PSP == psp && r.Scope == scope {
			return r, true
		}
	}
	return schemas.PspHealthChanged{}, false
}

// sameView reports whether trackers hold the same state for every scope.
func sameView(trs ...*Tracker) bool {
	type view struct {
		state schemas.HealthState
		since time.Time
	}
	var first map[string]view
	for _, tr := range trs {
		v := map[string]view{}
		for _, h := range tr.Snapshot() {
			v[key(h.PSP, h.Scope)] = view{h.State, h.Since}
		}
		if first == nil {
			first = v
			continue
		}
		for k, a := range first {
			if b, ok := v[k]; ok && b != a || !ok && a.state != schemas.HealthHealthy {
				return false
			}
		}
		for k, b := range v {
			if _, ok := first[k]; !ok && b.state != schemas.HealthHealthy {
				return false
			}
		}
	}
	return true
}

func TestInstancesConvergeOnTheTopic(t *testing.T) {
	b := newBroker(t)
	c := newClock()
	cfg := DefaultConfiguration()
	a1 := b.instance(t, "a", c)
	a2 := b.instance(t, "b", c)

	// Each instance sees only its own attempts: a sees psp-x fail, b sees
	// psp-y fail. Both end with both down.
	decided := time.Now()
	feed(a1, c, 20, step, Observation{PSP: "psp-x", Currency: "EUR", Network: "visa", Class: schemas.ClassPSPError})
	eventually(t, "b adopts a's decision", func() bool { return a2.State("psp-x", "", "") == schemas.HealthDown })
	t.Logf("b adopted a's DOWN %s after a decided it", time.Since(decided))
	feed(a2, c, 20, step, Observation{PSP: "psp-y", Currency: "USD", Network: "mastercard", Class: schemas.ClassInDoubt})
	for _, tr := range []*Tracker{a1, a2} {
		eventually(t, tr.InstanceID()+" sees psp-x and psp-y down", func() bool {
			return tr.State("psp-x", "EUR", "visa") == schemas.HealthDown && tr.State("psp-y", "USD", "mastercard") == schemas.HealthDown
		})
	}
	if h := stateOf(a2, "psp-x", WholeAccount); h.DecidedBy != "a" {
		t.Errorf("b holds psp-x down as decided by %q, want a", h.DecidedBy)
	}
	if !sameView(a1, a2) {
		t.Fatalf("views differ:\n a: %+v\n b: %+v", a1.Snapshot(), a2.Snapshot())
	}

	// The cool-off ends at the same instant on both, without a message;
	// the instance that decided the DOWN publishes the PROBING.
	c.Add(cfg.CoolOff)
	if a1.State("psp-x", "", "") != schemas.HealthProbing || a2.State("psp-x", "", "") != schemas.HealthProbing {
		t.Fatal("cool-off passed, but not probing everywhere")
	}
	eventually(t, "psp-x PROBING on the topic", func() bool {
		r, ok := b.latest(t, "psp-x", WholeAccount)
		return ok && r.State == schemas.HealthProbing && r.InstanceID == "a"
	})
	eventually(t, "psp-y PROBING on the topic", func() bool {
		r, ok := b.latest(t, "psp-y", WholeAccount)
		return ok && r.State == schemas.HealthProbing && r.InstanceID == "b"
	})

	// b's probes of psp-x succeed: a learns it is healthy, and a's loops
	// waiting on Recovered wake up.
	recovered := a1.Recovered()
	feed(a2, c, cfg.ProbeSuccesses, step, Observation{PSP: "psp-x"})
	eventually(t, "a sees psp-x healthy", func() bool { return a1.State("psp-x", "", "") == schemas.HealthHealthy })
	select {
	case <-recovered:
	default:
		t.Error("a's Recovered did not fire when it adopted b's HEALTHY")
	}
	eventually(t, "a and b agree", func() bool { return sameView(a1, a2) })

	// A new instance starts from the current state.
	a3 := b.instance(t, "c", c)
	if s := a3.State("psp-x", "", ""); s != schemas.HealthHealthy {
		t.Errorf("new instance: psp-x %s, want HEALTHY", s)
	}
	if s := a3.State("psp-y", "", ""); s != schemas.HealthProbing {
		t.Errorf("new instance: psp-y %s, want PROBING", s)
	}
	if !sameView(a1, a2, a3) {
		t.Fatalf("the new instance's view differs:\n a: %+v\n c: %+v", a1.Snapshot(), a3.Snapshot())
	}
	for _, tr := range []*Tracker{a1, a2, a3} {
		if s := tr.Stats(); s.PublishErrors != 0 || s.DecodeErrors != 0 {
			t.Errorf("%s: %+v", tr.InstanceID(), s)
		}
	}
}

func TestSplitDecisionsConvergeOnTheLastRecord(t *testing.T) {
	b := newBroker(t)
	c := newClock()
	cfg := DefaultConfiguration()
	a1 := b.instance(t, "a", c)
	a2 := b.instance(t, "b", c)
	feed(a1, c, 20, step, Observation{PSP: "psp-x", Class: schemas.ClassPSPError})
	eventually(t, "b sees psp-x down", func() bool { return a2.State("psp-x", "", "") == schemas.HealthDown })
	c.Add(cfg.CoolOff)
	// Both probe at once and reach opposite verdicts before either reads
	// the other's: a finds it still down, b finds it healthy.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < cfg.ProbeFailures; i++ {
			a1.Observe(Observation{PSP: "psp-x", Class: schemas.ClassPSPError})
		}
	}()
	for i := 0; i < cfg.ProbeSuccesses; i++ {
		a2.Observe(Observation{PSP: "psp-x"})
	}
	<-done
	eventually(t, "both agree with the topic", func() bool {
		r, ok := b.latest(t, "psp-x", WholeAccount)
		return ok && (r.State == schemas.HealthDown || r.State == schemas.HealthHealthy) &&
			a1.State("psp-x", "", "") == r.State && a2.State("psp-x", "", "") == r.State && sameView(a1, a2)
	})
	r, _ := b.latest(t, "psp-x", WholeAccount)
	t.Logf("split decision settled on %s by %s", r.State, r.InstanceID)
}

func TestNewInstanceTakesOverTimedTransitionsOfAGoneOne(t *testing.T) {
	b := newBroker(t)
	c := newClock()
	gone := b.instance(t, "gone", c)
	feed(gone, c, 20, step, Observation{PSP: "psp-x", Class: schemas.ClassPSPError})
	eventually(t, "DOWN on the topic", func() bool {
		r, ok := b.latest(t, "psp-x", WholeAccount)
		return ok && r.State == schemas.HealthDown
	})
	if err := gone.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Long after: the new instance probes at once, and publishes the
	// PROBING the gone instance never did.
	c.Add(time.Minute)
	fresh := b.instance(t, "fresh", c)
	if s := fresh.State("psp-x", "", ""); s != schemas.HealthProbing {
		t.Fatalf("new instance: %s, want PROBING (cool-off long passed)", s)
	}
	eventually(t, "PROBING published by the new instance", func() bool {
		r, ok := b.latest(t, "psp-x", WholeAccount)
		return ok && r.State == schemas.HealthProbing && r.InstanceID == "fresh"
	})
	r, _ := b.latest(t, "psp-x", WholeAccount)
	down := stateOf(fresh, "psp-x", WholeAccount)
	if got, want := time.UnixMilli(r.ChangedAtMs), down.Since; !got.Equal(want) {
		t.Errorf("PROBING published as changed at %s, the tracker holds %s", got, want)
	}
}

func TestUnreadableRecordsAreSkipped(t *testing.T) {
	b := newBroker(t)
	cl, err := b.cluster.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	good, err := b.serde.Encode(&schemas.PspHealthChanged{PSP: "psp-x", Scope: "*", State: schemas.HealthDown,
		PreviousState: schemas.HealthHealthy, Reason: "test", InstanceID: "other", ChangedAtMs: newClock().Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	topic := b.cluster.Topics().Health
	for _, r := range []*kgo.Record{
		{Topic: topic, Key: []byte("psp-x|*"), Value: []byte("not avro")},
		{Topic: topic, Key: []byte("psp-x|*"), Value: nil}, // tombstone
		{Topic: topic, Key: []byte("psp-x|*"), Value: good},
	} {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c := newClock()
	c.Add(time.Second)
	tr := b.instance(t, "reader", c)
	if s := tr.State("psp-x", "", ""); s != schemas.HealthDown {
		t.Errorf("psp-x %s, want DOWN from the readable record", s)
	}
	if s := tr.Stats(); s.DecodeErrors != 1 || s.Adopted != 1 {
		t.Errorf("stats %+v: want 1 decode error, 1 adopted transition", s)
	}
}

func TestMaintenanceReachesTheTopic(t *testing.T) {
	b := newBroker(t)
	c := newClock()
	start := c.Now().Add(time.Minute)
	mk := func(id string) *Tracker {
		cfg := DefaultConfiguration()
		cfg.InstanceID = id
		cfg.Maintenance = []MaintenanceWindow{{PSP: "psp-m", Start: start, End: start.Add(time.Hour)}}
		tr := newTracker(t, cfg, c, WithKafka(b.cluster, b.serde))
		if err := tr.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Stop(context.Background()) })
		return tr
	}
	a1, a2 := mk("a"), mk("b")
	c.Add(time.Minute)
	// Both take it down at the window's start without a message...
	for _, tr := range []*Tracker{a1, a2} {
		if h := stateOf(tr, "psp-m", WholeAccount); h.State != schemas.HealthDown || !h.Maintenance || !h.Since.Equal(start) {
			t.Fatalf("%s at the window's start: %+v", tr.InstanceID(), h)
		}
	}
	// ...and once the grace has passed, the topic says so too.
	c.Add(confirmGrace + time.Second)
	eventually(t, "the maintenance on the topic", func() bool {
		r, ok := b.latest(t, "psp-m", WholeAccount)
		return ok && r.State == schemas.HealthDown && strings.HasPrefix(r.Reason, "maintenance until") && r.ChangedAtMs == start.UnixMilli()
	})
	eventually(t, "every instance holds it as confirmed", func() bool {
		return stateOf(a1, "psp-m", WholeAccount).DecidedBy != "" && stateOf(a2, "psp-m", WholeAccount).DecidedBy != ""
	})
}
