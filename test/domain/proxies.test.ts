import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchFlows, type NatGroup, type ProcessRef, type SideGroup } from '../../src/domain/matching.js';
import { joinThroughProxies } from '../../src/domain/proxies.js';

const T0 = 1_700_000_000_000;
const proc = (pid: number, name: string): ProcessRef => ({ pid, startedAtMs: T0 - 1000, name, containerId: null });

function side(partial: Partial<SideGroup> & Pick<SideGroup, 'netns' | 'role' | 'process' | 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort'>): SideGroup {
  return { hostId: 'h', protocol: 'tcp', bytesSent: 100, bytesReceived: 1000, connections: 1, firstSeenMs: T0, lastSeenMs: T0, ...partial };
}

function redirect(netns: number, orig: [string, number, string, number], reply: [string, number]): NatGroup {
  return {
    hostId: 'h', netns, protocol: 'tcp', kind: 'DNAT', origSrc: orig[0], origSrcPort: orig[1], origDst: orig[2], origDstPort: orig[3],
    replySrc: reply[0], replySrcPort: reply[1], replyDst: orig[0], replyDstPort: orig[1], translations: 1, firstSeenMs: T0, lastSeenMs: T0,
  };
}

const app = proc(10, 'app');
const outProxy = proc(11, 'proxy-out');
const inProxy = proc(20, 'proxy-in');
const app2 = proc(21, 'app2');

/** app (ns 1) -> 10.0.0.2:9090, redirected to its sidecar, which connects there; ns 2 redirects :9090 to its sidecar, which forwards to app2 on loopback. */
function chain(): { groups: SideGroup[]; nat: NatGroup[] } {
  const groups = [
    side({ netns: 1, role: 'client', process: app, localAddress: '10.0.0.1', localPort: 40000, remoteAddress: '10.0.0.2', remotePort: 9090, bytesSent: 300, bytesReceived: 7000 }),
    side({ netns: 1, role: 'server', process: outProxy, localAddress: '127.0.0.1', localPort: 15001, remoteAddress: '10.0.0.1', remotePort: 40000 }),
    side({ netns: 1, role: 'client', process: outProxy, localAddress: '10.0.0.1', localPort: 40001, remoteAddress: '10.0.0.2', remotePort: 9090 }),
    side({ netns: 2, role: 'server', process: inProxy, localAddress: '10.0.0.2', localPort: 15006, remoteAddress: '10.0.0.1', remotePort: 40001 }),
    side({ netns: 2, role: 'client', process: inProxy, localAddress: '127.0.0.1', localPort: 50000, remoteAddress: '127.0.0.1', remotePort: 9090 }),
    side({ netns: 2, role: 'server', process: app2, localAddress: '127.0.0.1', localPort: 9090, remoteAddress: '127.0.0.1', remotePort: 50000 }),
  ];
  const nat = [
    redirect(1, ['10.0.0.1', 40000, '10.0.0.2', 9090], ['127.0.0.1', 15001]),
    redirect(2, ['10.0.0.1', 40001, '10.0.0.2', 9090], ['10.0.0.2', 15006]),
  ];
  return { groups, nat };
}

test('an outbound sidecar then the server\'s inbound sidecar: one flow app -> app2 through both, with the app\'s figures', () => {
  const { groups, nat } = chain();
  const flows = matchFlows(groups, nat, { exact: true, toleranceMs: 0 });
  assert.equal(flows.length, 3, 'three legs without joining');
  const joined = joinThroughProxies(flows, 0);
  assert.equal(joined.length, 1);
  const f = joined[0]!;
  assert.deepEqual([f.client.process, f.server.process, f.server.address, f.server.port], [app, app2, '127.0.0.1', 9090]);
  assert.deepEqual((f.proxies ?? []).map((p) => p.process), [outProxy, inProxy]);
  assert.deepEqual(f.nat, nat);
  assert.deepEqual([f.match, f.bytesSent, f.bytesReceived, f.connections], ['NAT_RESOLVED', 300, 7000, 1]);
});

test('a redirect to a process that does not forward stays a plain edge', () => {
  const { groups, nat } = chain();
  // Without the outbound proxy's onward leg, the app's redirected connection ends at the proxy.
  const flows = matchFlows(groups.filter((g) => !(g.process === outProxy && g.role === 'client')), nat, { exact: true, toleranceMs: 0 });
  const joined = joinThroughProxies(flows, 0);
  const fromApp = joined.filter((f) => f.client.process === app);
  assert.deepEqual(fromApp.map((f) => [f.server.process, f.proxies ?? []]), [[outProxy, []]]);
});

test('a destination rewrite made in another namespace than the accepting socket\'s (a router\'s DNAT) is no proxy redirect', () => {
  const { groups, nat } = chain();
  // The same translation, but held by namespace 9 (a router on this host), not by the proxy's namespace 2.
  const moved = nat.map((n) => (n.netns === 2 ? { ...n, netns: 9 } : n));
  const flows = matchFlows(groups, moved, { exact: true, toleranceMs: 0 });
  const joined = joinThroughProxies(flows, 0);
  assert.ok(joined.some((f) => f.server.process === inProxy), 'the leg to the in-namespace proxy stays');
  assert.ok(joined.every((f) => f.server.process !== app2 || f.client.process === inProxy), 'nothing reaches app2 except the proxy\'s own leg');
});
