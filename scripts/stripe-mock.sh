#!/usr/bin/env bash
# scripts/stripe-mock.sh — stripe-mock, Stripe's own API mock, for the Stripe
# connector's tests and the stripe-and-simulator example.
#
#   scripts/stripe-mock.sh start    build (if needed), start, wait until it answers
#   scripts/stripe-mock.sh stop     stop the server this script started
#   scripts/stripe-mock.sh status   report whether it answers
#   scripts/stripe-mock.sh url      print the base URL to use (TEST_STRIPE_MOCK_URL)
#
# The version is pinned (STRIPE_MOCK_VERSION). The binary is built with
# `go install github.com/stripe/stripe-mock@VERSION` from an empty temporary
# directory, outside payroute's module, so go.mod and go.sum never gain
# stripe-mock; it lands in $STRIPE_MOCK_DIR/bin (default ./.stripe-mock, which
# ignores itself in git), named after its version, and is reused afterwards.
# The module comes from the Go module proxy like any other dependency.
#
# It listens on loopback only: HTTP on 127.0.0.1:$STRIPE_MOCK_PORT (12111)
# and HTTPS on 127.0.0.1:$STRIPE_MOCK_HTTPS_PORT (12112).
#
# Idempotent: start does nothing when a stripe-mock already answers on the
# port. Works non-interactively (CI, no stdin); needs only bash and go.
set -euo pipefail

VERSION="${STRIPE_MOCK_VERSION:-v0.203.0}"
PORT="${STRIPE_MOCK_PORT:-12111}"
HTTPS_PORT="${STRIPE_MOCK_HTTPS_PORT:-12112}"
DIR="${STRIPE_MOCK_DIR:-$PWD/.stripe-mock}"
START_TIMEOUT="${STRIPE_MOCK_START_TIMEOUT:-60}"
HOST=127.0.0.1

log() { echo "stripe-mock.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

bin_path() { echo "$DIR/bin/stripe-mock-$VERSION"; }
pid_file() { echo "$DIR/stripe-mock.pid"; }

# answers tells whether a stripe-mock answers on our port: a GET of the
# balance with a test-mode key must come back 200 with stripe-mock's version
# header. bash's /dev/tcp, so that no curl is needed.
answers() {
    local reply
    { exec 3<>"/dev/tcp/$HOST/$PORT"; } 2>/dev/null || return 1
    printf 'GET /v1/balance HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer sk_test_123\r\n\r\n' "$HOST" >&3
    reply="$(head -c 4096 <&3 || true)"
    exec 3<&- 3>&-
    [[ "$reply" == "HTTP/1."[01]" 200"* ]] && grep -qi '^Stripe-Mock-Version:' <<<"$reply"
}

build() {
    local bin tmp
    bin="$(bin_path)"
    [ -x "$bin" ] && return 0
    command -v go >/dev/null 2>&1 || die "go is not installed"
    mkdir -p "$DIR/bin"
    [ -e "$DIR/.gitignore" ] || echo '*' >"$DIR/.gitignore"
    tmp="$(mktemp -d)"
    log "building github.com/stripe/stripe-mock@$VERSION"
    # An empty directory and GOFLAGS=-mod=mod: the install resolves the
    # pinned module on its own and cannot touch any go.mod.
    (cd "$tmp" && GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/stripe/stripe-mock@$VERSION" </dev/null) ||
        { rm -rf "$tmp"; die "go install github.com/stripe/stripe-mock@$VERSION failed"; }
    mv "$tmp/stripe-mock" "$bin"
    rm -rf "$tmp"
}

running_pid() {
    local pf pid
    pf="$(pid_file)"
    [ -s "$pf" ] || return 1
    pid="$(tr -dc '0-9' <"$pf")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

start() {
    if answers; then
        log "a stripe-mock already answers on $HOST:$PORT; leaving it alone"
        echo "stripe-mock: http://$HOST:$PORT"
        return 0
    fi
    if pid="$(running_pid)"; then
        die "stripe-mock (pid $pid) is running but does not answer on $HOST:$PORT; run '$0 stop' first"
    fi
    build
    DIR="$(cd "$DIR" && pwd -P)"
    log "starting $(bin_path) on $HOST:$PORT (https $HOST:$HTTPS_PORT)"
    (
        cd "$DIR"
        setsid nohup "$(bin_path)" -http-addr "$HOST:$PORT" -https-addr "$HOST:$HTTPS_PORT" \
            </dev/null >>"$DIR/stripe-mock.log" 2>&1 &
        echo $! >"$(pid_file)"
    )
    local pid deadline
    pid="$(cat "$(pid_file)")"
    deadline=$((SECONDS + START_TIMEOUT))
    until answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "stripe-mock exited during startup:"
            tail -n 20 "$DIR/stripe-mock.log" >&2 || true
            rm -f "$(pid_file)"
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "stripe-mock did not answer on $HOST:$PORT within ${START_TIMEOUT}s"
            tail -n 20 "$DIR/stripe-mock.log" >&2 || true
            exit 1
        fi
        sleep 0.2
    done
    log "started (pid $pid, $VERSION)"
    echo "stripe-mock: http://$HOST:$PORT"
}

stop() {
    local pid i
    if ! pid="$(running_pid)"; then
        if answers; then
            log "a stripe-mock answers on $HOST:$PORT but was not started from $DIR; not stopping it"
            return 1
        fi
        log "not running"
        rm -f "$(pid_file)"
        return 0
    fi
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$(pid_file)"
    log "stopped"
}

status() {
    local pid=""
    pid="$(running_pid || true)"
    if answers; then
        echo "stripe-mock: http://$HOST:$PORT (running${pid:+, pid $pid})"
        return 0
    fi
    if [ -n "$pid" ]; then
        echo "stripe-mock: pid $pid is running but $HOST:$PORT does not answer"
        return 1
    fi
    echo "stripe-mock: not running on $HOST:$PORT"
    return 3
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
url) echo "http://$HOST:$PORT" ;;
restart)
    stop
    start
    ;;
*)
    echo "usage: $0 start|stop|status|url|restart" >&2
    exit 2
    ;;
esac
