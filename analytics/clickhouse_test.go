package analytics

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Open names the address and says what to do when nothing answers.
func TestOpenUnreachable(t *testing.T) {
	cfg := DefaultConfiguration().ClickHouse
	cfg.Addr = "127.0.0.1:1" // nothing listens on port 1
	cfg.DialTimeout = time.Second
	_, err := Open(context.Background(), cfg)
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	for _, want := range []string{"127.0.0.1:1", "scripts/clickhouse.sh start"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestOpenRefusesBadDatabaseName(t *testing.T) {
	cfg := DefaultConfiguration().ClickHouse
	cfg.Database = "x; DROP DATABASE system"
	if _, err := Open(context.Background(), cfg); err == nil {
		t.Fatal("a database name that is not an identifier was accepted")
	}
}
