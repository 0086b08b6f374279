import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ListeningSource } from '../../../src/collector/sources/listening-source.js';

test('the listening source names the process that listens, and forgets a socket that stopped listening', async () => {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as net.AddressInfo).port;
  const source = new ListeningSource({ netns: 'self' });
  try {
    const first = await source.read(new AbortController().signal);
    const mine = first.listening.filter((l) => l.port === port);
    assert.equal(mine.length, 1);
    assert.equal(mine[0]?.address, '127.0.0.1');
    assert.equal(mine[0]?.protocol, 'tcp');
    assert.equal(mine[0]?.process?.pid, process.pid);
    assert.ok(first.processes.some((p) => p.pid === process.pid));
    assert.equal(first.observations.length, 0);
    assert.equal(first.run.ok, true);
    // Known owners are reused: the second read finds the same owner without walking fds again.
    const second = await source.read(new AbortController().signal);
    assert.equal(second.listening.find((l) => l.port === port)?.process?.pid, process.pid);
    await new Promise((r) => server.close(r));
    const third = await source.read(new AbortController().signal);
    assert.equal(third.listening.filter((l) => l.port === port).length, 0);
  } finally {
    server.close();
    await source.close();
  }
});
