-- recovery_by_hop: what failing over from PSP A to PSP B recovers
--
-- One row per hop (from_psp -> to_psp), from hops_minute. A hop is an
-- attempt whose previous attempt for the same payment was at another PSP;
-- it counts in the minute the attempt at to_psp started.
--   hops            attempts at to_psp that followed an attempt at from_psp
--   recovered       of those, approved at to_psp: payments saved by the hop
--   recovery_rate   recovered / hops
--   declined        declined at to_psp (the card, not the PSP)
--   failed          failed again on the PSP side at to_psp (psp_error,
--                   rate_limited): handed on again, or FAILED
--   fee_minor       fees charged by to_psp for these attempts, summed over
--                   currencies (minor units; cost_per_approved has them per
--                   currency)
SELECT
    from_psp,
    to_psp,
    sum(n_hops) AS hops,
    sum(n_recovered) AS recovered,
    if(hops = 0, 0, recovered / hops) AS recovery_rate,
    sum(n_declined) AS declined,
    sum(n_failed) AS failed,
    sum(n_fee) AS fee_minor
FROM
(
    SELECT
        from_psp,
        to_psp,
        hops AS n_hops,
        recovered AS n_recovered,
        declined AS n_declined,
        failed AS n_failed,
        fee_minor_sum AS n_fee
    FROM {{.DB}}.hops_minute
    WHERE {{.Period "minute"}} AND {{.Merchant "merchant_id"}}
)
GROUP BY from_psp, to_psp
ORDER BY from_psp, to_psp
