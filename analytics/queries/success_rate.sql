-- success_rate: success rate per PSP, first attempt vs net
--
-- One row per PSP, from the per-minute aggregates:
--   attempts, approved     every attempt at the PSP in the period (first
--                          attempts, failover hops, retries) and how many
--                          were approved
--   success_rate           approved / attempts
--   first_attempts         attempts that were a payment's first
--   first_approved         of those, approved: the PSP on its own
--   first_attempt_rate     first_approved / first_attempts
--   payments               payments whose first attempt was at the PSP
--                          (first_psp), finalized in the period
--   net_approved           of those, approved in the end, at whichever PSP
--   net_rate               net_approved / payments: what routing with
--                          failover makes of the traffic sent to the PSP
--   uplift_rate            net_rate - first_attempt_rate
-- A rate whose denominator is 0 is 0. Attempts count by the minute they
-- started (psp_minute), payments by the minute their final result was
-- published (final_payments_minute); payments rejected before any PSP (no
-- first_psp) are left out.
SELECT
    psp,
    sum(n_attempts) AS attempts,
    sum(n_approved) AS approved,
    if(attempts = 0, 0, approved / attempts) AS success_rate,
    sum(n_first) AS first_attempts,
    sum(n_first_approved) AS first_approved,
    if(first_attempts = 0, 0, first_approved / first_attempts) AS first_attempt_rate,
    sum(n_payments) AS payments,
    sum(n_net_approved) AS net_approved,
    if(payments = 0, 0, net_approved / payments) AS net_rate,
    net_rate - first_attempt_rate AS uplift_rate
FROM
(
    SELECT
        psp,
        sum(attempts) AS n_attempts,
        sum(approved) AS n_approved,
        sum(first_attempts) AS n_first,
        sum(first_approved) AS n_first_approved,
        toUInt64(0) AS n_payments,
        toUInt64(0) AS n_net_approved
    FROM {{.DB}}.psp_minute
    WHERE {{.Period "minute"}} AND {{.Merchant "merchant_id"}}
    GROUP BY psp
    UNION ALL
    SELECT
        first_psp AS psp,
        toUInt64(0) AS n_attempts,
        toUInt64(0) AS n_approved,
        toUInt64(0) AS n_first,
        toUInt64(0) AS n_first_approved,
        sum(payments) AS n_payments,
        sumIf(payments, status = 'APPROVED') AS n_net_approved
    FROM {{.DB}}.final_payments_minute
    WHERE {{.Period "minute"}} AND {{.Merchant "merchant_id"}} AND first_psp != ''
    GROUP BY first_psp
)
GROUP BY psp
ORDER BY psp
