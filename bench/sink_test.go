package bench

import (
	"context"
	"testing"

	"time"

	"github.com/payroute/payroute/analytics/clickhousetest"
)

// BenchmarkSink loads b.N attempts pre-filled on six partitions into a
// fresh database of the ClickHouse server at TEST_CLICKHOUSE_ADDR with the
// sink's defaults, as `payroute bench --sink` does, and reports the rows
// per second RunSink measured (from the sink's first fetch to the last row
// ClickHouse accepted) and the CPU of this process per row. Fix N for
// comparable runs, e.g.
//
//	TEST_CLICKHOUSE_ADDR=127.0.0.1:19000 go test -run '^$' -bench Sink -benchtime 500000x ./bench
func BenchmarkSink(b *testing.B) {
	addr := clickhousetest.Addr(b)
	cfg := DefaultSinkConfiguration()
	cfg.ClickHouse = addr
	cfg.Rows = b.N
	cfg.Timeout = 10 * time.Minute
	b.ResetTimer()
	rep, err := RunSink(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rep.Rate, "rows/s")
	b.ReportMetric(float64(rep.CPU.Microseconds())/float64(rep.Rows), "cpu-µs/row")
	b.ReportMetric(float64(rep.Batches), "inserts")
}
