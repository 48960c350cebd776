-- in_doubt: how often each PSP leaves attempts in doubt, and how long they take to resolve
--
-- An attempt is in doubt when the request reached the PSP but no answer
-- came back (a timeout, a broken connection, or an error answer to a
-- request sent again after a restart). payroute then asks the same PSP
-- about the same idempotency key, on a backoff, within the same attempt,
-- and records the attempt once, with what the inquiries found: its class
-- is the answer (approved, declined, or psp_error "not processed", which
-- may then fail over), or in_doubt when the inquiry window closed without
-- one (the payment's result is then IN_DOUBT). Its inquiries and
-- in_doubt_ms columns say it was in doubt, and for how long (migration
-- 0006; rows loaded before it read 0 there, so of those only the
-- unresolved ones, class in_doubt, count here).
-- One row per PSP, from the raw attempts and final_payments_minute:
--   attempts            attempts started in the period
--   in_doubt_attempts   of those, in doubt at some point (episodes)
--   in_doubt_rate       in_doubt_attempts / attempts
--   episodes            in-doubt episodes, one per such attempt
--   resolved            episodes an inquiry settled
--   unresolved          episodes - resolved (class in_doubt)
--   resolve_p50_ms, resolve_p95_ms, resolve_max_ms   how long resolved
--                       episodes were in doubt, from the call that left
--                       the attempt in doubt to the inquiry answer that
--                       settled it (quantilesExact; 0 when none resolved)
--   in_doubt_payments   payments whose final result, published in the
--                       period, is IN_DOUBT at this PSP
SELECT
    psp,
    attempts,
    in_doubt_attempts,
    if(attempts = 0, 0, in_doubt_attempts / attempts) AS in_doubt_rate,
    in_doubt_attempts AS episodes,
    resolved,
    in_doubt_attempts - resolved AS unresolved,
    resolve_p50_ms,
    resolve_p95_ms,
    resolve_max_ms,
    in_doubt_payments
FROM
(
    SELECT
        psp,
        count() AS attempts,
        countIf(class = 'in_doubt' OR inquiries > 0) AS in_doubt_attempts,
        countIf(class != 'in_doubt' AND inquiries > 0) AS resolved,
        if(resolved = 0, 0, quantilesExactIf(0.5, 0.95)(in_doubt_ms, class != 'in_doubt' AND inquiries > 0)[1]) AS resolve_p50_ms,
        if(resolved = 0, 0, quantilesExactIf(0.5, 0.95)(in_doubt_ms, class != 'in_doubt' AND inquiries > 0)[2]) AS resolve_p95_ms,
        maxIf(in_doubt_ms, class != 'in_doubt' AND inquiries > 0) AS resolve_max_ms
    FROM {{.DB}}.attempts
    WHERE {{.Period "started_at"}} AND {{.Merchant "merchant_id"}}
    GROUP BY psp
)
ANY LEFT JOIN
(
    SELECT psp, sumIf(payments, status = 'IN_DOUBT') AS in_doubt_payments
    FROM {{.DB}}.final_payments_minute
    WHERE {{.Period "minute"}} AND {{.Merchant "merchant_id"}}
    GROUP BY psp
) USING (psp)
ORDER BY psp
