-- conntrail:no-transaction
-- Continuous aggregates of traffic between entities. Continuous aggregates cannot be created inside a
-- transaction, so this file runs statement by statement.
--
-- server_port is the port that names the service: the remote port of an outgoing connection, the local
-- port of an incoming one (the ephemeral client port is dropped, which is what makes aggregation pay).
CREATE MATERIALIZED VIEW IF NOT EXISTS conntrail.traffic_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
  time_bucket(INTERVAL '1 minute', time) AS bucket,
  host_id,
  netns,
  protocol,
  direction,
  pid,
  process_started_at,
  local_addr,
  remote_addr,
  CASE direction WHEN 'incoming' THEN local_port
                 WHEN 'outgoing' THEN remote_port
                 ELSE LEAST(local_port, remote_port) END AS server_port,
  sum(bytes_sent)::bigint     AS bytes_sent,
  sum(bytes_received)::bigint AS bytes_received,
  sum(new_count)::bigint      AS connections,
  sum(conn_count)::bigint     AS connection_intervals,
  sum(retransmits)::bigint    AS retransmits,
  min(time)                   AS first_seen,
  max(time)                   AS last_seen
FROM conntrail.connections
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS conntrail.traffic_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
  time_bucket(INTERVAL '1 hour', bucket) AS bucket,
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
FROM conntrail.traffic_1m
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
WITH NO DATA;
