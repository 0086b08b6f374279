/**
 * The parent objects resolvers hand to each other, and conversions from store records and domain values.
 * Entities travel as references (ids) and are completed through the loaders only when a field asks for more.
 */
import type { ProcessRef as DomainProcessRef } from '../../domain/matching.js';
import { msToUs, type Page, type ProcessParent } from '../../store/index.js';
import { encodeCursor, type CursorKind } from '../cursor.js';

export interface HostParent {
  readonly id: string;
  readonly firstSeenMs?: number;
  readonly lastSeenMs?: number;
}

/** A process reference; what is known up front avoids a load (name and container come with connection rows). */
export interface ProcessParentRef extends ProcessParent {
  readonly name?: string | null;
  readonly containerId?: string | null;
}

export interface WindowParent {
  readonly from: number;
  readonly to: number;
}

export interface PageInfoParent {
  readonly hasNextPage: boolean;
  readonly hasPreviousPage: boolean;
  readonly startCursor: string | null;
  readonly endCursor: string | null;
}

export interface ConnectionPageParent<N> {
  readonly edges: readonly { readonly cursor: string; readonly node: N }[];
  readonly pageInfo: PageInfoParent;
}

export function hostRef(id: string | null): HostParent | null {
  return id === null ? null : { id };
}

export function processFromDomain(hostId: string | null, p: DomainProcessRef | null): ProcessParentRef | null {
  if (hostId === null || p === null) return null;
  return { hostId, pid: p.pid, startedUs: msToUs(p.startedAtMs), name: p.name, containerId: p.containerId };
}

export function windowOf(w: { fromMs: number; toMs: number }): WindowParent {
  return { from: w.fromMs, to: w.toMs };
}

/** A Relay connection from a keyset page. */
export function relayPage<R extends { key: readonly (string | number)[] }>(kind: CursorKind, page: Page<R>, hadAfter: boolean): ConnectionPageParent<R> {
  const edges = page.rows.map((node) => ({ cursor: encodeCursor(kind, node.key), node }));
  return {
    edges,
    pageInfo: { hasNextPage: page.hasNextPage, hasPreviousPage: hadAfter, startCursor: edges[0]?.cursor ?? null, endCursor: edges[edges.length - 1]?.cursor ?? null },
  };
}

/** Same, for records whose key is derived rather than stored on them. */
export function relayPageBy<R>(kind: CursorKind, page: Page<R>, keyOf: (r: R) => readonly (string | number)[], hadAfter: boolean): ConnectionPageParent<R> {
  const edges = page.rows.map((node) => ({ cursor: encodeCursor(kind, keyOf(node)), node }));
  return {
    edges,
    pageInfo: { hasNextPage: page.hasNextPage, hasPreviousPage: hadAfter, startCursor: edges[0]?.cursor ?? null, endCursor: edges[edges.length - 1]?.cursor ?? null },
  };
}
