// Package clickhousetest holds the tests' side of the ClickHouse server
// contract: scripts/clickhouse.sh starts a real server (Debian's
// clickhouse-server) on loopback, and scripts/test.sh passes its native
// address in TEST_CLICKHOUSE_ADDR.
package clickhousetest

import (
	"os"
	"testing"
)

// Addr is the native address of the test server. Without one a test is
// skipped, except under CI (CI set), where a missing server is a failure:
// CI must never pass by skipping what it is there to run.
func Addr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("TEST_CLICKHOUSE_ADDR")
	if addr == "" {
		const hint = "TEST_CLICKHOUSE_ADDR is not set: run scripts/clickhouse.sh start and set TEST_CLICKHOUSE_ADDR=127.0.0.1:19000"
		if os.Getenv("CI") != "" {
			t.Fatal(hint)
		}
		t.Skip(hint)
	}
	return addr
}
