#!/usr/bin/env bash
# demo.sh [payroute demo flags] — runs the payroute demo on a fresh Debian
# machine: ClickHouse is installed and started on loopback when none answers,
# then `payroute demo` runs embedded Kafka, simulated PSPs whose primary goes
# down mid-run, a load generator, the processor and the sink, and prints the
# per-PSP report read back from ClickHouse.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/clickhouse.sh start
exec go run ./cmd/payroute demo --clickhouse "127.0.0.1:${CLICKHOUSE_NATIVE_PORT:-19000}" "$@"
