import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { SocketObservation } from '../../../src/domain/connection.js';
import { EbpfSource } from '../../../src/collector/sources/ebpf/ebpf-source.js';
import { testLog } from '../../helpers/env.js';
import { ensureHelper, nodeChild, readUntil, run, runQuiet } from './support.js';

/**
 * Retransmissions, for real: a server in a fresh network namespace behind a veth pair whose INPUT drops
 * 30% of packets at random (netem is not available), and a client here sending to it.
 */

const SERVER = `
import net from 'node:net';
let received = 0;
const server = net.createServer((s) => {
  s.on('data', (d) => { received += d.length; });
  s.on('end', () => { s.end(); console.log(JSON.stringify({ received })); });
});
server.listen(0, process.argv[1], () => console.log(JSON.stringify({ port: server.address().port })));
process.stdin.on('end', () => process.exit(0)).resume();
`;

const tag = String(process.pid % 100000);
const NS = `ctebpf-rt-${tag}`;
const HOST_IF = `ctrh${tag}`;
const NS_IF = `ctrn${tag}`;
const HOST_IP = '10.213.77.1';
const NS_IP = '10.213.77.2';

function cleanup(): void {
  runQuiet('ip', ['netns', 'del', NS]); // takes its veth end, and so the pair, and its iptables rules
  runQuiet('ip', ['link', 'del', HOST_IF]);
}

describe('eBPF retransmit counting', () => {
  let source: EbpfSource;

  before(async () => {
    cleanup();
    run('ip', ['netns', 'add', NS]);
    run('ip', ['link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF]);
    run('ip', ['link', 'set', NS_IF, 'netns', NS]);
    run('ip', ['addr', 'add', `${HOST_IP}/30`, 'dev', HOST_IF]);
    run('ip', ['link', 'set', HOST_IF, 'up']);
    run('ip', ['netns', 'exec', NS, 'ip', 'addr', 'add', `${NS_IP}/30`, 'dev', NS_IF]);
    run('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', NS_IF, 'up']);
    run('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
    run('ip', ['netns', 'exec', NS, 'iptables', '-A', 'INPUT', '-m', 'statistic', '--mode', 'random', '--probability', '0.3', '-j', 'DROP']);
    source = await EbpfSource.start({ helperPath: ensureHelper(), logger: testLog });
  });

  after(async () => {
    await source?.close();
    cleanup();
  });

  it('counts retransmits of a connection through a lossy link, in the right namespaces', async () => {
    const server = nodeChild(SERVER, [NS_IP], ['ip', 'netns', 'exec', NS]);
    try {
      const { port } = await server.nextJson<{ port: number }>(20_000);
      const BYTES = 256 * 1024;
      let localPort = 0;
      await new Promise<void>((resolve, reject) => {
        const s = net.connect({ host: NS_IP, port }, () => {
          localPort = s.localPort ?? 0;
          s.end(Buffer.alloc(BYTES, 5));
        });
        s.on('data', () => undefined);
        s.on('error', reject);
        s.on('close', () => resolve());
      });
      const { received } = await server.nextJson<{ received: number }>(60_000);
      assert.equal(received, BYTES);
      let c: SocketObservation | undefined;
      let s: SocketObservation | undefined;
      await readUntil(source, (all) => {
        c = all.find((o) => o.local.port === localPort && o.remote.port === port && o.closedAtMs !== null);
        s = all.find((o) => o.local.port === port && o.remote.port === localPort && o.closedAtMs !== null);
        return c !== undefined && s !== undefined;
      }, 20_000);
      assert.ok(c && s, 'both ends recorded');
      assert.ok((c.retransmits ?? 0) > 0, `client retransmits: ${String(c.retransmits)}`);
      assert.equal(c.bytesSent, BYTES);
      assert.equal(s.bytesReceived, BYTES);
      assert.equal(c.netns, statSync('/proc/self/ns/net').ino);
      assert.equal(s.netns, statSync(`/run/netns/${NS}`).ino);
      assert.equal(s.process?.pid, server.pid);
      assert.equal(s.local.address, NS_IP);
      assert.equal(c.local.address, HOST_IP);
    } finally {
      await server.finish();
    }
  });
});
