package admin

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/payroute/payroute/schemas"
)

// kafkaNamespace prefixes franz-go's client metrics (kprom):
// payroute_kafka_connects_total, payroute_kafka_produce_bytes_total, ...
const kafkaNamespace = "payroute_kafka"

// clientMetrics gives every Kafka client of the process its own kprom
// metrics, labelled client="<role>". kprom registers one set of collectors
// per client when the client is created and unregisters them when it is
// closed, and a registry refuses two sets with the same labels; payroute
// has several clients at once (the processor's transactional session, the
// sink, short-lived state-restore readers, the admin port's own client), so
// each gets a label of its own: its consumer group ("payroute-processor",
// "payroute-analytics"), or "client" for clients outside any group, with a
// "-2", "-3", ... suffix while another live client has the same role.
type clientMetrics struct {
	reg prometheus.Registerer

	mu   sync.Mutex
	live map[string]bool
}

func newClientMetrics(reg prometheus.Registerer) *clientMetrics {
	return &clientMetrics{reg: reg, live: map[string]bool{}}
}

// hooks returns the kgo hooks of one new client.
func (c *clientMetrics) hooks() []kgo.Hook { return []kgo.Hook{&clientHook{parent: c}} }

// acquire reserves a label for a client of role.
func (c *clientMetrics) acquire(role string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	label := role
	for n := 2; c.live[label]; n++ {
		label = role + "-" + strconv.Itoa(n)
	}
	c.live[label] = true
	return label
}

func (c *clientMetrics) release(label string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.live, label)
}

// clientRole names a client by what it does.
func clientRole(cl *kgo.Client) string {
	if g, ok := cl.OptValue(kgo.ConsumerGroup).(string); ok && g != "" {
		return g
	}
	return "client"
}

// clientHook forwards franz-go's hook calls to the client's kprom metrics,
// which are created in OnNewClient (franz-go calls it before the client
// starts any goroutine, so no other hook can come first).
type clientHook struct {
	parent *clientMetrics
	label  string
	m      atomic.Pointer[kprom.Metrics]
}

var (
	_ kgo.HookNewClient           = (*clientHook)(nil)
	_ kgo.HookClientClosed        = (*clientHook)(nil)
	_ kgo.HookBrokerConnect       = (*clientHook)(nil)
	_ kgo.HookBrokerDisconnect    = (*clientHook)(nil)
	_ kgo.HookBrokerWrite         = (*clientHook)(nil)
	_ kgo.HookBrokerRead          = (*clientHook)(nil)
	_ kgo.HookBrokerE2E           = (*clientHook)(nil)
	_ kgo.HookBrokerThrottle      = (*clientHook)(nil)
	_ kgo.HookProduceBatchWritten = (*clientHook)(nil)
	_ kgo.HookFetchBatchRead      = (*clientHook)(nil)
)

func (h *clientHook) OnNewClient(cl *kgo.Client) {
	h.label = h.parent.acquire(clientRole(cl))
	m := kprom.NewMetrics(kafkaNamespace,
		kprom.Registerer(h.parent.reg),
		kprom.WithStaticLabel(prometheus.Labels{"client": h.label}),
		kprom.FetchAndProduceDetail(kprom.ByNode, kprom.ByTopic, kprom.Batches, kprom.Records, kprom.UncompressedBytes),
	)
	m.OnNewClient(cl)
	h.m.Store(m)
}

func (h *clientHook) OnClientClosed(cl *kgo.Client) {
	if m := h.m.Swap(nil); m != nil {
		m.OnClientClosed(cl)
		h.parent.release(h.label)
	}
}

func (h *clientHook) OnBrokerConnect(meta kgo.BrokerMetadata, d time.Duration, c net.Conn, err error) {
	if m := h.m.Load(); m != nil {
		m.OnBrokerConnect(meta, d, c, err)
	}
}

func (h *clientHook) OnBrokerDisconnect(meta kgo.BrokerMetadata, c net.Conn) {
	if m := h.m.Load(); m != nil {
		m.OnBrokerDisconnect(meta, c)
	}
}

func (h *clientHook) OnBrokerWrite(meta kgo.BrokerMetadata, key int16, n int, wait, write time.Duration, err error) {
	if m := h.m.Load(); m != nil {
		m.OnBrokerWrite(meta, key, n, wait, write, err)
	}
}

func (h *clientHook) OnBrokerRead(meta kgo.BrokerMetadata, key int16, n int, wait, read time.Duration, err error) {
	if m := h.m.Load(); m != nil {
		m.OnBrokerRead(meta, key, n, wait, read, err)
	}
}

func (h *clientHook) OnBrokerE2E(meta kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if m := h.m.Load(); m != nil {
		m.OnBrokerE2E(meta, key, e2e)
	}
}

func (h *clientHook) OnBrokerThrottle(meta kgo.BrokerMetadata, d time.Duration, after bool) {
	if m := h.m.Load(); m != nil {
		m.OnBrokerThrottle(meta, d, after)
	}
}

func (h *clientHook) OnProduceBatchWritten(meta kgo.BrokerMetadata, topic string, part int32, bm kgo.ProduceBatchMetrics) {
	if m := h.m.Load(); m != nil {
		m.OnProduceBatchWritten(meta, topic, part, bm)
	}
}

func (h *clientHook) OnFetchBatchRead(meta kgo.BrokerMetadata, topic string, part int32, fm kgo.FetchBatchMetrics) {
	if m := h.m.Load(); m != nil {
		m.OnFetchBatchRead(meta, topic, part, fm)
	}
}

// attemptTap reports the attempts a client produces to payments.attempts:
// every AttemptRecorded the processor of this instance publishes, once the
// broker has accepted it. That is each PSP call this instance made,
// including the calls of a batch whose transaction later aborted (the
// batch is processed again, and its repeated calls are answered from the
// PSP's idempotency store): the load the PSPs actually saw, which is what
// an operator watching a PSP wants. The processor's own committed counts
// are payroute_processor_attempts_total.
//
// Reading the published records rather than being called by the processor
// keeps the counts equal to the event log by construction and keeps the
// processor free of metrics code.
type attemptTap struct {
	topic    string
	decoder  Decoder
	observer AttemptObserver
	// undecodable counts records that did not decode (a bug: the processor
	// encoded them with the same serde).
	undecodable prometheus.Counter
}

// Decoder reads payroute's Avro events (*schemas.Serde).
type Decoder interface {
	Decode(b []byte, v any) error
}

var _ kgo.HookProduceRecordUnbuffered = (*attemptTap)(nil)

func (t *attemptTap) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if err != nil || r.Topic != t.topic {
		return
	}
	var a schemas.AttemptRecorded
	if t.decoder.Decode(r.Value, &a) != nil {
		t.undecodable.Inc()
		return
	}
	t.observer.ObserveAttempt(a.PSP, a.Class, time.Duration(a.LatencyMs)*time.Millisecond)
}
