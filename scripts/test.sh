#!/usr/bin/env bash
# test.sh — runs payroute's whole test suite on a fresh Debian machine:
# installs kcat and chromium, installs and starts ClickHouse on loopback (scripts/clickhouse.sh)
# and stripe-mock (scripts/stripe-mock.sh), checks formatting and vet, then runs
# every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/apt-install.sh kcat chromium
scripts/clickhouse.sh start
export TEST_CLICKHOUSE_ADDR="127.0.0.1:${CLICKHOUSE_NATIVE_PORT:-19000}"
scripts/stripe-mock.sh start
TEST_STRIPE_MOCK_URL="$(scripts/stripe-mock.sh url)"
export TEST_STRIPE_MOCK_URL

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go test -race -count=1 -timeout 20m "$@" ./...
