-- in_doubt: how often each PSP leaves attempts in doubt, and how long they take to resolve
--
-- An attempt is in doubt (class in_doubt) when the request reached the PSP
-- but no answer came back. payroute then asks the same PSP about the same
-- idempotency key; an episode is one (payment, idempotency key) with an
-- in-doubt attempt started in the period, and it is resolved by the first
-- later attempt with that key, also started in the period, whose class is
-- not in_doubt (approved, declined, or psp_error "not processed", which may
-- then fail over).
-- One row per PSP, from the raw attempts and final_payments_minute:
--   attempts            attempts started in the period
--   in_doubt_attempts   of those, in doubt
--   in_doubt_rate       in_doubt_attempts / attempts
--   episodes            in-doubt episodes
--   resolved            episodes resolved by a later attempt
--   unresolved          episodes - resolved
--   resolve_p50_ms, resolve_p95_ms, resolve_max_ms   time from the end of
--                       the episode's first in-doubt attempt to the end of
--                       the resolving attempt (quantilesExact, resolved
--                       episodes only; 0 when there is none)
--   in_doubt_payments   payments whose final result, published in the
--                       period, is IN_DOUBT at this PSP
SELECT
    psp,
    attempts,
    in_doubt_attempts,
    if(attempts = 0, 0, in_doubt_attempts / attempts) AS in_doubt_rate,
    episodes,
    resolved,
    episodes - resolved AS unresolved,
    resolve_p50_ms,
    resolve_p95_ms,
    resolve_max_ms,
    in_doubt_payments
FROM
(
    SELECT
        psp,
        attempts,
        in_doubt_attempts,
        episodes,
        resolved,
        resolve_p50_ms,
        resolve_p95_ms,
        resolve_max_ms
    FROM
    (
        SELECT psp, count() AS attempts, countIf(class = 'in_doubt') AS in_doubt_attempts
        FROM {{.DB}}.attempts
        WHERE {{.Period "started_at"}} AND {{.Merchant "merchant_id"}}
        GROUP BY psp
    )
    ANY LEFT JOIN
    (
        SELECT
            episode_psp AS psp,
            count() AS episodes,
            countIf(resolved_at_ms > 0) AS resolved,
            if(resolved = 0, 0, quantilesExactIf(0.5, 0.95)(resolved_at_ms - doubt_at_ms, resolved_at_ms > 0)[1]) AS resolve_p50_ms,
            if(resolved = 0, 0, quantilesExactIf(0.5, 0.95)(resolved_at_ms - doubt_at_ms, resolved_at_ms > 0)[2]) AS resolve_p95_ms,
            maxIf(resolved_at_ms - doubt_at_ms, resolved_at_ms > 0) AS resolve_max_ms
        FROM
        (
            SELECT
                payment_id,
                idempotency_key,
                any(doubt_psp) AS episode_psp,
                any(doubt_at) AS doubt_at_ms,
                minIf(later_at, later_number > doubt_number) AS resolved_at_ms
            FROM
            (
                SELECT
                    payment_id,
                    idempotency_key,
                    any(psp) AS doubt_psp,
                    min(attempt_number) AS doubt_number,
                    min(finished_at_ms) AS doubt_at
                FROM {{.DB}}.attempts
                WHERE {{.Period "started_at"}} AND {{.Merchant "merchant_id"}} AND class = 'in_doubt'
                GROUP BY payment_id, idempotency_key
            )
            ALL LEFT JOIN
            (
                SELECT
                    payment_id,
                    idempotency_key,
                    attempt_number AS later_number,
                    finished_at_ms AS later_at
                FROM {{.DB}}.attempts
                WHERE {{.Period "started_at"}} AND {{.Merchant "merchant_id"}} AND class != 'in_doubt'
            ) USING (payment_id, idempotency_key)
            GROUP BY payment_id, idempotency_key
        )
        GROUP BY episode_psp
    ) USING (psp)
)
ANY LEFT JOIN
(
    SELECT psp, sumIf(payments, status = 'IN_DOUBT') AS in_doubt_payments
    FROM {{.DB}}.final_payments_minute
    WHERE {{.Period "minute"}} AND {{.Merchant "merchant_id"}}
    GROUP BY psp
) USING (psp)
ORDER BY psp
