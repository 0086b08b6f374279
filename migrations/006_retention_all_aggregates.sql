-- configure_retention() now covers every aggregate, including the hourly NAT and the daily ones of 005:
-- raw tables keep `raw`; 1-minute traffic, hourly NAT and snapshots keep `one_minute`; hourly traffic keeps
-- `one_hour`; the daily aggregates keep `one_day` (default 400 days, the longest range the API reads).
DROP FUNCTION conntrail.configure_retention(interval, interval, interval);

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
      ('conntrail.snapshots', one_minute), ('conntrail.traffic_1m', one_minute), ('conntrail.nat_1h', one_minute),
      ('conntrail.traffic_1h', one_hour), ('conntrail.traffic_1d', one_day), ('conntrail.nat_1d', one_day)
    ) AS t(relation, keep)
  LOOP
    PERFORM remove_retention_policy(target.relation::regclass, if_exists => true);
    PERFORM add_retention_policy(target.relation::regclass, target.keep);
  END LOOP;
END $$;

SELECT conntrail.configure_retention(INTERVAL '14 days', INTERVAL '90 days', INTERVAL '365 days', INTERVAL '400 days');
