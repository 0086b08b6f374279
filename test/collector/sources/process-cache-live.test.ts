import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { ProcessCache } from '../../../src/collector/sources/process/cache.js';
import { createProcContext } from '../../../src/collector/sources/process/reader.js';

test('process cache: a real process that idles through sweeps keeps its full identity after it exits, then is dropped', async () => {
  const marker = `idle-then-exit-${process.pid}`;
  const child = spawn(process.execPath, ['-e', 'setInterval(() => undefined, 1000)', marker], { stdio: 'ignore' });
  try {
    assert.ok(child.pid);
    const cache = new ProcessCache(createProcContext());
    const seen = cache.lookupPid(child.pid);
    assert.ok(seen, 'the running child is found');
    assert.ok(seen.cmdline.includes(marker), seen.cmdline);
    // Idle intervals: nothing looks the process up, sweeps run.
    cache.sweep();
    cache.sweep();
    cache.sweep();
    // Its last request is reported after it exited: the identity still comes from the cache.
    child.kill('SIGKILL');
    await once(child, 'exit');
    // Reaped: /proc/<pid> is gone now.
    const after = cache.lookupKey({ pid: child.pid, startedAtMs: seen.startedAtMs });
    assert.equal(after?.cmdline, seen.cmdline);
    assert.equal(after?.exe, seen.exe);
    cache.sweep(); // used since the last sweep
    assert.equal(cache.sweep(), 1); // unused and gone: dropped
    assert.equal(cache.lookupKey({ pid: child.pid, startedAtMs: seen.startedAtMs }), null);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
