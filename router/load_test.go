package router_test

import (
	"strings"
	"testing"

	"github.com/payroute/payroute/router"
)

func TestLoadBytes(t *testing.T) {
	doc := `log: {level: debug}
kafka:
  brokers: [b1:9092]
  anything: goes        # not the router's to judge
router:
  version: file-v
  routes:
    a: [{psp: psp-a}]
  rules:
    - id: r
      when:
        - {field: currency, op: equals, value: EUR}
      route: a
`
	env := []string{"PAYROUTE_ROUTER_VERSION=env-v", "PAYROUTE_KAFKA_BROKERS=x:1", "PAYROUTE_NOPE=1", "HOME=/root"}
	cfg, err := router.LoadBytes("p.yaml", []byte(doc), env)
	if err != nil {
		t.Fatalf("LoadBytes: %v", err)
	}
	if cfg.Version != "env-v" || cfg.MaxRanks != 5 || len(cfg.Rules) != 1 || cfg.Rules[0].When[0].Value != "EUR" {
		t.Fatalf("config: %+v", cfg)
	}
	src := cfg.Source()
	if src.File() != "p.yaml" || src.Line("router.rules[0].when[0]") != 12 || src.Line("router.rules[0].when[0].op") != 12 ||
		src.Line("router.rules[0].split[3]") != 10 || src.Line("router.default_route") != 5 || src.Line("nothing") != 0 {
		t.Fatalf("lines: %d %d %d %d %d", src.Line("router.rules[0].when[0]"), src.Line("router.rules[0].when[0].op"),
			src.Line("router.rules[0].split[3]"), src.Line("router.default_route"), src.Line("nothing"))
	}
	var nilSrc *router.Source
	if nilSrc.Line("router") != 0 || nilSrc.File() != "" {
		t.Fatal("nil Source")
	}

	for _, tt := range []struct{ name, doc, err string }{
		{"unknown key under router", "kafka: {}\nrouter:\n  rules:\n    - {id: r, whenn: []}\n", "x.yaml:4: router.rules[0].whenn: unknown key"},
		{"validation", "router:\n  max_attempts: 3\n", "router.max_attempts: must be >= max_ranks (5), got 3"},
		{"syntax", "router: [\n", "x.yaml:"},
		{"unknown top-level key shapes stay unknown", "\"a,b\": 1\n", "unknown key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := router.LoadBytes("x.yaml", []byte(tt.doc), nil)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
	// No router section: the defaults.
	cfg, err = router.LoadBytes("x.yaml", []byte("kafka: {}\n"), nil)
	if err != nil || cfg.Version != "v1" {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	if _, err := router.LoadFile("testdata/does-not-exist.yaml", nil); err == nil {
		t.Fatal("LoadFile of a missing file succeeded")
	}
}
