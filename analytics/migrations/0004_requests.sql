-- 0004: the payment requests, for replaying history through a candidate
-- routing configuration (payroute replay).
--
-- One row per valid PaymentRequested record on payments.requested (the
-- sink skips what the processor would reject). It keeps what routing can
-- look at: the amount, currency, merchant, the card facts (network, funding,
-- BIN, last4, issuer country, expiry), the customer, the event's own
-- routing (route_ref, inline candidates, provider override) and the
-- metadata, as parallel key and value arrays (18.16 has no Map type). The
-- vault token and the card fingerprint are not kept: no routing rule needs
-- them, and analytics has no use for a handle on the card.
--
-- Plain MergeTree: a request published twice is two records and two rows,
-- as in the topic; replay takes the first per payment_id, as the processor
-- does. Loaded exactly once per record like the other raw tables (0002).

CREATE TABLE IF NOT EXISTS {{.Database}}.requests
(
    payment_id String,
    reference_payment_id String,
    merchant_id String,
    operation String,
    amount_minor Int64,
    currency String,
    method_type String,
    card_network String,
    card_funding String,
    card_bin String,
    card_last4 String,
    issuer_country String,
    expiry_month Int32,
    expiry_year Int32,
    customer_id String,
    customer_country String,
    recurring UInt8,
    route_ref String,
    provider_override String,
    candidate_psps Array(String),
    candidate_methods Array(String),
    candidate_ranks Array(Int32),
    metadata_keys Array(String),
    metadata_values Array(String),
    requested_at DateTime,
    requested_at_ms UInt64,
    source_topic String,
    source_partition Int32,
    source_offset UInt64
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(requested_at)
ORDER BY (requested_at, merchant_id, payment_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.requests_ingest_offsets_mv
TO {{.Database}}.ingest_offsets
AS SELECT
    source_topic,
    source_partition,
    max(source_offset) AS max_offset
FROM {{.Database}}.requests
GROUP BY source_topic, source_partition
