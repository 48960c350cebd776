#!/usr/bin/env bash
# scripts/clickhouse.sh — a ClickHouse server of payroute's own, for the demo,
# local runs and the analytics tests.
#
#   scripts/clickhouse.sh start    install (if needed), start, wait for SELECT 1
#   scripts/clickhouse.sh stop     stop the server this script started
#   scripts/clickhouse.sh status   report whether it answers
#   scripts/clickhouse.sh restart
#
# It uses Debian's clickhouse-server package (18.16 on Debian 12), installed
# with apt-get when missing, but never its system service: the server started
# here has its own config, data and logs under one directory and listens on
# loopback ports of its own, so it neither needs nor disturbs a system-wide
# ClickHouse.
#
# Environment:
#   PAYROUTE_CH_DIR        data dir (default $PWD/.clickhouse; it ignores itself in git)
#   CLICKHOUSE_NATIVE_PORT native protocol port on 127.0.0.1 (default 19000)
#   CLICKHOUSE_HTTP_PORT   HTTP port on 127.0.0.1 (default 18123)
#   CLICKHOUSE_START_TIMEOUT seconds to wait for SELECT 1 (default 60)
#
# Idempotent: start does nothing when a server already answers on the native
# port. Works non-interactively (CI=true, no stdin), as root or through sudo.
set -euo pipefail

NATIVE_PORT="${CLICKHOUSE_NATIVE_PORT:-19000}"
HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-18123}"
CH_DIR="${PAYROUTE_CH_DIR:-$PWD/.clickhouse}"
START_TIMEOUT="${CLICKHOUSE_START_TIMEOUT:-60}"
HOST=127.0.0.1

log() { echo "clickhouse.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

# as_root runs a command as root: directly when we are root, else with sudo
# (non-interactively: a password prompt would hang CI).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@" </dev/null || die "need root to run '$*' (sudo -n failed; run as root or configure passwordless sudo)"
    else
        die "need root to run '$*' and sudo is not installed"
    fi
}

# server_bin finds the server binary. Debian installs it in /usr/sbin, the
# upstream packages in /usr/bin.
server_bin() {
    local b
    for b in /usr/bin/clickhouse-server /usr/sbin/clickhouse-server; do
        if [ -x "$b" ]; then
            echo "$b"
            return 0
        fi
    done
    command -v clickhouse-server 2>/dev/null && return 0
    return 1
}

client_bin() {
    local b
    for b in /usr/bin/clickhouse-client /usr/sbin/clickhouse-client; do
        if [ -x "$b" ]; then
            echo "$b"
            return 0
        fi
    done
    command -v clickhouse-client 2>/dev/null && return 0
    return 1
}

install_packages() {
    if server_bin >/dev/null && client_bin >/dev/null && [ -e /usr/share/zoneinfo/UTC ]; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "clickhouse-server is not installed and apt-get is not available: install ClickHouse yourself"
    log "installing Debian's clickhouse-server and clickhouse-client with apt-get"
    # tzdata: the server resolves its time zone from /usr/share/zoneinfo and
    # minimal images do not ship it.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        clickhouse-server clickhouse-client tzdata </dev/null
    server_bin >/dev/null || die "apt-get finished but clickhouse-server is still missing"
}

# answers tells whether a ClickHouse server answers SELECT 1 on our ports:
# through clickhouse-client on the native port when installed, else over HTTP.
answers() {
    local cl out
    if cl="$(client_bin)"; then
        out="$("$cl" --host "$HOST" --port "$NATIVE_PORT" --query 'SELECT 1' </dev/null 2>/dev/null)" || return 1
        [ "$out" = "1" ]
        return
    fi
    http_select1
}

# http_select1 asks the HTTP port with bash's /dev/tcp, so that no curl is needed.
http_select1() {
    local line
    exec 3<>"/dev/tcp/$HOST/$HTTP_PORT" 2>/dev/null || return 1
    printf 'GET /?query=SELECT%%201 HTTP/1.0\r\nHost: %s\r\n\r\n' "$HOST" >&3
    line="$(tail -n 1 <&3)"
    exec 3<&- 3>&-
    [ "$line" = "1" ]
}

# server_version is the installed package version (18.16's server binary has
# no --version flag).
server_version() {
    dpkg-query -W -f='${Version}' clickhouse-server 2>/dev/null ||
        "$(client_bin)" --version 2>/dev/null | head -n 1 ||
        echo unknown
}

pid_file() { echo "$CH_DIR/clickhouse-server.pid"; }

