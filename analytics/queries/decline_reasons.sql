-- decline_reasons: why payments are declined, per PSP
--
-- One row per PSP, class and code, from the raw attempts declined in the
-- period (outcome DECLINED: hard and soft declines):
--   class           hard_decline (never retried) or soft_decline (may
--                   succeed later)
--   psp_code        the PSP's decline code
--   issuer_code     the issuer's response code behind it, when the PSP
--                   gives one
--   declines        attempts declined with this class and codes
--   share_rate      declines / all declines at the PSP in the period
-- Most frequent first within each PSP.
SELECT
    psp,
    class,
    psp_code,
    issuer_code,
    declines,
    if(psp_declines = 0, 0, declines / psp_declines) AS share_rate
FROM
(
    SELECT psp, class, psp_code, issuer_code, count() AS declines
    FROM {{.DB}}.attempts
    WHERE {{.Period "started_at"}} AND {{.Merchant "merchant_id"}} AND outcome = 'DECLINED'
    GROUP BY psp, class, psp_code, issuer_code
)
ANY LEFT JOIN
(
    SELECT psp, count() AS psp_declines
    FROM {{.DB}}.attempts
    WHERE {{.Period "started_at"}} AND {{.Merchant "merchant_id"}} AND outcome = 'DECLINED'
    GROUP BY psp
) USING (psp)
ORDER BY psp, declines DESC, class, psp_code, issuer_code
