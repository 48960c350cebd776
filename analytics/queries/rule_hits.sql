-- rule_hits: which routing rules decided payments, per configuration version
--
-- One row per configuration version and rule, from final_payments_minute (every
-- final result records the version and the rule of its routing decision):
--   config_version   the router configuration version
--   rule_id          the rule that matched: a rule's id, "default",
--                    "override", "inline" or "route_ref:<name>"; empty for
--                    payments rejected before routing
--   payments         payments finalized in the period under it
--   approved         of those, APPROVED
--   approval_rate    approved / payments
--   attempts         attempts those payments took
--   attempts_per_payment  attempts / payments
--   failed_over      payments that moved to another PSP at least once
--   first_minute, last_minute  first and last minute in the period in which
--                    it decided a payment: when a version came and went
SELECT
    config_version,
    rule_id,
    sum(n_payments) AS payments,
    sum(n_approved) AS approved,
    if(payments = 0, 0, approved / payments) AS approval_rate,
    sum(n_attempts) AS attempts,
    if(payments = 0, 0, attempts / payments) AS attempts_per_payment,
    sum(n_failed_over) AS failed_over,
    min(at) AS first_minute,
    max(at) AS last_minute
FROM
(
    SELECT
        config_version,
        rule_id,
        minute AS at,
        payments AS n_payments,
        if(status = 'APPROVED', payments, toUInt64(0)) AS n_approved,
        attempts AS n_attempts,
        failed_over AS n_failed_over
    FROM {{.DB}}.final_payments_minute
    WHERE {{.Period "minute"}} AND {{.Merchant "merchant_id"}} AND payments > 0
)
GROUP BY config_version, rule_id
ORDER BY config_version, rule_id
