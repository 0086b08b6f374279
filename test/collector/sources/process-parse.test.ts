import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  containerIdFromCgroup, parseBootTime, parseCgroup, parseCmdline, parseProcStat, parseStatusUid, startedAtMs,
} from '../../../src/collector/sources/process/parse.js';
import { fixtureText } from './fixtures.js';

const ID = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

test('stat: comm with spaces and parentheses is cut at the LAST ")"; starttime is field 22', () => {
  const stat = parseProcStat(fixtureText('process', 'stat-weird-comm.txt'));
  assert.deepEqual(stat, { pid: 4242, comm: 'tmux: server) (x', state: 'S', ppid: 1, startTimeTicks: 987654 });
  const real = parseProcStat(fixtureText('process', 'stat-real.txt'));
  assert.equal(real?.comm, 'node');
  assert.equal(real?.startTimeTicks, 4829);
  for (const bad of ['', 'garbage', '12 (x', '12 (x) S', 'x (y) S 1 2 3', '12 (x) S 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 notanumber 0']) {
    assert.equal(parseProcStat(bad), null, bad);
  }
});

test('start time: btime * 1000 + ticks * 1000 / CLK_TCK', () => {
  assert.equal(parseBootTime(fixtureText('process', 'proc-stat.txt')), 1700000000);
  assert.equal(parseBootTime('cpu 1 2 3\nintr 5\n'), null);
  assert.equal(startedAtMs(1700000000 * 1000, 12345), 1700000000000 + 123450);
  assert.equal(startedAtMs(1700000000 * 1000, 12345, 250), 1700000000000 + 49380);
});

test('status: the real uid', () => {
  assert.equal(parseStatusUid(fixtureText('process', 'status.txt')), 1001);
  assert.equal(parseStatusUid('Name:\tx\n'), null);
});

test('cmdline: NUL-separated, space-joined, capped at 4 KiB', () => {
  assert.equal(parseCmdline(Buffer.from('node\0server.js\0--port\x008080\0')), 'node server.js --port 8080');
  assert.equal(parseCmdline(Buffer.alloc(0)), '');
  const long = Buffer.from(`${'é'.repeat(3000)}\0`, 'utf8'); // 6001 bytes
  const capped = parseCmdline(long);
  assert.ok(Buffer.byteLength(capped) <= 4096);
  assert.equal(capped, 'é'.repeat(2048));
});

test('cgroup: the v2 line, else name=systemd, else the first', () => {
  assert.equal(parseCgroup(fixtureText('process', 'cgroup-v2-docker.txt')), `/system.slice/docker-${ID}.scope`);
  assert.equal(parseCgroup(fixtureText('process', 'cgroup-v1.txt')), `/docker/${ID}`);
  assert.equal(parseCgroup(''), null);
});

test('container id from docker, containerd/kubernetes, cri-o and podman layouts', () => {
  const cases: Array<[string, string | null]> = [
    [`/docker/${ID}`, ID],
    [`/system.slice/docker-${ID}.scope`, ID],
    [`/kubepods/besteffort/pod0f6c1e4e-1c2b-4b9a-9a43-3c1f0e6f7f6e/${ID}`, ID],
    [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f6c1e4e.slice/cri-containerd-${ID}.scope`, ID],
    [`/kubepods.slice/kubepods-pod1.slice/crio-${ID}.scope`, ID],
    [`/machine.slice/libpod-${ID}.scope/container`, ID],
    [`/machine.slice/libpod-conmon-${ID}.scope`, null],
    ['/user.slice/user-1000.slice/session-2.scope', null],
    [`/docker/${ID.slice(1)}`, null],
    ['/', null],
  ];
  for (const [path, expected] of cases) assert.equal(containerIdFromCgroup(path), expected, path);
  assert.equal(containerIdFromCgroup(null), null);
});