running_pid() {
    local pf pid
    pf="$(pid_file)"
    [ -s "$pf" ] || return 1
    pid="$(tr -dc '0-9' <"$pf")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

write_config() {
    mkdir -p "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/user_files" "$CH_DIR/format_schemas" "$CH_DIR/log"
    # The directory ignores itself, so that it never shows up in git status
    # wherever it is created.
    [ -e "$CH_DIR/.gitignore" ] || echo '*' >"$CH_DIR/.gitignore"
    # <yandex> is the root element 18.16 knows; current releases still accept it.
    cat >"$CH_DIR/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by scripts/clickhouse.sh; rewritten at every start. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$CH_DIR/log/clickhouse-server.log</log>
        <errorlog>$CH_DIR/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>$HOST</listen_host>
    <tcp_port>$NATIVE_PORT</tcp_port>
    <http_port>$HTTP_PORT</http_port>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$CH_DIR/data/</path>
    <tmp_path>$CH_DIR/tmp/</tmp_path>
    <user_files_path>$CH_DIR/user_files/</user_files_path>
    <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>
    <users_config>$CH_DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <!-- A development server: let the tests drop their databases whatever their size. -->
    <max_table_size_to_drop>0</max_table_size_to_drop>
    <max_partition_size_to_drop>0</max_partition_size_to_drop>
</yandex>
EOF
    cat >"$CH_DIR/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- Written by scripts/clickhouse.sh: one "default" user, no password, loopback only. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks replace="replace">
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

log_tail() {
    local f
    for f in "$CH_DIR/log/clickhouse-server.err.log" "$CH_DIR/log/clickhouse-server.log" "$CH_DIR/log/stderr.log"; do
        if [ -s "$f" ]; then
            echo "---- tail $f" >&2
            tail -n 40 "$f" >&2
        fi
    done
}

start() {
    if answers; then
        log "a server already answers on $HOST:$NATIVE_PORT; leaving it alone"
        echo "clickhouse: $HOST:$NATIVE_PORT"
        return 0
    fi
    if pid="$(running_pid)"; then
        die "clickhouse-server (pid $pid, $CH_DIR) is running but does not answer on $HOST:$NATIVE_PORT; run '$0 stop' first"
    fi
    install_packages
    local bin
    bin="$(server_bin)"
    CH_DIR="$(mkdir -p "$CH_DIR" && cd "$CH_DIR" && pwd -P)"
    write_config
    rm -f "$(pid_file)"

    # The server runs as whoever runs this script, owning its own data dir. As
    # root that is root: ClickHouse refuses to start only when the effective
    # user differs from the owner of the data dir (current releases), and here
    # both are root. Running it as the "clickhouse" system user instead would
    # require that user to traverse the path to $CH_DIR, which a checkout
    # under /root does not allow.
    #
    # It is backgrounded with setsid and nohup rather than with --daemon: the
    # pid file then holds the server's own pid, its stdout/stderr land in the
    # log dir, and nothing waits on a terminal (CI, no stdin).
    log "starting $bin (version $(server_version)) in $CH_DIR"
    (
        cd "$CH_DIR"
        setsid nohup "$bin" --config-file="$CH_DIR/config.xml" --pid-file="$(pid_file)" \
            </dev/null >>"$CH_DIR/log/stderr.log" 2>&1 &
        echo $! >"$(pid_file).launch"
    )
    local launched deadline
    launched="$(cat "$(pid_file).launch")"
    rm -f "$(pid_file).launch"
    deadline=$((SECONDS + START_TIMEOUT))
    until answers; do
        if ! kill -0 "$launched" 2>/dev/null; then
            log "clickhouse-server exited during startup"
            log_tail
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "clickhouse-server did not answer SELECT 1 on $HOST:$NATIVE_PORT within ${START_TIMEOUT}s"
            log_tail
            exit 1
        fi
        sleep 0.5
    done
    # The server writes its pid file itself; make sure it is there for stop.
    [ -s "$(pid_file)" ] || echo "$launched" >"$(pid_file)"
    log "started (pid $(running_pid || echo "$launched"), data $CH_DIR, http $HOST:$HTTP_PORT)"
    echo "clickhouse: $HOST:$NATIVE_PORT"
}

stop() {
    local pid i
    if ! pid="$(running_pid)"; then
        if answers; then
            log "a server answers on $HOST:$NATIVE_PORT but was not started from $CH_DIR; not stopping it"
            return 1
        fi
        log "not running ($CH_DIR)"
        rm -f "$(pid_file)"
        return 0
    fi
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop after 30s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$(pid_file)"
    log "stopped"
}

status() {
    local pid=""
    pid="$(running_pid || true)"
    if answers; then
        echo "clickhouse: $HOST:$NATIVE_PORT (running${pid:+, pid $pid}, data $CH_DIR)"
        return 0
    fi
    if [ -n "$pid" ]; then
        echo "clickhouse: pid $pid is running but $HOST:$NATIVE_PORT does not answer"
        return 1
    fi
    echo "clickhouse: not running on $HOST:$NATIVE_PORT"
    return 3
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
restart)
    stop
    start
    ;;
*)
    echo "usage: $0 start|stop|status|restart" >&2
    exit 2
    ;;
esac
