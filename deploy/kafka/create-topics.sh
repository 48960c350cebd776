#!/usr/bin/env bash
# create-topics.sh — creates every topic payroute reads or writes, for
# clusters where topics are managed outside payroute (kafka.create_topics:
# false). Existing topics are left alone (--if-not-exists); run it again
# after raising kafka.max_ranks or adding a delay tier.
#
# The variables must say what payroute's configuration says: a test loads
# deploy/compose/payroute.yaml and deploy/k8s/configmap.yaml and checks that
# this script, run with the environment those deployments give it, creates
# exactly the topics of that configuration with its partition count.
#
#   BOOTSTRAP           brokers, host:port[,host:port]      (required)
#   PARTITIONS          kafka.partitions                    (default 6)
#   REPLICATION_FACTOR  replicas per partition              (default 3)
#   TOPIC_PREFIX        kafka.topic_prefix                  (default "")
#   MAX_RANKS           kafka.max_ranks                     (default 5)
#   DELAY_TIERS         kafka.retry_delay_tiers as topic suffixes
#                                                           (default "1m 10m 1h 6h 24h")
#   KAFKA_TOPICS        the kafka-topics command            (default kafka-topics.sh,
#                       or /opt/kafka/bin/kafka-topics.sh when that exists)
#   COMMAND_CONFIG      a client properties file for TLS/SASL (optional)
#
# Every topic that carries a payment has the same partition count: payroute
# keys them all by payment_id so that one instance owns a payment across
# topics, which holds only while they are co-partitioned. payments.state
# and psp.health are compacted (latest value per key); payments.reattempts
# keeps 30 days, the card networks' reattempt window.
set -euo pipefail

: "${BOOTSTRAP:?set BOOTSTRAP to the brokers, e.g. BOOTSTRAP=kafka:9092}"
PARTITIONS="${PARTITIONS:-6}"
REPLICATION_FACTOR="${REPLICATION_FACTOR:-3}"
TOPIC_PREFIX="${TOPIC_PREFIX:-}"
MAX_RANKS="${MAX_RANKS:-5}"
DELAY_TIERS="${DELAY_TIERS:-1m 10m 1h 6h 24h}"
if [ -z "${KAFKA_TOPICS:-}" ]; then
	KAFKA_TOPICS=kafka-topics.sh
	[ -x /opt/kafka/bin/kafka-topics.sh ] && KAFKA_TOPICS=/opt/kafka/bin/kafka-topics.sh
fi
REATTEMPT_RETENTION_MS=$((30 * 24 * 3600 * 1000))

extra=()
[ -n "${COMMAND_CONFIG:-}" ] && extra=(--command-config "$COMMAND_CONFIG")

# create NAME [CONFIG=VALUE...]
create() {
	local name="$TOPIC_PREFIX$1"
	shift
	local configs=()
	for c in "$@"; do
		configs+=(--config "$c")
	done
	echo "create-topics: $name (${PARTITIONS} partitions, replication ${REPLICATION_FACTOR}${*:+, $*})" >&2
	"$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" "${extra[@]}" --create --if-not-exists \
		--topic "$name" --partitions "$PARTITIONS" --replication-factor "$REPLICATION_FACTOR" "${configs[@]}"
}

create payments.requested
create payments.results
create payments.attempts
create payments.dlq
create payments.actions
create payments.followups
create payments.state cleanup.policy=compact
create psp.health cleanup.policy=compact
create payments.reattempts "retention.ms=$REATTEMPT_RETENTION_MS"
for ((rank = 2; rank <= MAX_RANKS; rank++)); do
	create "payments.retry.rank-$rank"
done
for tier in $DELAY_TIERS; do
	create "payments.retry.delay-$tier"
done
echo "create-topics: done" >&2
