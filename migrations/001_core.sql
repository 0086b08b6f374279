-- Core tables: hosts, processes, and the per-interval hypertables.
-- Times are timestamptz; addresses are inet; every hypertable is segmented by host for compression.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE SCHEMA IF NOT EXISTS conntrail;

CREATE TABLE conntrail.hosts (
  host_id     text PRIMARY KEY CHECK (length(host_id) BETWEEN 1 AND 253),
  first_seen  timestamptz NOT NULL,
  last_seen   timestamptz NOT NULL
);

-- (host, pid, started_at) makes pid reuse harmless: a reused pid has another start time.
CREATE TABLE conntrail.processes (
  host_id     text NOT NULL REFERENCES conntrail.hosts (host_id),
  pid         integer NOT NULL CHECK (pid > 0),
  started_at  timestamptz NOT NULL,
  name        text NOT NULL,
  exe         text,
  cmdline     text NOT NULL DEFAULT '',
  uid         integer,
  cgroup      text,
  container_id text,
  first_seen  timestamptz NOT NULL,
  last_seen   timestamptz NOT NULL,
  PRIMARY KEY (host_id, pid, started_at)
);
CREATE INDEX processes_container_idx ON conntrail.processes (container_id) WHERE container_id IS NOT NULL;
CREATE INDEX processes_name_idx ON conntrail.processes (name);

-- One row per connection (or elided group of conn_count connections) per host per interval.
CREATE TABLE conntrail.connections (
  time                timestamptz NOT NULL,
  host_id             text NOT NULL,
  netns               bigint NOT NULL DEFAULT 0,
  protocol            text NOT NULL CHECK (protocol IN ('tcp', 'udp')),
  family              smallint NOT NULL CHECK (family IN (4, 6)),
  direction           text NOT NULL CHECK (direction IN ('outgoing', 'incoming', 'unknown')),
  local_addr          inet NOT NULL,
  local_port          integer NOT NULL CHECK (local_port BETWEEN 0 AND 65535),
  remote_addr         inet NOT NULL,
  remote_port         integer NOT NULL CHECK (remote_port BETWEEN 0 AND 65535),
  pid                 integer,
  process_started_at  timestamptz,
  state               text NOT NULL,
  opened_at           timestamptz,
  closed_at           timestamptz,
  bytes_sent          bigint NOT NULL DEFAULT 0 CHECK (bytes_sent >= 0),
  bytes_received      bigint NOT NULL DEFAULT 0 CHECK (bytes_received >= 0),
  retransmits         integer NOT NULL DEFAULT 0 CHECK (retransmits >= 0),
  rtt_us              integer,
  source              text NOT NULL,
  conn_count          integer NOT NULL DEFAULT 1 CHECK (conn_count >= 1),
  new_count           integer NOT NULL DEFAULT 0 CHECK (new_count >= 0)
);
SELECT create_hypertable('conntrail.connections', by_range('time', INTERVAL '1 day'));
CREATE INDEX connections_host_time_idx ON conntrail.connections (host_id, time DESC);
CREATE INDEX connections_remote_idx ON conntrail.connections (remote_addr, time DESC);
CREATE INDEX connections_local_idx ON conntrail.connections (local_addr, local_port, time DESC);

-- Conntrack entries with a translation, one row per host per interval in which they were seen.
CREATE TABLE conntrail.nat_translations (
  time          timestamptz NOT NULL,
  host_id       text NOT NULL,
  netns         bigint NOT NULL DEFAULT 0,
  protocol      text NOT NULL CHECK (protocol IN ('tcp', 'udp')),
  conntrack_id  bigint,
  orig_src      inet NOT NULL,
  orig_dst      inet NOT NULL,
  orig_sport    integer NOT NULL CHECK (orig_sport BETWEEN 0 AND 65535),
  orig_dport    integer NOT NULL CHECK (orig_dport BETWEEN 0 AND 65535),
  reply_src     inet NOT NULL,
  reply_dst     inet NOT NULL,
  reply_sport   integer NOT NULL CHECK (reply_sport BETWEEN 0 AND 65535),
  reply_dport   integer NOT NULL CHECK (reply_dport BETWEEN 0 AND 65535),
  kind          text NOT NULL CHECK (kind IN ('DNAT', 'SNAT', 'BOTH')),
  first_seen    timestamptz NOT NULL,
  last_seen     timestamptz NOT NULL
);
SELECT create_hypertable('conntrail.nat_translations', by_range('time', INTERVAL '1 day'));
CREATE INDEX nat_orig_dst_idx ON conntrail.nat_translations (orig_dst, orig_dport, time DESC);
CREATE INDEX nat_reply_src_idx ON conntrail.nat_translations (reply_src, reply_sport, time DESC);
CREATE INDEX nat_orig_src_idx ON conntrail.nat_translations (orig_src, time DESC);

CREATE TABLE conntrail.listening_sockets (
  time                timestamptz NOT NULL,
  host_id             text NOT NULL,
  netns               bigint NOT NULL DEFAULT 0,
  protocol            text NOT NULL CHECK (protocol IN ('tcp', 'udp')),
  family              smallint NOT NULL CHECK (family IN (4, 6)),
  address             inet NOT NULL,
  port                integer NOT NULL CHECK (port BETWEEN 0 AND 65535),
  pid                 integer,
  process_started_at  timestamptz
);
SELECT create_hypertable('conntrail.listening_sockets', by_range('time', INTERVAL '1 day'));
CREATE INDEX listening_host_port_idx ON conntrail.listening_sockets (host_id, port, time DESC);

-- The completeness record of each snapshot. Its primary key is the snapshot's identity:
-- the writer inserts it first and writes the rows only when it was new, so a replay adds nothing.
CREATE TABLE conntrail.snapshots (
  time             timestamptz NOT NULL,
  host_id          text NOT NULL,
  interval_seconds double precision NOT NULL CHECK (interval_seconds > 0),
  sources          jsonb NOT NULL DEFAULT '[]',
  connection_rows  integer NOT NULL DEFAULT 0,
  nat_rows         integer NOT NULL DEFAULT 0,
  listening_rows   integer NOT NULL DEFAULT 0,
  rows_rejected    integer NOT NULL DEFAULT 0,
  events_lost      bigint NOT NULL DEFAULT 0,
  errors           jsonb NOT NULL DEFAULT '[]',
  written_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (host_id, time)
);
SELECT create_hypertable('conntrail.snapshots', by_range('time', INTERVAL '7 days'));
