-- Listener history for BI tools (issue 13): bi.listeners joins consecutive sightings of one listening socket into
-- stretches, the same way the API's `listeners` query does over a range. A stretch is one (host, netns, protocol,
-- address, port, owning process) listed by consecutive listening scans of its host. Only snapshots whose listening
-- scan ran and succeeded count as scans (both the procfs source and the listening scan beside eBPF report as
-- "procfs"): a failed scan says nothing about absence, and a stretch without snapshots does not split a listener.
--   first_seen / last_seen   the first and last scans that listed it
--   opened_after             the host's scan just before first_seen (it did not list it; null: no earlier scan)
--   closed_before            the host's scan just after last_seen (it did not list it; null: still listed by the latest)
-- It reads the whole raw history (14 days by default), one pass over the rows: filter by host_id and port.
-- Scans and rows are sorted together and each row takes its scan's facts from the scan sharing its (host, time),
-- rather than joining rows to scans: without statistics a planner loops over the scans and rescans the rows.
CREATE VIEW bi.listeners AS
WITH scans AS (
  SELECT host_id, time, row_number() OVER w AS sn, lag(time) OVER w AS prev_scan, lead(time) OVER w AS next_scan
  FROM conntrail.snapshots
  WHERE sources @> '[{"name":"procfs","ok":true}]'::jsonb
  WINDOW w AS (PARTITION BY host_id ORDER BY time)
), marked AS (
  SELECT u.*, first_value(kind) OVER t AS scan_kind, first_value(sn) OVER t AS scan_sn,
         first_value(prev_scan) OVER t AS scan_prev, first_value(next_scan) OVER t AS scan_next
  FROM (
    SELECT host_id, time, 0 AS kind, sn, prev_scan, next_scan, NULL::bigint AS netns, NULL::text AS protocol,
           NULL::smallint AS family, NULL::inet AS address, NULL::integer AS port, NULL::integer AS pid,
           NULL::timestamptz AS process_started_at
    FROM scans
    UNION ALL
    SELECT DISTINCT host_id, time, 1, NULL::bigint, NULL::timestamptz, NULL::timestamptz,
           netns, protocol, family, address, port, pid, process_started_at
    FROM conntrail.listening_sockets
  ) u
  WINDOW t AS (PARTITION BY host_id, time ORDER BY kind)
), islands AS (
  SELECT host_id, netns, protocol, family, address, port, pid, process_started_at, time, scan_prev, scan_next,
         scan_sn - row_number() OVER (PARTITION BY host_id, netns, protocol, address, port, pid, process_started_at ORDER BY time) AS island
  FROM marked
  WHERE kind = 1 AND scan_kind = 0
), stretches AS (
  SELECT host_id, netns, protocol, min(family) AS family, address, port, pid, process_started_at,
         min(time) AS first_seen, max(time) AS last_seen, count(*) AS sightings,
         (array_agg(scan_prev ORDER BY time))[1] AS opened_after,
         (array_agg(scan_next ORDER BY time DESC))[1] AS closed_before
  FROM islands
  GROUP BY host_id, netns, protocol, address, port, pid, process_started_at, island
)
SELECT s.host_id, s.netns, s.protocol, s.family, s.address, s.port, s.pid, s.process_started_at,
       p.name AS process_name, p.container_id, s.first_seen, s.last_seen, s.sightings, s.opened_after, s.closed_before
FROM stretches s
LEFT JOIN conntrail.processes p
  ON p.host_id = s.host_id AND p.pid = s.pid AND p.started_at = s.process_started_at;
COMMENT ON VIEW bi.listeners IS
  'Listening sockets as stretches of consecutive listening scans per host, address, port and owning process: '
  'which process listened where, from first_seen to last_seen; it began after opened_after and stopped before '
  'closed_before (null when unknown or still listening).';

GRANT SELECT ON bi.listeners TO conntrail_reader;
