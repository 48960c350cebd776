#!/usr/bin/env bash
# deploy/clickhouse/users.sh — renders payroute's ClickHouse users.
#
#   users.sh xml   users.d file for ClickHouse 18.16 and XML-configured servers
#   users.sh sql   CREATE USER / GRANT statements for servers with SQL access control
#
# The output carries SHA-256 hashes of the passwords, never the passwords.
#
# Environment:
#   CH_WRITER_PASSWORD or CH_WRITER_PASSWORD_FILE    the sink's password (required)
#   CH_ANALYST_PASSWORD or CH_ANALYST_PASSWORD_FILE  the analysts' password (required)
#   CH_DATABASE       payroute's database (default payroute; analytics.clickhouse.database)
#   CH_WRITER_USER    default payroute     (analytics.clickhouse.username)
#   CH_ANALYST_USER   default payroute_analyst
#   CH_NETWORKS       space-separated addresses or CIDRs users may connect from
#                     (default "127.0.0.1 ::1": loopback only; widen it deliberately)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
die() {
    echo "users.sh: $*" >&2
    exit 1
}

# secret NAME prints $NAME, or the content of the file named by $NAME_FILE
# without its trailing newline.
secret() {
    local name="$1" file_var="${1}_FILE" v=""
    if [ -n "${!name:-}" ] && [ -n "${!file_var:-}" ]; then
        die "set $name or ${file_var}, not both"
    fi
    if [ -n "${!file_var:-}" ]; then
        [ -r "${!file_var}" ] || die "${file_var}: cannot read ${!file_var}"
        v="$(cat "${!file_var}")"
    else
        v="${!name:-}"
    fi
    # Trim surrounding white space, as payroute does with its secret files.
    v="${v#"${v%%[![:space:]]*}"}"
    v="${v%"${v##*[![:space:]]}"}"
    [ -n "$v" ] || die "$name or ${file_var} is required"
    printf '%s' "$v"
}

sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

ident() {
    [[ "$2" =~ ^[A-Za-z_][A-Za-z0-9_]{0,63}$ ]] || die "$1: want letters, digits and underscores, got '$2'"
    printf '%s' "$2"
}

mode="${1:-}"
case "$mode" in
xml) template="$here/users.d/payroute.xml" ;;
sql) template="$here/users.sql" ;;
*)
    echo "usage: $0 xml|sql" >&2
    exit 2
    ;;
esac

database="$(ident CH_DATABASE "${CH_DATABASE:-payroute}")"
writer="$(ident CH_WRITER_USER "${CH_WRITER_USER:-payroute}")"
analyst="$(ident CH_ANALYST_USER "${CH_ANALYST_USER:-payroute_analyst}")"
[ "$writer" != "$analyst" ] || die "CH_WRITER_USER and CH_ANALYST_USER must differ"
# One assignment per step: set -e does not see a failure inside a command
# substitution that is itself an argument.
writer_password="$(secret CH_WRITER_PASSWORD)"
analyst_password="$(secret CH_ANALYST_PASSWORD)"
writer_hash="$(sha256 "$writer_password")"
analyst_hash="$(sha256 "$analyst_password")"
unset writer_password analyst_password

networks_xml=""
networks_sql=""
for n in ${CH_NETWORKS:-127.0.0.1 ::1}; do
    [[ "$n" =~ ^[0-9A-Fa-f:./]+$ ]] || die "CH_NETWORKS: '$n' is not an address or CIDR"
    networks_xml+="                <ip>$n</ip>"$'\n'
    networks_sql+="${networks_sql:+, }IP '$n'"
done
networks_xml="${networks_xml%$'\n'}"

while IFS= read -r line || [ -n "$line" ]; do
    if [ "$line" = "{{NETWORKS_XML}}" ]; then
        printf '%s\n' "$networks_xml"
        continue
    fi
    line="${line//\{\{DATABASE\}\}/$database}"
    line="${line//\{\{WRITER_USER\}\}/$writer}"
    line="${line//\{\{ANALYST_USER\}\}/$analyst}"
    line="${line//\{\{WRITER_PASSWORD_SHA256\}\}/$writer_hash}"
    line="${line//\{\{ANALYST_PASSWORD_SHA256\}\}/$analyst_hash}"
    line="${line//\{\{NETWORKS_SQL\}\}/$networks_sql}"
    printf '%s\n' "$line"
done <"$template"
