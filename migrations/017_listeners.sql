-- Listener history for BI tools (issue 13): bi.listeners joins consecutive sightings of one listening socket into
-- stretches, the same way the API's `listeners` query does over a range. A stretch is one (host, netns, protocol,
-- address, port, owning process) listed by consecutive listening scans of its host. Only snapshots whose listening
-- scan ran and succeeded count as scans (both the procfs source and the listening scan beside eBPF report as
-- "procfs"): a failed scan says nothing about absence, and a stretch without snapshots does not split a listener.
--   first_seen / last_seen   the first and last scans that listed it
--   opened_after             the host's scan just before first_seen (it did not list it; null: no earlier scan)
--   closed_before            the host's scan just after last_seen (it did not list it; null: still listed by the latest)
-- It reads the whole raw history (14 days by default): filter by host_id and port.
CREATE VIEW bi.listeners AS
WITH scans AS (
  SELECT host_id, time,
         row_number() OVER w AS sn, lag(time) OVER w AS prev_scan, lead(time) OVER w AS next_scan
  FROM conntrail.snapshots
  WHERE sources @> '[{"name":"procfs","ok":true}]'::jsonb
  WINDOW w AS (PARTITION BY host_id ORDER BY time)
), sightings AS (
  SELECT DISTINCT l.host_id, l.netns, l.protocol, l.family, l.address, l.port, l.pid, l.process_started_at,
         s.time, s.sn, s.prev_scan, s.next_scan
  FROM conntrail.listening_sockets l
  JOIN scans s ON s.host_id = l.host_id AND s.time = l.time
), islands AS (
  SELECT *, sn - row_number() OVER (PARTITION BY host_id, netns, protocol, address, port, pid, process_started_at ORDER BY time) AS island
  FROM sightings
)
SELECT i.host_id, i.netns, i.protocol, min(i.family) AS family, i.address, i.port, i.pid, i.process_started_at,
       p.name AS process_name, p.container_id,
       min(i.time) AS first_seen, max(i.time) AS last_seen, count(*) AS sightings,
       (array_agg(i.prev_scan ORDER BY i.time))[1] AS opened_after,
       (array_agg(i.next_scan ORDER BY i.time DESC))[1] AS closed_before
FROM islands i
LEFT JOIN conntrail.processes p
  ON p.host_id = i.host_id AND p.pid = i.pid AND p.started_at = i.process_started_at
GROUP BY i.host_id, i.netns, i.protocol, i.address, i.port, i.pid, i.process_started_at, i.island, p.name, p.container_id;
COMMENT ON VIEW bi.listeners IS
  'Listening sockets as stretches of consecutive listening scans per host, address, port and owning process: '
  'which process listened where, from first_seen to last_seen; it began after opened_after and stopped before '
  'closed_before (null when unknown or still listening).';

GRANT SELECT ON bi.listeners TO conntrail_reader;
