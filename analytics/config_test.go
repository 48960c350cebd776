package analytics

import (
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/config"
)

func TestDefaultConfigurationIsValid(t *testing.T) {
	if err := DefaultConfiguration().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigurationValidate(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Group = ""
	cfg.BatchSize = 0
	cfg.FlushInterval = 0
	cfg.ClickHouse.Addr = "localhost"
	cfg.ClickHouse.Database = "payroute; DROP TABLE x"
	cfg.ClickHouse.Password = "pw"
	cfg.ClickHouse.DialTimeout = 0
	err := config.Validate(struct {
		Analytics Configuration `yaml:"analytics"`
	}{cfg})
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, key := range []string{"analytics.group", "analytics.batch_size", "analytics.flush_interval",
		"analytics.clickhouse.addr", "analytics.clickhouse.database", "analytics.clickhouse.password",
		"analytics.clickhouse.dial_timeout"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("no error for %s in:\n%v", key, err)
		}
	}
	// The password is never echoed.
	if strings.Contains(err.Error(), "pw") {
		t.Errorf("password in error: %v", err)
	}
}

func TestConfigurationLoad(t *testing.T) {
	var root struct {
		Analytics Configuration `yaml:"analytics"`
	}
	root.Analytics = DefaultConfiguration()
	yaml := "analytics:\n  clickhouse:\n    addr: ch.internal:9000\n    database: pr_prod\n  flush_interval: 250ms\n"
	if err := config.LoadBytes("config.yaml", []byte(yaml), []string{"PAYROUTE_ANALYTICS_BATCH_SIZE=500"}, &root); err != nil {
		t.Fatal(err)
	}
	got := root.Analytics
	if got.ClickHouse.Addr != "ch.internal:9000" || got.ClickHouse.Database != "pr_prod" ||
		got.FlushInterval != 250*time.Millisecond || got.BatchSize != 500 || got.Group != "payroute-analytics" {
		t.Fatalf("loaded %+v", got)
	}
}
