/**
 * /proc/<pid>/net/sockstat and sockstat6 count the sockets of a namespace per protocol. Reading a TCP
 * table walks the kernel's whole (host-wide) established hash whatever the namespace holds, so a table
 * the counts show to be empty is not worth reading: on a host with many namespaces this saves most of
 * the scan.
 */

/** protocol ('TCP', 'UDP', 'TCP6', ...) -> field ('inuse', 'tw', ...) -> value. */
export type SockstatCounts = ReadonlyMap<string, ReadonlyMap<string, number>>;

/** Parses sockstat/sockstat6 text ('TCP: inuse 3 orphan 0 tw 1 alloc 5 mem 1'); ignores what it cannot read. */
export function parseSockstat(text: string): SockstatCounts {
  const out = new Map<string, Map<string, number>>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const fields = line.slice(colon + 1).trim().split(' ');
    const values = new Map<string, number>();
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const n = Number(fields[i + 1]);
      if (Number.isFinite(n)) values.set(fields[i] ?? '', n);
    }
    out.set(line.slice(0, colon), values);
  }
  return out;
}

function count(counts: SockstatCounts, protocol: string, field: string): number | undefined {
  return counts.get(protocol)?.get(field);
}

/**
 * Whether a table can hold entries according to the counts. Unknown counts mean "read it".
 * TIME_WAIT sockets are not "in use" but are listed, so a non-zero tw count keeps both TCP tables.
 */
export function tableMayHaveEntries(counts: SockstatCounts, table: 'tcp' | 'tcp6' | 'udp' | 'udp6'): boolean {
  const inuse = count(counts, { tcp: 'TCP', tcp6: 'TCP6', udp: 'UDP', udp6: 'UDP6' }[table], 'inuse');
  if (inuse === undefined || inuse > 0) return true;
  if (table === 'tcp' || table === 'tcp6') {
    const tw = count(counts, 'TCP', 'tw');
    return tw === undefined || tw > 0;
  }
  return false;
}
