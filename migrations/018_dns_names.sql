-- Names of addresses over time (issue 13): DNS answers processes on a host received (snoop) and reverse (PTR)
-- lookups the collector made (reverse). One row per name sighting reported with a snapshot: `time` is the
-- snapshot's, first_seen/last_seen the answers' own times (an entry still in use is reported again, so a name
-- can be found by looking back a bounded time from a connection). netns is null for reverse lookups.
CREATE TABLE conntrail.dns_names (
  time                timestamptz NOT NULL,
  host_id             text NOT NULL,
  netns               bigint,
  address             inet NOT NULL,
  name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 253),
  source              text NOT NULL CHECK (source IN ('snoop', 'reverse')),
  -- the name the process asked for (the question), not only a CNAME target on the way
  asked               boolean NOT NULL DEFAULT false,
  first_seen          timestamptz NOT NULL,
  last_seen           timestamptz NOT NULL,
  ttl                 integer CHECK (ttl >= 0),
  pid                 integer,
  process_started_at  timestamptz
);
SELECT create_hypertable('conntrail.dns_names', by_range('time', INTERVAL '1 day'));
CREATE INDEX dns_names_address_idx ON conntrail.dns_names (address, time DESC);
CREATE INDEX dns_names_name_idx ON conntrail.dns_names (name, time DESC);

ALTER TABLE conntrail.dns_names SET (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'host_id',
  timescaledb.compress_orderby = 'time DESC'
);
SELECT add_compression_policy('conntrail.dns_names', INTERVAL '2 days');

-- Retention like the other raw tables: configure_retention() now covers dns_names with `raw`.
DROP FUNCTION conntrail.configure_retention(interval, interval, interval, interval);

CREATE FUNCTION conntrail.configure_retention(raw interval, one_minute interval, one_hour interval, one_day interval DEFAULT INTERVAL '400 days')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  target record;
BEGIN
  IF raw IS NULL OR one_minute IS NULL OR one_hour IS NULL OR one_day IS NULL OR raw <= INTERVAL '0'
     OR one_minute < raw OR one_hour < one_minute OR one_day < one_hour THEN
    RAISE EXCEPTION 'retention must be positive and grow from raw to 1 minute to 1 hour to 1 day (got %, %, %, %)', raw, one_minute, one_hour, one_day
      USING ERRCODE = '22023';
  END IF;
  FOR target IN
    SELECT * FROM (VALUES
      ('conntrail.connections', raw), ('conntrail.nat_translations', raw), ('conntrail.listening_sockets', raw),
      ('conntrail.dns_names', raw),
      ('conntrail.snapshots', one_minute), ('conntrail.traffic_1m', one_minute), ('conntrail.nat_1h', one_minute),
      ('conntrail.traffic_1h', one_hour), ('conntrail.traffic_1d', one_day), ('conntrail.nat_1d', one_day)
    ) AS t(relation, keep)
  LOOP
    PERFORM remove_retention_policy(target.relation::regclass, if_exists => true);
    PERFORM add_retention_policy(target.relation::regclass, target.keep);
  END LOOP;
END $$;

-- Keep what the operator set: the connections table's current raw retention (14 days if none) for the names too.
SELECT add_retention_policy('conntrail.dns_names', COALESCE((
  SELECT (config ->> 'drop_after')::interval FROM timescaledb_information.jobs
  WHERE proc_name = 'policy_retention' AND hypertable_schema = 'conntrail' AND hypertable_name = 'connections'
  LIMIT 1), INTERVAL '14 days'));

GRANT SELECT, INSERT ON conntrail.dns_names TO conntrail_writer;

-- For BI tools: one row per sighting, with the receiving process's name when known.
CREATE VIEW bi.dns_names AS
SELECT d.time, d.host_id, d.netns, d.address, d.name, d.source, d.asked, d.first_seen, d.last_seen, d.ttl,
       d.pid, d.process_started_at, p.name AS process_name
FROM conntrail.dns_names d
LEFT JOIN conntrail.processes p
  ON p.host_id = d.host_id AND p.pid = d.pid AND p.started_at = d.process_started_at;
COMMENT ON VIEW bi.dns_names IS
  'Names of addresses: DNS answers processes received (source snoop, with the process) and reverse lookups '
  '(source reverse), first_seen to last_seen, as reported with each snapshot.';
GRANT SELECT ON bi.dns_names TO conntrail_reader;
