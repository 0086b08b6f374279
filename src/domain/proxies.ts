/**
 * Seeing through local proxies (a service mesh sidecar): a flow that reached a process through a REDIRECT,
 * and that process's own connection onward, become one flow "client -> real server, through the proxy".
 *
 * How a proxy is recognised, from what the data can say:
 * - the inbound leg: a flow (client -> P) whose last NAT hop is a destination rewrite made in the very host
 *   and network namespace whose socket accepted it (a REDIRECT, or a DNAT to a local port: both hand the
 *   connection to a local listener instead of the address the client asked for). A router's DNAT is made in
 *   another namespace than the server's and never qualifies;
 * - the onward leg: a flow from the same process P (same host, pid and start time), overlapping the inbound
 *   one in time, to the destination the client originally asked for: the rewrite's original destination
 *   address and port (the outbound sidecar case, where the proxy connects to the real destination), or that
 *   port on loopback (the inbound case, where the proxy forwards to the app on 127.0.0.1:port).
 * Without both legs nothing is joined: a REDIRECT to a process that does not forward stays a plain edge.
 *
 * The legs are joined per proxy process and original destination, not per connection (the data links no
 * inbound connection to its onward one); the figures are the client's (the onward leg's are the proxy's),
 * split between several onward destinations in proportion to their bytes. Onward legs that were joined are
 * replaced by the joined flows; proxies in a row (an outbound sidecar, then the server's inbound one) are
 * followed up to MAX_PROXY_HOPS.
 */
import { isLoopback } from './address.js';
import { apportion, type Flow, type FlowEndpoint, type NatGroup } from './matching.js';

const MAX_PROXY_HOPS = 3;

function processKey(e: FlowEndpoint): string | null {
  return e.process === null || e.hostId === null ? null : `${e.hostId}|${e.process.pid}|${e.process.startedAtMs}`;
}

/** The local redirect that handed an inbound leg to its server, or null when the flow is not one. */
function localRedirect(f: Flow): NatGroup | null {
  if (f.match !== 'NAT_RESOLVED' && f.match !== 'SERVER_ONLY') return null;
  const last = f.nat[f.nat.length - 1];
  if (last === undefined || last.kind !== 'DNAT' || f.server.process === null) return null;
  if (last.hostId !== f.server.hostId || last.netns === null || last.netns !== f.server.netns) return null;
  // A rewrite to the port asked for is no redirect to another listener.
  if (last.replySrcPort === last.origDstPort && last.replySrc === last.origDst) return null;
  return last;
}

/** Where a flow's client first sent its packets: before any translation. */
function askedDestination(f: Flow): { address: string; port: number | null } {
  const first = f.nat[0];
  return first ? { address: first.origDst, port: first.origDstPort } : { address: f.server.address, port: f.server.port };
}

function overlaps(a: Flow, b: Flow, slack: number): boolean {
  return a.firstSeenMs <= b.lastSeenMs + slack && b.firstSeenMs <= a.lastSeenMs + slack;
}

function isOnward(inbound: Flow, redirect: NatGroup, onward: Flow, slack: number): boolean {
  if (onward === inbound || !overlaps(inbound, onward, slack)) return false;
  const to = askedDestination(onward);
  if (to.port !== redirect.origDstPort) return false;
  if (to.address === redirect.origDst) return true;
  // Loopback only reaches the proxy's own namespace: the onward leg must start in the redirect's namespace.
  return isLoopback(to.address) && onward.client.netns === redirect.netns;
}

/** One pass: joins every inbound leg that has onward legs. */
function joinOnce(flows: readonly Flow[], slack: number): { flows: Flow[]; changed: boolean } {
  const byClientProcess = new Map<string, Flow[]>();
  for (const f of flows) {
    const key = processKey(f.client);
    if (key === null) continue;
    const list = byClientProcess.get(key);
    if (list) list.push(f);
    else byClientProcess.set(key, [f]);
  }
  const legs = new Map<Flow, Flow[]>();
  for (const inbound of flows) {
    const redirect = localRedirect(inbound);
    const proxyKey = redirect === null ? null : processKey(inbound.server);
    if (redirect === null || proxyKey === null) continue;
    const onward = (byClientProcess.get(proxyKey) ?? []).filter((o) => isOnward(inbound, redirect, o, slack));
    if (onward.length > 0) legs.set(inbound, onward);
  }
  const consumed = new Set<Flow>();
  const joined = new Map<Flow, Flow[]>();
  for (const [inbound, onward] of legs) {
    // Innermost proxy first: an onward leg that is itself redirected to a proxy is joined on in this pass, and
    // this leg meets the result in the next one.
    if (onward.some((o) => legs.has(o))) continue;
    const weights = onward.map((o) => o.bytesSent + o.bytesReceived);
    const sent = apportion(inbound.bytesSent, weights);
    const received = apportion(inbound.bytesReceived, weights);
    const counts = apportion(inbound.connections, weights);
    joined.set(inbound, onward.map((o, i) => {
      consumed.add(o);
      return {
        // Both ends recorded (through the redirect): NAT_RESOLVED; an end missing on either leg says so.
        match: inbound.match === 'SERVER_ONLY' ? 'SERVER_ONLY' : o.match === 'BOTH_ENDS' || o.match === 'NAT_RESOLVED' ? 'NAT_RESOLVED' : o.match,
        protocol: inbound.protocol,
        client: inbound.client,
        server: o.server,
        bytesSent: sent[i]!, bytesReceived: received[i]!, connections: counts[i]!,
        firstSeenMs: inbound.firstSeenMs, lastSeenMs: inbound.lastSeenMs,
        nat: [...inbound.nat, ...o.nat],
        proxies: [...(inbound.proxies ?? []), inbound.server, ...(o.proxies ?? [])],
      } satisfies Flow;
    }));
  }
  if (joined.size === 0) return { flows: [...flows], changed: false };
  const out: Flow[] = [];
  for (const f of flows) {
    const replaced = joined.get(f);
    if (replaced) out.push(...replaced);
    // An onward leg is the proxy's side of traffic now shown from the client's side.
    else if (!consumed.has(f)) out.push(f);
  }
  return { flows: out, changed: true };
}

/** The flows with proxied legs joined (client -> real server, `proxies` naming the proxies passed). Pure. */
export function joinThroughProxies(flows: readonly Flow[], toleranceMs: number): Flow[] {
  let current: Flow[] = [...flows];
  for (let hop = 0; hop < MAX_PROXY_HOPS; hop++) {
    const pass = joinOnce(current, toleranceMs);
    current = pass.flows;
    if (!pass.changed) break;
  }
  return current;
}
