-- Compression (segment by host), retention and aggregate refresh policies, all configurable later with
-- conntrail.configure_retention(). While embedded there are no background workers: conntrail itself runs
-- these jobs on a timer (see src/store/maintenance.ts); on a TimescaleDB server its scheduler does.
ALTER TABLE conntrail.connections SET (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'host_id',
  timescaledb.compress_orderby = 'time DESC'
);
ALTER TABLE conntrail.nat_translations SET (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'host_id',
  timescaledb.compress_orderby = 'time DESC'
);
ALTER TABLE conntrail.listening_sockets SET (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'host_id',
  timescaledb.compress_orderby = 'time DESC'
);
SELECT add_compression_policy('conntrail.connections', INTERVAL '2 days');
SELECT add_compression_policy('conntrail.nat_translations', INTERVAL '2 days');
SELECT add_compression_policy('conntrail.listening_sockets', INTERVAL '2 days');

SELECT add_continuous_aggregate_policy('conntrail.traffic_1m',
  start_offset => INTERVAL '6 hours', end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute');
SELECT add_continuous_aggregate_policy('conntrail.traffic_1h',
  start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes');

-- Retention is set through one function so that operators can change it in one call.
CREATE FUNCTION conntrail.configure_retention(raw interval, one_minute interval, one_hour interval)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF raw IS NULL OR one_minute IS NULL OR one_hour IS NULL OR raw <= INTERVAL '0' OR one_minute < raw OR one_hour < one_minute THEN
    RAISE EXCEPTION 'retention must be positive and grow from raw to 1 minute to 1 hour (got %, %, %)', raw, one_minute, one_hour
      USING ERRCODE = '22023';
  END IF;
  PERFORM remove_retention_policy('conntrail.connections', if_exists => true);
  PERFORM remove_retention_policy('conntrail.nat_translations', if_exists => true);
  PERFORM remove_retention_policy('conntrail.listening_sockets', if_exists => true);
  PERFORM remove_retention_policy('conntrail.snapshots', if_exists => true);
  PERFORM remove_retention_policy('conntrail.traffic_1m', if_exists => true);
  PERFORM remove_retention_policy('conntrail.traffic_1h', if_exists => true);
  PERFORM add_retention_policy('conntrail.connections', raw);
  PERFORM add_retention_policy('conntrail.nat_translations', raw);
  PERFORM add_retention_policy('conntrail.listening_sockets', raw);
  PERFORM add_retention_policy('conntrail.snapshots', one_minute);
  PERFORM add_retention_policy('conntrail.traffic_1m', one_minute);
  PERFORM add_retention_policy('conntrail.traffic_1h', one_hour);
END $$;

SELECT conntrail.configure_retention(INTERVAL '14 days', INTERVAL '90 days', INTERVAL '365 days');
