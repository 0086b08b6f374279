-- Documented read interface (schema bi) and the two roles.
-- conntrail_writer: what collectors need to write snapshots.
-- conntrail_reader: SELECT on the bi views only (the API and BI tools); default privileges cover views
-- added to bi later. Views run with their owner's rights, so readers never touch the tables directly.
-- Roles are created NOLOGIN; an operator gives them LOGIN and a password on a server (see README).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'conntrail_writer') THEN
    CREATE ROLE conntrail_writer NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'conntrail_reader') THEN
    CREATE ROLE conntrail_reader NOLOGIN;
  END IF;
END $$;

CREATE SCHEMA IF NOT EXISTS bi;
COMMENT ON SCHEMA bi IS 'conntrail: documented read-only views for BI tools and the API';

CREATE VIEW bi.hosts AS
SELECT host_id, first_seen, last_seen FROM conntrail.hosts;
COMMENT ON VIEW bi.hosts IS 'Every host that ever wrote a snapshot.';

CREATE VIEW bi.processes AS
SELECT host_id, pid, started_at, name, exe, cmdline, uid, cgroup, container_id, first_seen, last_seen
FROM conntrail.processes;
COMMENT ON VIEW bi.processes IS 'Processes, keyed by (host_id, pid, started_at) so that pid reuse is harmless.';

CREATE VIEW bi.connections AS
SELECT c.time, c.host_id, c.netns, c.protocol, c.family, c.direction,
       c.local_addr, c.local_port, c.remote_addr, c.remote_port,
       c.pid, c.process_started_at, p.name AS process_name, p.cmdline AS process_cmdline,
       p.container_id, c.state, c.opened_at, c.closed_at,
       c.bytes_sent, c.bytes_received, c.retransmits, c.rtt_us, c.source, c.conn_count, c.new_count
FROM conntrail.connections c
LEFT JOIN conntrail.processes p
  ON p.host_id = c.host_id AND p.pid = c.pid AND p.started_at = c.process_started_at;
COMMENT ON VIEW bi.connections IS
  'One row per connection (or elided group of conn_count connections) per host per collection interval. '
  'bytes_* and retransmits are deltas within the interval; new_count counts connections first seen in it.';

CREATE VIEW bi.nat_translations AS
SELECT time, host_id, netns, protocol, conntrack_id, orig_src, orig_sport, orig_dst, orig_dport,
       reply_src, reply_sport, reply_dst, reply_dport, kind, first_seen, last_seen
FROM conntrail.nat_translations;
COMMENT ON VIEW bi.nat_translations IS
  'Conntrack entries with a translation: orig_* is the tuple the client sent, reply_* the tuple the server answered with.';

CREATE VIEW bi.listening_sockets AS
SELECT l.time, l.host_id, l.netns, l.protocol, l.family, l.address, l.port, l.pid, l.process_started_at,
       p.name AS process_name
FROM conntrail.listening_sockets l
LEFT JOIN conntrail.processes p
  ON p.host_id = l.host_id AND p.pid = l.pid AND p.started_at = l.process_started_at;
COMMENT ON VIEW bi.listening_sockets IS 'Listening sockets per host per interval.';

CREATE VIEW bi.snapshots AS
SELECT time, host_id, interval_seconds, sources, connection_rows, nat_rows, listening_rows,
       rows_rejected, events_lost, errors, written_at
FROM conntrail.snapshots;
COMMENT ON VIEW bi.snapshots IS 'Completeness records: one per host per interval; no row means no data, not no traffic.';

CREATE VIEW bi.traffic_1m AS
SELECT t.bucket, t.host_id, t.netns, t.protocol, t.direction, t.pid, t.process_started_at, p.name AS process_name,
       p.container_id, t.local_addr, t.remote_addr, t.server_port, t.bytes_sent, t.bytes_received,
       t.connections, t.connection_intervals, t.retransmits, t.first_seen, t.last_seen
FROM conntrail.traffic_1m t
LEFT JOIN conntrail.processes p
  ON p.host_id = t.host_id AND p.pid = t.pid AND p.started_at = t.process_started_at;
COMMENT ON VIEW bi.traffic_1m IS 'Traffic per process and peer address per minute (continuous aggregate, real time).';

CREATE VIEW bi.traffic_1h AS
SELECT t.bucket, t.host_id, t.netns, t.protocol, t.direction, t.pid, t.process_started_at, p.name AS process_name,
       p.container_id, t.local_addr, t.remote_addr, t.server_port, t.bytes_sent, t.bytes_received,
       t.connections, t.connection_intervals, t.retransmits, t.first_seen, t.last_seen
FROM conntrail.traffic_1h t
LEFT JOIN conntrail.processes p
  ON p.host_id = t.host_id AND p.pid = t.pid AND p.started_at = t.process_started_at;
COMMENT ON VIEW bi.traffic_1h IS 'Traffic per process and peer address per hour (continuous aggregate, real time).';

GRANT USAGE ON SCHEMA conntrail TO conntrail_writer;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA conntrail TO conntrail_writer;
GRANT UPDATE ON conntrail.hosts, conntrail.processes TO conntrail_writer;

GRANT USAGE ON SCHEMA bi TO conntrail_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA bi TO conntrail_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA bi GRANT SELECT ON TABLES TO conntrail_reader;
REVOKE ALL ON SCHEMA conntrail FROM conntrail_reader;
