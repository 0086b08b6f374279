-- Late writes reach the aggregates. The aggregate policies only look back a fixed window (6 hours for the
-- 1-minute aggregate): snapshots replayed from a collector's spool after a longer outage, or backfilled, land
-- below every policy's reach and the real-time aggregates would never show them (their materialised part wins
-- below the watermark). The writer notes the time range of every snapshot it writes that is older than
-- `late_after` in conntrail.late_writes (same transaction as the rows); a TimescaleDB job refreshes every
-- aggregate over the noted ranges and clears the notes it handled. A job, not the API process: on a server
-- TimescaleDB's scheduler runs it like the policies, embedded the maintenance runner runs it with the others.
CREATE TABLE conntrail.late_writes (
  id         bigserial PRIMARY KEY,
  from_time  timestamptz NOT NULL,
  to_time    timestamptz NOT NULL CHECK (to_time >= from_time),
  noted_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE conntrail.late_writes IS
  'Time ranges written after the aggregate policies stopped looking at them; conntrail.refresh_late_writes refreshes and clears them.';
GRANT SELECT, INSERT ON conntrail.late_writes TO conntrail_writer;
GRANT USAGE ON SEQUENCE conntrail.late_writes_id_seq TO conntrail_writer;

-- How old a write must be to be noted. Well inside the shortest policy look-back (6 hours, traffic_1m and
-- nat_1h): a younger write is picked up by the policies themselves, so only replays and backfills are noted.
CREATE FUNCTION conntrail.late_after() RETURNS interval LANGUAGE sql IMMUTABLE AS $$ SELECT INTERVAL '1 hour' $$;
GRANT EXECUTE ON FUNCTION conntrail.late_after() TO conntrail_writer;

-- Refreshes the noted range of every aggregate, lowest level first (each rolls up the one below), each window
-- aligned to that aggregate's buckets, committing after each refresh (refresh_continuous_aggregate runs its own
-- transactions and refuses an enclosing one). Only the notes read at the start are cleared, so a note written
-- meanwhile waits for the next run. Disjoint ranges are refreshed one by one: a replay from last night and a
-- backfill from last month do not refresh the month between them.
CREATE PROCEDURE conntrail.refresh_late_writes(job_id integer, config jsonb) LANGUAGE plpgsql AS $$
DECLARE
  upto bigint;
  span record;
  target record;
BEGIN
  SELECT max(id) INTO upto FROM conntrail.late_writes;
  IF upto IS NULL THEN
    RETURN;
  END IF;
  FOR span IN
    -- Ranges merged where they overlap or touch within a day (one day is the coarsest bucket).
    WITH ordered AS (
      SELECT from_time, to_time,
             CASE WHEN from_time <= max(to_time) OVER (ORDER BY from_time, to_time ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) + INTERVAL '1 day'
                  THEN 0 ELSE 1 END AS starts
      FROM conntrail.late_writes WHERE id <= upto
    ), grouped AS (
      SELECT from_time, to_time, sum(starts) OVER (ORDER BY from_time, to_time) AS grp FROM ordered
    )
    SELECT min(from_time) AS lo, max(to_time) AS hi FROM grouped GROUP BY grp ORDER BY 1
  LOOP
    FOR target IN
      SELECT * FROM (VALUES
        (1, 'conntrail.traffic_1m', INTERVAL '1 minute'), (2, 'conntrail.traffic_1h', INTERVAL '1 hour'),
        (3, 'conntrail.traffic_1d', INTERVAL '1 day'), (4, 'conntrail.nat_1h', INTERVAL '1 hour'),
        (5, 'conntrail.nat_1d', INTERVAL '1 day')
      ) AS t(ord, relation, width) ORDER BY ord
    LOOP
      CALL refresh_continuous_aggregate(target.relation::regclass,
        time_bucket(target.width, span.lo), time_bucket(target.width, span.hi) + target.width);
      COMMIT;
    END LOOP;
  END LOOP;
  DELETE FROM conntrail.late_writes WHERE id <= upto;
  COMMIT;
END $$;

SELECT add_job('conntrail.refresh_late_writes', INTERVAL '1 minute');
