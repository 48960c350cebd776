-- latency: PSP response time, p50/p95/p99
--
-- One row per PSP, from the raw attempts (exact quantiles):
--   attempts       attempts started in the period
--   p50_ms, p95_ms, p99_ms   quantilesExact of latency_ms: the value at
--                  0-based rank floor(level * attempts) in ascending order
--                  (so p99 of 100 attempts is the slowest)
--   avg_ms         mean latency
--   max_ms         slowest attempt
-- latency_ms is the PSP call itself; an in-doubt attempt's latency is the
-- time until payroute gave up waiting. For dashboards over long periods
-- psp_latency_minute holds mergeable quantile states per minute
-- (quantilesTimingMerge(0.5, 0.95, 0.99)(latency_quantiles)).
SELECT
    psp,
    count() AS attempts,
    quantilesExact(0.5, 0.95, 0.99)(latency_ms)[1] AS p50_ms,
    quantilesExact(0.5, 0.95, 0.99)(latency_ms)[2] AS p95_ms,
    quantilesExact(0.5, 0.95, 0.99)(latency_ms)[3] AS p99_ms,
    avg(latency_ms) AS avg_ms,
    max(latency_ms) AS max_ms
FROM {{.DB}}.attempts
WHERE {{.Period "started_at"}} AND {{.Merchant "merchant_id"}}
GROUP BY psp
ORDER BY psp
