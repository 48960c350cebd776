-- failover_rate: how often each PSP hands payments on to the next rank
--
-- One row per PSP, from the per-minute aggregates:
--   attempts          attempts at the PSP in the period
--   psp_failures      attempts that failed on the PSP's side (classes
--                     psp_error and rate_limited), the failures that fail
--                     over when a next rank exists
--   failure_rate      psp_failures / attempts
--   failovers_out     attempts at another PSP that directly followed an
--                     attempt at this one: payments this PSP handed on
--   failover_rate     failovers_out / attempts
--   payments          payments whose first attempt was at the PSP
--   payments_failed_over  of those, payments whose path moved to another
--                     PSP at least once
--   payment_failover_rate  payments_failed_over / payments
-- psp_failures - failovers_out are failures at the last rank (the payment
-- ended FAILED) or hand-overs counted in a neighbouring period: a hop
-- counts in the minute the next attempt started (hops_minute).
SELECT
    psp,
    sum(n_attempts) AS attempts,
    sum(n_failures) AS psp_failures,
    if(attempts = 0, 0, psp_failures / attempts) AS failure_rate,
    sum(n_out) AS failovers_out,
    if(attempts = 0, 0, failovers_out / attempts) AS failover_rate,
    sum(n_payments) AS payments,
    sum(n_failed_over) AS payments_failed_over,
    if(payments = 0, 0, payments_failed_over / payments) AS payment_failover_rate
FROM
(
    SELECT
        psp,
        sum(attempts) AS n_attempts,
        sum(psp_errors) + sum(rate_limited) AS n_failures,
        toUInt64(0) AS n_out,
        toUInt64(0) AS n_payments,
        toUInt64(0) AS n_failed_over
    FROM {{.DB}}.psp_minute
    WHERE {{.Period "minute"}} AND {{.Merchant "merchant_id"}}
    GROUP BY psp
    UNION ALL
    SELECT
        from_psp AS psp,
        toUInt64(0) AS n_attempts,
        toUInt64(0) AS n_failures,
        sum(hops) AS n_out,
        toUInt64(0) AS n_payments,
        toUInt64(0) AS n_failed_over
    FROM {{.DB}}.hops_minute
    WHERE {{.Period "minute"}} AND {{.Merchant "merchant_id"}}
    GROUP BY from_psp
    UNION ALL
    SELECT
        first_psp AS psp,
        toUInt64(0) AS n_attempts,
        toUInt64(0) AS n_failures,
        toUInt64(0) AS n_out,
        sum(payments) AS n_payments,
        sum(failed_over) AS n_failed_over
    FROM {{.DB}}.final_payments_minute
    WHERE {{.Period "minute"}} AND {{.Merchant "merchant_id"}} AND first_psp != ''
    GROUP BY first_psp
)
GROUP BY psp
ORDER BY psp
