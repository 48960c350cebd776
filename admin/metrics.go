package admin

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/schemas"
)

// AttemptObserver is told about PSP attempts as they are made: which PSP,
// how the outcome was classified (schemas.ClassNone for an approval) and
// how long the PSP took.
type AttemptObserver interface {
	ObserveAttempt(psp string, class schemas.Class, latency time.Duration)
}

// classLabel is the class label of an attempt: its class, or "none" for an
// attempt that did not fail (an approval).
func classLabel(c schemas.Class) string {
	if c == schemas.ClassNone {
		return "none"
	}
	return string(c)
}

// Metrics is payroute's Prometheus registry: the Go runtime and process,
// franz-go's client metrics (kprom, payroute_kafka_*), the PSP attempt
// series, consumer lag, and the processor's and sink's counters read at
// scrape time. Every payroute series is listed in docs/operators.md.
type Metrics struct {
	registry *prometheus.Registry
	clients  *clientMetrics

	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	lag      *prometheus.GaugeVec
	lagError prometheus.Counter
	tapError prometheus.Counter
}

// NewMetrics builds the registry with payroute's own series registered.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		clients:  newClientMetrics(reg),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payroute_psp_attempts_total",
			Help: "PSP attempts made by this instance, by PSP and failure class (class=\"none\": approved).",
		}, []string{"psp", "class"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "payroute_psp_attempt_duration_seconds",
			Help:    "How long PSP attempts took, by PSP.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"psp"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "payroute_consumer_lag",
			Help: "Records not yet consumed (and committed) by a consumer group, by topic: requests, each retry rank and delay tier for the processor group, the sink's topics for the analytics group.",
		}, []string{"group", "topic"}),
		lagError: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "payroute_consumer_lag_errors_total",
			Help: "Failed reads of consumer-group lag from Kafka (the lag gauges keep their last value).",
		}),
		tapError: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "payroute_psp_attempts_undecodable_total",
			Help: "AttemptRecorded records produced by this instance that the metrics could not decode (a bug).",
		}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.attempts, m.latency, m.lag, m.lagError, m.tapError,
	)
	return m
}

// Registry is where payroute's metrics live; register more collectors on it.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// ObserveAttempt counts one attempt and its latency.
func (m *Metrics) ObserveAttempt(psp string, class schemas.Class, latency time.Duration) {
	m.attempts.WithLabelValues(psp, classLabel(class)).Inc()
	m.latency.WithLabelValues(psp).Observe(latency.Seconds())
}

// kafkaHooks returns the hooks of one new Kafka client: its kprom metrics
// and, when tap is not nil, the tap of the attempts it produces (see
// kafka.Cluster.AddClientHooks).
func (m *Metrics) kafkaHooks(tap *attemptTap) []kgo.Hook {
	hooks := m.clients.hooks()
	if tap != nil {
		hooks = append(hooks, tap)
	}
	return hooks
}

// newAttemptTap is an attemptTap of the attempts topic feeding observer.
func (m *Metrics) newAttemptTap(topic string, decoder Decoder, observer AttemptObserver) *attemptTap {
	return &attemptTap{topic: topic, decoder: decoder, observer: observer, undecodable: m.tapError}
}

// setLag records the lag of one group's topic.
func (m *Metrics) setLag(group, topic string, lag int64) {
	m.lag.WithLabelValues(group, topic).Set(float64(lag))
}
