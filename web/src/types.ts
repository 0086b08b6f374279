/** The slices of the public GraphQL schema the UI reads (see schema.graphql). */
import type { MatchLabel } from './state.js';

export interface HostRef { readonly id: string }
export interface ProcessRef { readonly pid: number; readonly name: string; readonly startedAt: string }
export interface NodeData {
  readonly id: string;
  readonly kind: 'PROCESS' | 'PROCESS_NAME' | 'CONTAINER' | 'HOST' | 'ADDRESS';
  readonly name: string;
  readonly containerId: string | null;
  readonly address: string | null;
  readonly host: HostRef | null;
  readonly process: ProcessRef | null;
}
export interface Endpoint {
  readonly node: NodeData;
  readonly address: string | null;
  readonly port: number | null;
  readonly host: HostRef | null;
  readonly process: ProcessRef | null;
}
export interface NatTuple { readonly source: string; readonly sourcePort: number | null; readonly destination: string; readonly destinationPort: number | null }
export interface NatHop {
  readonly host: HostRef | null;
  readonly kind: 'DNAT' | 'SNAT' | 'BOTH';
  readonly protocol: string;
  readonly translations: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly original: NatTuple;
  readonly reply: NatTuple;
}
export interface EdgeData {
  readonly id: string;
  readonly protocol: 'TCP' | 'UDP';
  readonly match: MatchLabel;
  readonly matches: ReadonlyArray<{ readonly match: MatchLabel; readonly connections: number | string }>;
  readonly connections: number | string;
  readonly bytesSent: number | string;
  readonly bytesReceived: number | string;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly client: Endpoint;
  readonly server: Endpoint;
  readonly nat: readonly NatHop[];
}
export interface TrafficPoint { readonly time: string; readonly bytesSent: number | string; readonly bytesReceived: number | string; readonly connections: number | string }
/** One host over a window: recorded 0 = no data at all; gaps = stretches without records; incomplete = degraded records. */
export interface HostCoverage { readonly id: string; readonly recorded: number; readonly gaps: ReadonlyArray<{ readonly from: string; readonly to: string }>; readonly incomplete?: number }
