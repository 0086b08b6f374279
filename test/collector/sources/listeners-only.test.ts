import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isListeningEntry } from '../../../src/collector/sources/procfs/net-table.js';
import { readNetTables } from '../../../src/collector/sources/procfs/net-tables-reader.js';
import { createNetns, spawnNode } from './helpers.js';

/**
 * Reading only the listeners of the live /proc: the kernel lists a TCP table's listening sockets before
 * its connections, so the read stops at the first connection and still finds every listener. In a
 * namespace of its own, so the tables hold exactly what the child made.
 */
test('live /proc: listeners only finds every listener and no connection', async () => {
  const ns = createNetns('ctlst');
  const child = spawnNode(`
    const net = require('node:net');
    const held = [];
    const a = net.createServer((s) => held.push(s)).listen(7101, '127.0.0.1', () => {
      net.createServer().listen(7102, '::1', () => {
        let open = 0;
        for (let i = 0; i < 300; i++) {
          const c = net.connect(7101, '127.0.0.1', () => { held.push(c); if (++open === 300) process.stdout.write(JSON.stringify({ pid: process.pid }) + '\\n'); });
        }
      });
    });
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
  `, ['ip', 'netns', 'exec', ns.name]);
  try {
    const { pid } = (await child.next()) as { pid: number };
    const full = readNetTables({ netns: { pid } });
    const head = readNetTables({ netns: { pid }, listenersOnly: true });
    assert.deepEqual(head.errors, []);
    const entries = (r: typeof full) => r.namespaces.flatMap((n) => n.entries);
    assert.equal(entries(full).filter((e) => e.protocol === 'tcp' && !isListeningEntry(e)).length, 600, 'both ends of 300 connections');
    assert.deepEqual(entries(head).filter((e) => e.protocol === 'tcp').map((e) => [e.state, e.local.address, e.local.port]).sort(),
      [['LISTEN', '127.0.0.1', 7101], ['LISTEN', '::1', 7102]]);
  } finally {
    await child.kill();
    ns.remove();
  }
});
