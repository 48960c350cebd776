-- 0003: per-PSP aggregates per minute, kept by materialized views.
--
-- Each view runs on every block the sink inserts into a raw table and adds
-- that block's counts to its table. The sink inserts each Kafka record
-- exactly once (0002), so the aggregates count every event exactly once,
-- without FINAL and whatever the merges have done. Read them with sum()
-- (or the -Merge function of the column) and GROUP BY: SummingMergeTree and
-- AggregatingMergeTree only combine rows at merge time, so several rows per
-- key are normal.
--
-- Every key has the minute, the merchant and the PSP, plus the currency and
-- the card network for attempts: coarser questions sum over the dimensions
-- they do not need. The minute is that of the attempt's start
-- (psp_minute, psp_latency_minute, hops_minute) or of the final result
-- (payments_minute), as in the raw tables.
--
-- 18.16 requires a view's SELECT to produce every column of its TO table,
-- and an alias must not repeat a column name of the source table (it would
-- shadow the column inside the other aggregates), hence names such as
-- fee_minor_sum.
--
-- The views see only rows inserted after they exist: a database loaded by a
-- payroute older than this migration keeps its earlier rows in the raw
-- tables only.

-- Attempts per minute, merchant, PSP, currency and card network.
CREATE TABLE IF NOT EXISTS {{.Database}}.psp_minute
(
    minute DateTime,
    merchant_id String,
    psp String,
    currency String,
    card_network String,
    -- attempts made, and how they ended
    attempts UInt64,
    approved UInt64,
    declined UInt64,
    hard_declines UInt64,
    soft_declines UInt64,
    customer_errors UInt64,
    psp_errors UInt64,
    rate_limited UInt64,
    in_doubt UInt64,
    invalid_requests UInt64,
    -- attempts that were a payment's first, and of those approved
    first_attempts UInt64,
    first_approved UInt64,
    -- attempts that followed an attempt at another PSP (a failover hop
    -- into this PSP), and of those approved
    failovers_in UInt64,
    recovered UInt64,
    -- sums, in the currency's minor units and in milliseconds
    fee_minor_sum Int64,
    amount_minor_sum Int64,
    approved_amount_minor_sum Int64,
    latency_ms_sum UInt64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, psp, merchant_id, currency, card_network);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.psp_minute_mv
TO {{.Database}}.psp_minute
AS SELECT
    toStartOfMinute(started_at) AS minute,
    merchant_id,
    psp,
    currency,
    card_network,
    count() AS attempts,
    countIf(outcome = 'APPROVED') AS approved,
    countIf(outcome = 'DECLINED') AS declined,
    countIf(class = 'hard_decline') AS hard_declines,
    countIf(class = 'soft_decline') AS soft_declines,
    countIf(class = 'customer_error') AS customer_errors,
    countIf(class = 'psp_error') AS psp_errors,
    countIf(class = 'rate_limited') AS rate_limited,
    countIf(class = 'in_doubt') AS in_doubt,
    countIf(class = 'invalid_request') AS invalid_requests,
    countIf(attempt_number = 1) AS first_attempts,
    countIf(attempt_number = 1 AND outcome = 'APPROVED') AS first_approved,
    countIf(previous_psp != '' AND previous_psp != psp) AS failovers_in,
    countIf(previous_psp != '' AND previous_psp != psp AND outcome = 'APPROVED') AS recovered,
    sum(fee_minor) AS fee_minor_sum,
    sum(amount_minor) AS amount_minor_sum,
    sumIf(amount_minor, outcome = 'APPROVED') AS approved_amount_minor_sum,
    sum(latency_ms) AS latency_ms_sum
FROM {{.Database}}.attempts
GROUP BY minute, merchant_id, psp, currency, card_network;

-- Latency quantiles per minute, merchant, PSP, currency and card network.
-- Read with quantilesTimingMerge(0.5, 0.95, 0.99)(latency_quantiles) (any
-- levels will do): quantileTiming is exact up to 5670 values per group, or
-- below 1024 ms, and rounds to 16 ms otherwise.
CREATE TABLE IF NOT EXISTS {{.Database}}.psp_latency_minute
(
    minute DateTime,
    merchant_id String,
    psp String,
    currency String,
    card_network String,
    latency_quantiles AggregateFunction(quantilesTiming(0.5, 0.95, 0.99), UInt64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, psp, merchant_id, currency, card_network);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.psp_latency_minute_mv
TO {{.Database}}.psp_latency_minute
AS SELECT
    toStartOfMinute(started_at) AS minute,
    merchant_id,
    psp,
    currency,
    card_network,
    quantilesTimingState(0.5, 0.95, 0.99)(latency_ms) AS latency_quantiles
FROM {{.Database}}.attempts
GROUP BY minute, merchant_id, psp, currency, card_network;

-- Failover hops: an attempt whose previous attempt was at another PSP
-- (from_psp -> to_psp), and how the attempt at to_psp ended. A retry at the
-- same PSP (a customer's RETRY) is not a hop.
CREATE TABLE IF NOT EXISTS {{.Database}}.hops_minute
(
    minute DateTime,
    merchant_id String,
    from_psp String,
    to_psp String,
    currency String,
    card_network String,
    hops UInt64,
    recovered UInt64,
    declined UInt64,
    failed UInt64,
    fee_minor_sum Int64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, from_psp, to_psp, merchant_id, currency, card_network);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.hops_minute_mv
TO {{.Database}}.hops_minute
AS SELECT
    toStartOfMinute(started_at) AS minute,
    merchant_id,
    previous_psp AS from_psp,
    psp AS to_psp,
    currency,
    card_network,
    count() AS hops,
    countIf(outcome = 'APPROVED') AS recovered,
    countIf(outcome = 'DECLINED') AS declined,
    countIf(class IN ('psp_error', 'rate_limited')) AS failed,
    sum(fee_minor) AS fee_minor_sum
FROM {{.Database}}.attempts
WHERE previous_psp != '' AND previous_psp != psp
GROUP BY minute, merchant_id, from_psp, to_psp, currency, card_network;

-- Final results per minute of completion, merchant, first and final PSP,
-- status, currency and routing decision (config version and rule).
CREATE TABLE IF NOT EXISTS {{.Database}}.payments_minute
(
    minute DateTime,
    merchant_id String,
    first_psp String,
    psp String,
    status String,
    currency String,
    config_version String,
    rule_id String,
    payments UInt64,
    -- sum of attempt_count
    attempts UInt64,
    -- payments whose path moved from one PSP to another at least once
    failed_over UInt64,
    amount_minor_sum Int64,
    time_to_final_ms_sum UInt64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, psp, first_psp, status, merchant_id, currency, config_version, rule_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.payments_minute_mv
TO {{.Database}}.payments_minute
AS SELECT
    toStartOfMinute(completed_at) AS minute,
    merchant_id,
    first_psp,
    psp,
    status,
    currency,
    config_version,
    rule_id,
    count() AS payments,
    sum(attempt_count) AS attempts,
    countIf(arrayExists(i -> i > 1 AND psp_path[i] != psp_path[i - 1], arrayEnumerate(psp_path))) AS failed_over,
    sum(amount_minor) AS amount_minor_sum,
    sum(time_to_final_ms) AS time_to_final_ms_sum
FROM {{.Database}}.payments
GROUP BY minute, merchant_id, first_psp, psp, status, currency, config_version, rule_id
