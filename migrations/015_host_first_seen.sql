-- A host's first_seen is the time of its first record: coverage answers expect a host from its first record on
-- (before it, the host was unknown, not silent). Until now an older snapshot written after a newer one (a spool
-- replayed after an outage, a backfill) left first_seen at the newer one; the writer now keeps the earliest, and
-- this repairs hosts already stored from the records still kept.
UPDATE conntrail.hosts h
SET first_seen = s.first_time
FROM (SELECT host_id, min(time) AS first_time FROM conntrail.snapshots GROUP BY host_id) s
WHERE s.host_id = h.host_id AND s.first_time < h.first_seen;
