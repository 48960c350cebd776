-- 0001: raw attempts and final payments.
--
-- {{.Database}} is replaced with the configured database name (default
-- payroute) before the statements run. Every statement must stay valid on
-- Debian's ClickHouse 18.16 and on current releases: plain DateTime (no
-- DateTime64) with a UInt64 millisecond column beside it where milliseconds
-- matter, no Map, no LowCardinality, new-style MergeTree clauses.
--
-- Both tables are ReplacingMergeTree keyed by the event's own id, so a row
-- delivered twice (the sink commits Kafka offsets after the insert, and a
-- crash in between re-delivers the batch) collapses into one at merge time;
-- the Kafka offset is the version, so a later copy wins. Until the merge
-- happens, exact queries read with FINAL (or GROUP BY the key). A later
-- migration makes ingestion exactly-once with materialized views over a
-- Kafka-offset-deduplicated landing table; these tables stay the raw record.

CREATE DATABASE IF NOT EXISTS {{.Database}};

-- One row per attempt at one PSP (AttemptRecorded on payments.attempts).
CREATE TABLE IF NOT EXISTS {{.Database}}.attempts
(
    attempt_id String,
    payment_id String,
    merchant_id String,
    attempt_number UInt32,
    rank UInt32,
    psp String,
    method String,
    previous_psp String,
    operation String,
    amount_minor Int64,
    currency String,
    outcome String,
    class String,
    psp_code String,
    issuer_code String,
    message String,
    psp_reference String,
    idempotency_key String,
    latency_ms UInt64,
    fee_minor Int64,
    card_network String,
    card_funding String,
    card_bin String,
    issuer_country String,
    config_version String,
    rule_id String,
    started_at DateTime,
    started_at_ms UInt64,
    finished_at_ms UInt64,
    source_topic String,
    source_partition Int32,
    source_offset UInt64
)
ENGINE = ReplacingMergeTree(source_offset)
PARTITION BY toYYYYMM(started_at)
ORDER BY attempt_id;

-- One row per final result of a payment (PaymentResult on payments.results).
-- Partitioned by the request time, which every result of one payment
-- shares, so that its copies always meet in one partition.
CREATE TABLE IF NOT EXISTS {{.Database}}.payments
(
    payment_id String,
    merchant_id String,
    operation String,
    status String,
    amount_minor Int64,
    currency String,
    psp String,
    psp_reference String,
    first_psp String,
    psp_path Array(String),
    attempt_count UInt32,
    class String,
    psp_code String,
    reason String,
    retry_after_ms UInt64,
    config_version String,
    rule_id String,
    requested_at DateTime,
    requested_at_ms UInt64,
    completed_at DateTime,
    completed_at_ms UInt64,
    time_to_final_ms UInt64,
    source_topic String,
    source_partition Int32,
    source_offset UInt64
)
ENGINE = ReplacingMergeTree(source_offset)
PARTITION BY toYYYYMM(requested_at)
ORDER BY payment_id;
