import type { Endpoint, Protocol } from '../domain/connection.js';

/** The identity of a socket across sources: the same 4-tuple in the same netns is the same socket. */
export interface SocketTuple {
  readonly netns: number;
  readonly protocol: Protocol;
  readonly local: Endpoint;
  readonly remote: Endpoint;
}

export function endpointKey(e: Endpoint): string {
  return `${e.address}:${e.port}`;
}

/**
 * A concatenated string is kept by V8 as a tree of its parts, several hundred bytes for a socket key;
 * reading a character flattens it in place. The collector keeps a key per socket, so it keeps them flat.
 */
export function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

export function socketKey(t: SocketTuple): string {
  return flat(`${t.netns}|${t.protocol}|${endpointKey(t.local)}|${endpointKey(t.remote)}`);
}

/** The key of the other end of the same connection, as seen from the remote side. */
export function mirrorKey(t: SocketTuple): string {
  return `${t.netns}|${t.protocol}|${endpointKey(t.remote)}|${endpointKey(t.local)}`;
}

export function tupleKey(netns: number, protocol: Protocol, local: Endpoint, remote: Endpoint): string {
  return socketKey({ netns, protocol, local, remote });
}

export function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}
