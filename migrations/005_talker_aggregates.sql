-- conntrail:no-transaction
-- Aggregates for the talkers graph over long ranges (the API's `talkers`/`edges` at DAY resolution and NAT at
-- every aggregate resolution): traffic per day, rolled up from traffic_1h, and NAT translations per hour and
-- per day at the grain the triple match uses (the client-side ports, orig_sport and reply_dport, are dropped;
-- their min/max tell whether they all were the same). Continuous aggregates cannot be created inside a
-- transaction, so this file runs statement by statement.
CREATE MATERIALIZED VIEW IF NOT EXISTS conntrail.traffic_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
  time_bucket(INTERVAL '1 day', bucket) AS bucket,
  host_id,
  netns,
  protocol,
  direction,
  pid,
  process_started_at,
  local_addr,
  remote_addr,
  server_port,
  sum(bytes_sent)::bigint           AS bytes_sent,
  sum(bytes_received)::bigint       AS bytes_received,
  sum(connections)::bigint          AS connections,
  sum(connection_intervals)::bigint AS connection_intervals,
  sum(retransmits)::bigint          AS retransmits,
  min(first_seen)                   AS first_seen,
  max(last_seen)                    AS last_seen
FROM conntrail.traffic_1h
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS conntrail.nat_1h
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
  min(first_seen)   AS first_seen,
  max(last_seen)    AS last_seen
FROM conntrail.nat_translations
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS conntrail.nat_1d
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
  min(min_orig_sport)     AS min_orig_sport,
  max(max_orig_sport)     AS max_orig_sport,
  min(min_reply_dport)    AS min_reply_dport,
  max(max_reply_dport)    AS max_reply_dport,
  sum(sightings)::bigint  AS sightings,
  min(first_seen)         AS first_seen,
  max(last_seen)          AS last_seen
FROM conntrail.nat_1h
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
WITH NO DATA;

SELECT add_continuous_aggregate_policy('conntrail.nat_1h',
  start_offset => INTERVAL '6 hours', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes');
SELECT add_continuous_aggregate_policy('conntrail.traffic_1d',
  start_offset => INTERVAL '4 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '6 hours');
SELECT add_continuous_aggregate_policy('conntrail.nat_1d',
  start_offset => INTERVAL '4 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '6 hours');

-- Kept as long as the API may read aggregates (400 days); nat_1h like traffic_1m.
SELECT add_retention_policy('conntrail.nat_1h', INTERVAL '90 days');
SELECT add_retention_policy('conntrail.traffic_1d', INTERVAL '400 days');
SELECT add_retention_policy('conntrail.nat_1d', INTERVAL '400 days');

CREATE VIEW bi.traffic_1d AS
SELECT t.bucket, t.host_id, t.netns, t.protocol, t.direction, t.pid, t.process_started_at, p.name AS process_name,
       p.container_id, t.local_addr, t.remote_addr, t.server_port, t.bytes_sent, t.bytes_received,
       t.connections, t.connection_intervals, t.retransmits, t.first_seen, t.last_seen
FROM conntrail.traffic_1d t
LEFT JOIN conntrail.processes p
  ON p.host_id = t.host_id AND p.pid = t.pid AND p.started_at = t.process_started_at;
COMMENT ON VIEW bi.traffic_1d IS 'Traffic per process and peer address per day (continuous aggregate over traffic_1h, real time).';

CREATE VIEW bi.nat_1h AS
SELECT bucket, host_id, netns, protocol, kind, orig_src, orig_dst, orig_dport, reply_src, reply_sport, reply_dst,
       min_orig_sport, max_orig_sport, min_reply_dport, max_reply_dport, sightings, first_seen, last_seen
FROM conntrail.nat_1h;
COMMENT ON VIEW bi.nat_1h IS
  'NAT translations per hour and mapping, client-side ports dropped (min/max kept): sightings counts per-interval records (continuous aggregate, real time).';

CREATE VIEW bi.nat_1d AS
SELECT bucket, host_id, netns, protocol, kind, orig_src, orig_dst, orig_dport, reply_src, reply_sport, reply_dst,
       min_orig_sport, max_orig_sport, min_reply_dport, max_reply_dport, sightings, first_seen, last_seen
FROM conntrail.nat_1d;
COMMENT ON VIEW bi.nat_1d IS 'NAT translations per day and mapping, as bi.nat_1h (continuous aggregate over nat_1h, real time).';
