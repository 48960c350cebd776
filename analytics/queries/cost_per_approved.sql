-- cost_per_approved: what each PSP costs per approved payment
--
-- One row per PSP and currency (fees are in the currency's minor units and
-- never added across currencies), from the per-minute aggregates:
--   attempts            attempts at the PSP in that currency
--   fee_minor           fees of all those attempts: approvals, and
--                       declines where the PSP charges for them
--   approved_payments   payments whose final, approving attempt was at the
--                       PSP (final_payments_minute, status APPROVED)
--   cost_per_approved   fee_minor / approved_payments: what one approved
--                       payment costs at this PSP, its declines included
--   fee_per_attempt     fee_minor / attempts
-- A ratio whose denominator is 0 is 0. Attempts count by the minute they
-- started, payments by the minute their result was published.
SELECT
    psp,
    currency,
    sum(n_attempts) AS attempts,
    sum(n_fee) AS fee_minor,
    sum(n_approved) AS approved_payments,
    if(approved_payments = 0, 0, fee_minor / approved_payments) AS cost_per_approved,
    if(attempts = 0, 0, fee_minor / attempts) AS fee_per_attempt
FROM
(
    SELECT
        psp,
        currency,
        sum(attempts) AS n_attempts,
        sum(fee_minor_sum) AS n_fee,
        toUInt64(0) AS n_approved
    FROM {{.DB}}.psp_minute
    WHERE {{.Period "minute"}} AND {{.Merchant "merchant_id"}}
    GROUP BY psp, currency
    UNION ALL
    SELECT
        psp,
        currency,
        toUInt64(0) AS n_attempts,
        toInt64(0) AS n_fee,
        sum(payments) AS n_approved
    FROM {{.DB}}.final_payments_minute
    WHERE {{.Period "minute"}} AND {{.Merchant "merchant_id"}} AND status = 'APPROVED'
    GROUP BY psp, currency
)
GROUP BY psp, currency
ORDER BY psp, currency
