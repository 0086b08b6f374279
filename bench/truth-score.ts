/**
 * The truth bench's scoring, pure: the edges conntrail answered against the edges the scenario programs
 * counted themselves. An edge is one (protocol, client host and pid, server host and pid) pair. An
 * answered edge is right when its key is an expected edge's; every other answered edge (a second edge
 * for the same pair, one end unknown, the wrong process) is a false positive. Counts and bytes of an
 * expected edge are summed over every answered edge with its key: what a reader adding them up would get.
 */
export type Protocol = 'TCP' | 'UDP';

export interface ProcessRef {
  readonly host: string | null;
  readonly pid: number | null;
}

export interface ExpectedEdge {
  readonly scenario: string;
  readonly protocol: Protocol;
  readonly client: ProcessRef;
  readonly server: ProcessRef;
  readonly connections: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

export interface ObservedEdge {
  readonly protocol: Protocol;
  readonly match: string;
  readonly connections: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly client: ProcessRef & { readonly address: string | null };
  readonly server: ProcessRef & { readonly address: string | null; readonly port: number | null };
}

/** Edges that are not the scenario's traffic: conntrail's own processes and ports (collectors writing to the store, the API). */
export interface Ignore {
  readonly pids: ReadonlySet<number>;
  readonly serverPorts: ReadonlySet<number>;
}

export interface EdgeScore {
  readonly expected: ExpectedEdge;
  /** Every answered edge with this edge's key (more than one is a duplicate). */
  readonly observed: readonly ObservedEdge[];
  readonly connections: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** |answered - true| / true; null when the edge was not answered at all. */
  readonly sentError: number | null;
  readonly receivedError: number | null;
  /** Answered edges that are wrong but share this edge's client or server process (the join went astray). */
  readonly strays: readonly ObservedEdge[];
}

export interface TruthScore {
  readonly expected: number;
  readonly answered: number;
  readonly found: number;
  /** found / answered (1 when nothing was answered and nothing expected). */
  readonly precision: number;
  /** found / expected. */
  readonly recall: number;
  readonly trueConnections: number;
  readonly answeredConnections: number;
  /** Connections carried by the wrong edges (a connection counted again, or half-joined). */
  readonly wrongConnections: number;
  /** Sum over expected edges of |answered - true| connections, over the true total. */
  readonly connectionError: number;
  /** The largest byte error over found edges, both directions. */
  readonly worstByteError: { readonly error: number; readonly edge: ExpectedEdge; readonly direction: 'sent' | 'received' } | null;
  readonly edges: readonly EdgeScore[];
  readonly falsePositives: readonly ObservedEdge[];
}

export function edgeKey(e: { protocol: Protocol; client: ProcessRef; server: ProcessRef }): string | null {
  if (e.client.host === null || e.client.pid === null || e.server.host === null || e.server.pid === null) return null;
  return `${e.protocol}|${e.client.host}|${e.client.pid}|${e.server.host}|${e.server.pid}`;
}

export function relativeError(answered: number, truth: number): number {
  if (truth === 0) return answered === 0 ? 0 : 1;
  return Math.abs(answered - truth) / truth;
}

function ignored(e: ObservedEdge, ignore: Ignore): boolean {
  return (e.client.pid !== null && ignore.pids.has(e.client.pid))
    || (e.server.pid !== null && ignore.pids.has(e.server.pid))
    || (e.server.port !== null && ignore.serverPorts.has(e.server.port));
}

const sameProcess = (a: ProcessRef, b: ProcessRef): boolean => a.pid !== null && a.pid === b.pid && a.host === b.host;

export function scoreEdges(expected: readonly ExpectedEdge[], observedAll: readonly ObservedEdge[], ignore: Ignore): TruthScore {
  const observed = observedAll.filter((e) => !ignored(e, ignore));
  const byKey = new Map<string, ObservedEdge[]>();
  for (const e of observed) {
    const key = edgeKey(e);
    if (key === null) continue;
    const list = byKey.get(key);
    if (list) list.push(e);
    else byKey.set(key, [e]);
  }
  const expectedKeys = new Set(expected.map((e) => edgeKey(e)));
  // The first answered edge of an expected key is right; a second one for the same pair is a duplicate.
  const right = new Set<ObservedEdge>();
  for (const [key, list] of byKey) if (expectedKeys.has(key) && list[0]) right.add(list[0]);
  const falsePositives = observed.filter((e) => !right.has(e));

  let found = 0;
  let trueConnections = 0;
  let answeredConnections = 0;
  let connectionDiff = 0;
  let worst: TruthScore['worstByteError'] = null;
  const edges: EdgeScore[] = expected.map((exp) => {
    const key = edgeKey(exp);
    const mine = key === null ? [] : (byKey.get(key) ?? []);
    const connections = mine.reduce((n, e) => n + e.connections, 0);
    const bytesSent = mine.reduce((n, e) => n + e.bytesSent, 0);
    const bytesReceived = mine.reduce((n, e) => n + e.bytesReceived, 0);
    trueConnections += exp.connections;
    answeredConnections += connections;
    connectionDiff += Math.abs(connections - exp.connections);
    let sentError: number | null = null;
    let receivedError: number | null = null;
    if (mine.length > 0) {
      found++;
      sentError = relativeError(bytesSent, exp.bytesSent);
      receivedError = relativeError(bytesReceived, exp.bytesReceived);
      for (const [error, direction] of [[sentError, 'sent'], [receivedError, 'received']] as const) {
        if (worst === null || error > worst.error) worst = { error, edge: exp, direction };
      }
    }
    const strays = falsePositives.filter((e) => sameProcess(e.client, exp.client) || sameProcess(e.server, exp.server));
    return { expected: exp, observed: mine, connections, bytesSent, bytesReceived, sentError, receivedError, strays };
  });
  return {
    expected: expected.length,
    answered: observed.length,
    found,
    precision: observed.length === 0 ? (expected.length === 0 ? 1 : 0) : found / observed.length,
    recall: expected.length === 0 ? 1 : found / expected.length,
    trueConnections,
    answeredConnections,
    wrongConnections: falsePositives.reduce((n, e) => n + e.connections, 0),
    connectionError: trueConnections === 0 ? 0 : connectionDiff / trueConnections,
    worstByteError: worst,
    edges,
    falsePositives,
  };
}
