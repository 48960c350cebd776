-- 0005: final results per minute, each payment counted once.
--
-- payments_minute (0003) counts every row the sink inserts into payments,
-- and that is not one per payment: a payment waiting for its customer has
-- an ACTION_REQUIRED result before its final one (or several, after RETRY
-- actions), and a duplicate request is answered by publishing the
-- payment's result again (the payroute.replay header), which the sink
-- loaded as one more row. Payments, approvals, attempts and amounts there
-- were counted once per result record. The raw payments table merges those
-- copies (ReplacingMergeTree by payment_id); a view never sees a merge.
--
-- final_payments_minute replaces it:
--   - the sink no longer loads replays: a copy of a result already loaded
--     is not a result (the raw payments table loses nothing, its merges
--     dropped them anyway);
--   - results counts every result loaded (ACTION_REQUIRED included), the
--     count that equals the topic's non-replay records;
--   - payments, attempts, failed_over and amount_minor_sum count final
--     results only: each payment once, in the minute of its final result;
--   - timed_payments and time_to_final_ms_sum cover the final results whose
--     request time is known: an undecodable request has none
--     (requested_at_ms 0, time_to_final_ms 0). Average time to final is
--     time_to_final_ms_sum / timed_payments, never / payments.
--
-- Status is a key column, so a row is either ACTION_REQUIRED (payments 0)
-- or final. payments_minute's view is dropped: the table keeps what it
-- counted before this migration and nothing reads it any more. (Running
-- every migration again, as the sink does when tables vanish, re-creates
-- that view with 0003 and this file drops it again.)
--
-- 18.16: no ALTER ... MODIFY QUERY, and a view must produce every column of
-- its TO table, hence a new table rather than a new view over the old one.
-- The view sees only rows inserted after it exists: earlier periods are
-- in payments (read with FINAL, or argMax by source_offset, excluding
-- ACTION_REQUIRED) but not here.

CREATE TABLE IF NOT EXISTS {{.Database}}.final_payments_minute
(
    minute DateTime,
    merchant_id String,
    first_psp String,
    psp String,
    status String,
    currency String,
    config_version String,
    rule_id String,
    -- results loaded, ACTION_REQUIRED included
    results UInt64,
    -- final results: payments finalized
    payments UInt64,
    -- sum of attempt_count over final results
    attempts UInt64,
    -- final results whose path moved from one PSP to another at least once
    failed_over UInt64,
    amount_minor_sum Int64,
    -- final results with a known request time, and their time to final
    timed_payments UInt64,
    time_to_final_ms_sum UInt64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, psp, first_psp, status, merchant_id, currency, config_version, rule_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.final_payments_minute_mv
TO {{.Database}}.final_payments_minute
AS SELECT
    toStartOfMinute(completed_at) AS minute,
    merchant_id,
    first_psp,
    psp,
    status,
    currency,
    config_version,
    rule_id,
    count() AS results,
    countIf(status != 'ACTION_REQUIRED') AS payments,
    sumIf(attempt_count, status != 'ACTION_REQUIRED') AS attempts,
    countIf(status != 'ACTION_REQUIRED' AND arrayExists(i -> i > 1 AND psp_path[i] != psp_path[i - 1], arrayEnumerate(psp_path))) AS failed_over,
    sumIf(amount_minor, status != 'ACTION_REQUIRED') AS amount_minor_sum,
    countIf(status != 'ACTION_REQUIRED' AND requested_at_ms > 0 AND completed_at_ms >= requested_at_ms) AS timed_payments,
    sumIf(time_to_final_ms, status != 'ACTION_REQUIRED' AND requested_at_ms > 0 AND completed_at_ms >= requested_at_ms) AS time_to_final_ms_sum
FROM {{.Database}}.payments
GROUP BY minute, merchant_id, first_psp, psp, status, currency, config_version, rule_id;

DROP TABLE IF EXISTS {{.Database}}.payments_minute_mv
