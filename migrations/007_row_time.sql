-- Row time, one definition everywhere: a row's `time` is the end of the collection interval it covers (the
-- moment of the snapshot), and the row stands for the connection's life within that interval. bi.connections
-- gains that life as columns, so that "who talked between 14:02:10 and 14:02:40" is one overlap test:
--   interval_start  the start of the row's collection interval (time - the snapshot's interval)
--   active_from     when the connection was active from, within the interval (opened_at when it opened in it)
--   active_to       until when, within the interval (closed_at when it closed in it, else time)
-- A row is in a window [from, to) when active_from < to AND (active_to > from OR active_from = from).
-- The joins add nothing when these columns are not read: (host_id, time) is the snapshots' primary key.
CREATE OR REPLACE VIEW bi.connections AS
SELECT c.time, c.host_id, c.netns, c.protocol, c.family, c.direction,
       c.local_addr, c.local_port, c.remote_addr, c.remote_port,
       c.pid, c.process_started_at, p.name AS process_name, p.cmdline AS process_cmdline,
       p.container_id, c.state, c.opened_at, c.closed_at,
       c.bytes_sent, c.bytes_received, c.retransmits, c.rtt_us, c.source, c.conn_count, c.new_count,
       life.interval_start,
       LEAST(GREATEST(COALESCE(c.opened_at, life.interval_start), life.interval_start), life.active_to) AS active_from,
       life.active_to
FROM conntrail.connections c
LEFT JOIN conntrail.processes p
  ON p.host_id = c.host_id AND p.pid = c.pid AND p.started_at = c.process_started_at
LEFT JOIN conntrail.snapshots s
  ON s.host_id = c.host_id AND s.time = c.time
CROSS JOIN LATERAL (
  SELECT c.time - COALESCE(s.interval_seconds, 0) * INTERVAL '1 second' AS interval_start,
         GREATEST(LEAST(COALESCE(c.closed_at, c.time), c.time), c.time - COALESCE(s.interval_seconds, 0) * INTERVAL '1 second') AS active_to
) life;
COMMENT ON VIEW bi.connections IS
  'One row per connection (or elided group of conn_count connections) per host per collection interval. '
  '`time` is the end of the interval (the snapshot), which covers (interval_start, time]; active_from/active_to '
  'are the connection''s life within it. bytes_* and retransmits are what moved within the interval, not split '
  'further; new_count counts connections first seen in it.';

COMMENT ON VIEW bi.traffic_1m IS
  'Traffic per process and peer address per minute (continuous aggregate, real time). A row falls in the bucket '
  'holding its time, the end of its collection interval.';
COMMENT ON VIEW bi.traffic_1h IS
  'Traffic per process and peer address per hour (continuous aggregate, real time). A row falls in the bucket '
  'holding its time, the end of its collection interval.';
COMMENT ON VIEW bi.traffic_1d IS
  'Traffic per process and peer address per day (continuous aggregate over traffic_1h, real time). A row falls in '
  'the bucket holding its time, the end of its collection interval.';
