-- conntrail:no-transaction
-- NAT translation counts are the number of distinct conntrack entries at every resolution. Raw rows are one per
-- entry per interval, so counting rows (the aggregates' `sightings`) counted a 60-interval connection 60 times;
-- continuous aggregates cannot count distinct ids. The collector now marks the first snapshot that reports an
-- entry (new_count = 1, later 0), as connections.new_count does, and the NAT aggregates sum it. Rows written before
-- this migration have new_count NULL and count once each, as they did.
-- nat_1h and nat_1d are rebuilt with the new column: their materialized data is recomputed from the raw rows
-- still kept (raw retention), and their retention follows the aggregate of the same grain (traffic_1m, traffic_1d)
-- so conntrail.configure_retention's settings carry over. Continuous aggregates cannot be created inside a
-- transaction, so this file runs statement by statement.
ALTER TABLE conntrail.nat_translations ADD COLUMN IF NOT EXISTS new_count smallint CHECK (new_count IN (0, 1));

CREATE OR REPLACE VIEW bi.nat_translations AS
SELECT time, host_id, netns, protocol, conntrack_id, orig_src, orig_sport, orig_dst, orig_dport,
       reply_src, reply_sport, reply_dst, reply_dport, kind, first_seen, last_seen, new_count
FROM conntrail.nat_translations;
COMMENT ON VIEW bi.nat_translations IS
  'Conntrack entries with a translation, one row per host per interval: orig_* is the tuple the client sent, reply_* the '
  'tuple the server answered with; new_count is 1 in the first interval that reported the entry (NULL before migration 011).';

DROP VIEW IF EXISTS bi.nat_1d;
DROP VIEW IF EXISTS bi.nat_1h;
DROP MATERIALIZED VIEW IF EXISTS conntrail.nat_1d;
DROP MATERIALIZED VIEW IF EXISTS conntrail.nat_1h;

CREATE MATERIALIZED VIEW conntrail.nat_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
  time_bucket(INTERVAL '1 hour', time) AS bucket,
  host_id,
  netns,
  protocol,
  kind,
  orig_src,
  orig_dst,
  orig_dport,
  reply_src,
  reply_sport,
  reply_dst,
  min(orig_sport)   AS min_orig_sport,
  max(orig_sport)   AS max_orig_sport,
  min(reply_dport)  AS min_reply_dport,
  max(reply_dport)  AS max_reply_dport,
  count(*)::bigint  AS sightings,
  sum(COALESCE(new_count, 1))::bigint AS translations,
  min(first_seen)   AS first_seen,
  max(last_seen)    AS last_seen
FROM conntrail.nat_translations
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
WITH NO DATA;

CREATE MATERIALIZED VIEW conntrail.nat_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
  time_bucket(INTERVAL '1 day', bucket) AS bucket,
  host_id,
  netns,
  protocol,
  kind,
  orig_src,
  orig_dst,
  orig_dport,
  reply_src,
  reply_sport,
  reply_dst,
  min(min_orig_sport)       AS min_orig_sport,
  max(max_orig_sport)       AS max_orig_sport,
  min(min_reply_dport)      AS min_reply_dport,
  max(max_reply_dport)      AS max_reply_dport,
  sum(sightings)::bigint    AS sightings,
  sum(translations)::bigint AS translations,
  min(first_seen)           AS first_seen,
  max(last_seen)            AS last_seen
FROM conntrail.nat_1h
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
WITH NO DATA;

CALL refresh_continuous_aggregate('conntrail.nat_1h', NULL, NULL);
CALL refresh_continuous_aggregate('conntrail.nat_1d', NULL, NULL);

SELECT add_continuous_aggregate_policy('conntrail.nat_1h',
  start_offset => INTERVAL '6 hours', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes');
SELECT add_continuous_aggregate_policy('conntrail.nat_1d',
  start_offset => INTERVAL '4 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '6 hours');

SELECT add_retention_policy('conntrail.nat_1h', COALESCE((
  SELECT (j.config->>'drop_after')::interval
  FROM timescaledb_information.jobs j
  JOIN timescaledb_information.continuous_aggregates c
    ON j.hypertable_schema = c.materialization_hypertable_schema AND j.hypertable_name = c.materialization_hypertable_name
  WHERE c.view_schema = 'conntrail' AND c.view_name = 'traffic_1m' AND j.proc_name = 'policy_retention'
  LIMIT 1), INTERVAL '90 days'));
SELECT add_retention_policy('conntrail.nat_1d', COALESCE((
  SELECT (j.config->>'drop_after')::interval
  FROM timescaledb_information.jobs j
  JOIN timescaledb_information.continuous_aggregates c
    ON j.hypertable_schema = c.materialization_hypertable_schema AND j.hypertable_name = c.materialization_hypertable_name
  WHERE c.view_schema = 'conntrail' AND c.view_name = 'traffic_1d' AND j.proc_name = 'policy_retention'
  LIMIT 1), INTERVAL '400 days'));

CREATE VIEW bi.nat_1h AS
SELECT bucket, host_id, netns, protocol, kind, orig_src, orig_dst, orig_dport, reply_src, reply_sport, reply_dst,
       min_orig_sport, max_orig_sport, min_reply_dport, max_reply_dport, sightings, translations, first_seen, last_seen
FROM conntrail.nat_1h;
COMMENT ON VIEW bi.nat_1h IS
  'NAT translations per hour and mapping, client-side ports dropped (min/max kept): translations counts the conntrack '
  'entries first reported in the hour, sightings the per-interval records (continuous aggregate, real time).';

CREATE VIEW bi.nat_1d AS
SELECT bucket, host_id, netns, protocol, kind, orig_src, orig_dst, orig_dport, reply_src, reply_sport, reply_dst,
       min_orig_sport, max_orig_sport, min_reply_dport, max_reply_dport, sightings, translations, first_seen, last_seen
FROM conntrail.nat_1d;
COMMENT ON VIEW bi.nat_1d IS 'NAT translations per day and mapping, as bi.nat_1h (continuous aggregate over nat_1h, real time).';

GRANT SELECT ON bi.nat_translations, bi.nat_1h, bi.nat_1d TO conntrail_reader;
