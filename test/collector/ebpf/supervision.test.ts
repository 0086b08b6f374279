import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SocketObservation } from '../../../src/domain/connection.js';
import { AutoSource } from '../../../src/collector/sources/ebpf/auto-source.js';
import { EbpfSource, type EbpfSourceOptions } from '../../../src/collector/sources/ebpf/ebpf-source.js';
import { EbpfError } from '../../../src/collector/sources/ebpf/errors.js';
import { createSourceForMode } from '../../../src/collector/sources/ebpf/mode.js';
import { tempDir, testLog } from '../../helpers/env.js';
import { ensureHelper, procfsInitialState, procfsSource } from './support.js';

/**
 * Supervision with real processes: the helper killed once is restarted and re-seeded from /proc; killed
 * twice within a minute, AutoSource is on /proc for good and says so; a helper that cannot load (missing,
 * not root, exits 1) leaves auto mode on /proc with the reason, and ebpf mode failing loudly.
 */

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An idle TCP connection held open on loopback (the kind only the /proc seed knows after a restart). */
async function idleConnection(): Promise<{ clientPort: number; serverPort: number; close(): void }> {
  const server = net.createServer((s) => s.on('error', () => undefined));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const serverPort = (server.address() as net.AddressInfo).port;
  const client = net.connect({ port: serverPort, host: '127.0.0.1' });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  return {
    clientPort: client.localPort ?? 0,
    serverPort,
    close: () => { client.destroy(); server.close(); },
  };
}

async function shortConnection(): Promise<number> {
  const server = net.createServer((s) => { s.on('data', () => undefined); s.on('end', () => s.end()); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve, reject) => {
    const c = net.connect({ port, host: '127.0.0.1' }, () => c.end('hello'));
    c.on('data', () => undefined);
    c.on('error', reject);
    c.on('close', () => resolve());
  });
  server.close();
  return port;
}

const read = (s: { read(signal: AbortSignal): Promise<import('../../../src/collector/source.js').SourceReading> }) =>
  s.read(AbortSignal.timeout(15_000));

const has = (obs: readonly SocketObservation[], local: number, remote: number): boolean =>
  obs.some((o) => o.local.port === local && o.remote.port === remote);

