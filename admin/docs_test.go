package admin

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsAreDocumented keeps docs/operators.md's metric table equal to
// what the admin port registers: every payroute_ series it can export is
// documented, and every documented one exists.
func TestMetricsAreDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/operators.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(payroute_[a-z0-9_]+)\\*?` \\|").FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = true
	}
	m := NewMetrics()
	ch := make(chan *prometheus.Desc, 100)
	go func() {
		for _, c := range []prometheus.Collector{m.attempts, m.latency, m.lag, m.lagError, m.tapError, sourceCollector{}} {
			c.Describe(ch)
		}
		close(ch)
	}()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	registered := map[string]bool{kafkaNamespace + "_": true} // kprom's family, documented as payroute_kafka_*
	for d := range ch {
		registered[fqName.FindStringSubmatch(d.String())[1]] = true
	}
	var missing, stale []string
	for n := range registered {
		if !documented[n] {
			missing = append(missing, n)
		}
	}
	for n := range documented {
		if !registered[n] {
			stale = append(stale, n)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("docs/operators.md does not document %s", strings.Join(missing, ", "))
	}
	if len(stale) > 0 {
		t.Errorf("docs/operators.md documents %s, which payroute does not export", strings.Join(stale, ", "))
	}
}
