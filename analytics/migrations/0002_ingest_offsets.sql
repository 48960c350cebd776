-- 0002: how far the sink has loaded each Kafka partition, kept in ClickHouse.
--
-- This is what makes ingestion exactly-once (the package documentation,
-- "Exactly once", has the whole argument). In short: the sink never trusts
-- Kafka's committed offset to know what ClickHouse already holds, because
-- a crash between an insert and its offset commit leaves the commit behind.
-- It asks ClickHouse instead: every raw row carries the (topic, partition,
-- offset) of its record, and the materialized views below record, for every
-- block inserted into a raw table, the highest offset per partition in that
-- block. They run inside the INSERT, on the server, so once an INSERT has
-- returned (or, after a crash, once it has left system.processes) its rows
-- and its offsets are both there or both absent. On start, and on every
-- partition assignment, the sink resumes after max(max_offset): nothing
-- ClickHouse holds is inserted twice, and the materialized views that feed
-- the aggregates (0003) see every event exactly once.
--
-- ReplacingMergeTree keeps one row per partition after merges; readers
-- always take max(max_offset), so unmerged rows never matter.

CREATE TABLE IF NOT EXISTS {{.Database}}.ingest_offsets
(
    source_topic String,
    source_partition Int32,
    max_offset UInt64
)
ENGINE = ReplacingMergeTree(max_offset)
ORDER BY (source_topic, source_partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.attempts_ingest_offsets_mv
TO {{.Database}}.ingest_offsets
AS SELECT
    source_topic,
    source_partition,
    max(source_offset) AS max_offset
FROM {{.Database}}.attempts
GROUP BY source_topic, source_partition;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.payments_ingest_offsets_mv
TO {{.Database}}.ingest_offsets
AS SELECT
    source_topic,
    source_partition,
    max(source_offset) AS max_offset
FROM {{.Database}}.payments
GROUP BY source_topic, source_partition;

-- A database loaded by an earlier payroute (before this migration) already
-- holds rows: record how far they go, so that the first start after the
-- upgrade does not load them again. Idempotent: running it twice inserts the
-- same maxima, and readers take the max.
INSERT INTO {{.Database}}.ingest_offsets (source_topic, source_partition, max_offset)
SELECT source_topic, source_partition, max(source_offset)
FROM {{.Database}}.attempts
GROUP BY source_topic, source_partition;

INSERT INTO {{.Database}}.ingest_offsets (source_topic, source_partition, max_offset)
SELECT source_topic, source_partition, max(source_offset)
FROM {{.Database}}.payments
GROUP BY source_topic, source_partition