describe('eBPF source supervision', () => {
  let helper: string;
  let scripts: { path: string; remove(): void };

  before(() => {
    helper = ensureHelper();
    scripts = tempDir('ebpf-sup');
  });

  after(() => scripts.remove());

  const options = (): EbpfSourceOptions => ({ helperPath: helper, initialState: procfsInitialState(), logger: testLog });

  it('restarts a helper killed once, re-seeds it from /proc, and keeps recording', async () => {
    const idle = await idleConnection();
    const source = await EbpfSource.start(options());
    const known = await idleConnection(); // opened under the first helper: live in its dumps
    try {
      const first = await read(source);
      assert.equal(first.run.ok, true);
      assert.ok(has(first.observations, idle.clientPort, idle.serverPort), 'idle connection known from the seed');
      assert.ok(first.observations.some((o) => o.source === 'ebpf' && o.local.port === known.clientPort && o.closedAtMs === null));
      const oldPid = source.helperPid;
      assert.ok(oldPid !== null);
      process.kill(oldPid, 'SIGKILL');
      await waitFor(() => source.restarts === 1 || source.dead, 20_000, 'the restart');
      await source.settled();
      assert.equal(source.dead, false);
      assert.notEqual(source.helperPid, oldPid);
      const port = await shortConnection();
      let seen: SocketObservation[] = [];
      let reading = await read(source);
      seen = [...reading.observations];
      assert.match(reading.run.error ?? '', /died \(killed by SIGKILL\) and was restarted/);
      assert.equal(reading.run.ok, true);
      for (let i = 0; i < 20 && !seen.some((o) => o.remote.port === port && o.closedAtMs !== null); i++) {
        reading = await read(source);
        seen.push(...reading.observations);
      }
      assert.ok(seen.some((o) => o.source === 'ebpf' && o.remote.port === port && o.closedAtMs !== null), 'recorded after the restart');
      // The new helper never saw the idle connections open: the /proc seed still reports them, and
      // the one the dead helper knew is not taken for closed because the new one does not list it.
      assert.ok(has(seen, idle.clientPort, idle.serverPort), 'idle connection reported after the restart');
      assert.ok(has(seen, known.clientPort, known.serverPort), 'connection known to the dead helper still reported');
      assert.ok(!seen.some((o) => o.local.port === known.clientPort && o.closedAtMs !== null), 'not reported closed');
    } finally {
      await source.close();
      idle.close();
      known.close();
    }
  });

  it('does not report again, from the new seed, a connection reported closed before a restart (its TIME_WAIT socket)', async () => {
    const source = await EbpfSource.start(options());
    try {
      const port = await shortConnection();
      const before: SocketObservation[] = [];
      for (let i = 0; i < 20 && !before.some((o) => o.remote.port === port && o.closedAtMs !== null); i++) before.push(...(await read(source)).observations);
      const closed = before.find((o) => o.remote.port === port && o.closedAtMs !== null);
      assert.ok(closed, 'the short connection was reported closed');
      const ours = (o: SocketObservation): boolean => (o.local.port === closed.local.port && o.remote.port === port)
        || (o.local.port === port && o.remote.port === closed.local.port);
      const oldPid = source.helperPid as number;
      process.kill(oldPid, 'SIGKILL');
      await waitFor(() => source.restarts === 1 || source.dead, 20_000, 'the restart');
      await source.settled();
      assert.equal(source.dead, false);
      const afterRestart: SocketObservation[] = [];
      for (let i = 0; i < 3; i++) afterRestart.push(...(await read(source)).observations);
      // The client's socket still lingers in TIME_WAIT (60 s), in the /proc scan the new helper was seeded from.
      const scanner = procfsSource();
      const scan = await read(scanner).finally(() => scanner.close());
      assert.ok(scan.observations.some((o) => ours(o) && o.state === 'TIME_WAIT'), 'the TIME_WAIT socket is in /proc');
      assert.deepEqual(afterRestart.filter(ours), [], 'reported again after the restart');
    } finally {
      await source.close();
    }
  });

  it('answers the next read after one was aborted mid-dump, without counting it a death', async () => {
    const source = await EbpfSource.start(options());
    try {
      const aborted = await source.read(AbortSignal.abort(new Error('interval over')));
      assert.equal(aborted.run.ok, false);
      assert.match(aborted.run.error ?? '', /interval over/);
      const port = await shortConnection();
      const seen: SocketObservation[] = [];
      for (let i = 0; i < 20 && !seen.some((o) => o.remote.port === port); i++) {
        const r = await read(source);
        assert.equal(r.run.ok, true, r.run.error ?? '');
        seen.push(...r.observations);
      }
      assert.ok(seen.some((o) => o.remote.port === port && o.closedAtMs !== null));
      assert.equal(source.restarts, 0);
      assert.equal(source.dead, false);
    } finally {
      await source.close();
    }
  });

  it('falls back to /proc for good when the helper dies twice within a minute, without a gap', async () => {
    const idle = await idleConnection();
    const auto = await AutoSource.start({ createEbpf: () => EbpfSource.start(options()), fallback: procfsSource(), logger: testLog });
    try {
      const first = await read(auto);
      assert.equal(first.run.name, 'ebpf');
      assert.equal(auto.name, 'ebpf');
      const ebpf = auto.ebpfSource as EbpfSource;
      const pid1 = ebpf.helperPid as number;
      process.kill(pid1, 'SIGKILL');
      await waitFor(() => ebpf.restarts === 1, 20_000, 'the first restart');
      await ebpf.settled();
      const pid2 = ebpf.helperPid as number;
      assert.notEqual(pid2, pid1);
      process.kill(pid2, 'SIGKILL');
      await waitFor(() => ebpf.dead, 20_000, 'the second death');
      const switched = await read(auto);
      assert.equal(switched.run.name, 'procfs');
      assert.equal(auto.name, 'procfs');
      assert.match(switched.run.error ?? '', /ebpf helper died twice within 60 s \(killed by SIGKILL\); using procfs/);
      // The read that switched already carries the fallback's view: no interval without data.
      assert.ok(has(switched.observations, idle.clientPort, idle.serverPort));
      const later = await read(auto);
      assert.equal(later.run.name, 'procfs');
      assert.match(later.run.error ?? '', /using procfs/);
      assert.ok(has(later.observations, idle.clientPort, idle.serverPort));
      assert.equal(ebpf.helperPid, null);
    } finally {
      await auto.close();
      idle.close();
    }
  });

  const brokenHelpers: { name: string; make: () => string; why: RegExp; code: string }[] = [
    { name: 'a missing binary', make: () => join(scripts.path, 'does-not-exist'), why: /not found or not executable/, code: 'EBPF_HELPER_MISSING' },
    {
      name: 'a helper that exits 1',
      make: () => {
        const p = join(scripts.path, 'exits-1');
        writeFileSync(p, '#!/bin/sh\necho "conntrail-bpf: cannot load the BPF programs: Operation not permitted" >&2\nexit 1\n');
        chmodSync(p, 0o755);
        return p;
      },
      why: /exit code 1: conntrail-bpf: cannot load the BPF programs: Operation not permitted/,
      code: 'EBPF_LOAD_FAILED',
    },
    {
      name: 'the real helper run without root',
      make: () => {
        const p = join(scripts.path, 'as-nobody');
        writeFileSync(p, `#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups '${helper}' "$@"\n`);
        chmodSync(p, 0o755);
        return p;
      },
      why: /exit code 65: conntrail-bpf: must run as root/,
      code: 'EBPF_LOAD_FAILED',
    },
  ];

  for (const broken of brokenHelpers) {
    it(`with ${broken.name}: auto mode runs /proc and says why, ebpf mode fails loudly`, async () => {
      const path = broken.make();
      const idle = await idleConnection();
      const factories = { ebpf: () => EbpfSource.start({ ...options(), helperPath: path }), procfs: procfsSource, logger: testLog };
      try {
        const auto = await createSourceForMode('auto', factories);
        try {
          assert.equal(auto.name, 'procfs');
          const r = await read(auto);
          assert.equal(r.run.name, 'procfs');
          assert.equal(r.run.ok, true);
          assert.match(r.run.error ?? '', /^ebpf unavailable \(/);
          assert.match(r.run.error ?? '', broken.why);
          assert.match(r.run.error ?? '', /; using procfs$/);
          assert.ok(has(r.observations, idle.clientPort, idle.serverPort));
        } finally {
          await auto.close();
        }
        await assert.rejects(createSourceForMode('ebpf', factories),
          (err: unknown) => err instanceof EbpfError && err.code === broken.code && broken.why.test(err.message));
      } finally {
        idle.close();
      }
    });
  }
});
