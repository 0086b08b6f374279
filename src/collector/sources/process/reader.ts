import { readFileSync, readlinkSync } from 'node:fs';
import type { ProcessInfo, ProcessKey } from '../../../domain/connection.js';
import { isVanished, ProcfsError } from '../procfs/errors.js';
import { readProcFileHead } from '../procfs/read-file.js';
import {
  CMDLINE_CAP_BYTES, containerIdFromCgroup, DEFAULT_CLK_TCK, parseBootTime, parseCgroup, parseCmdline,
  parseProcStat, parseStatusUid, startedAtMs, type ProcStat,
} from './parse.js';

/**
 * Thin readers of a process's identity files. A process may exit at any moment: every reader returns
 * null for a vanished process instead of throwing, and optional files (exe, cgroup) degrade to null.
 */

/** What turns /proc/<pid>/stat start ticks into epoch ms; read once so every key uses the same boot time. */
export interface ProcContext {
  readonly root: string;
  readonly bootTimeMs: number;
  readonly clkTck: number;
}

/** Reads /proc/stat's btime. Throws ProcfsError when /proc/stat is unreadable or has no btime. */
export function readBootTimeMs(root = '/proc'): number {
  let text: string;
  try {
    text = readFileSync(`${root}/stat`, 'latin1');
  } catch (err) {
    throw new ProcfsError('PROC_UNREADABLE', `cannot read ${root}/stat`, { root, cause: String(err) });
  }
  const seconds = parseBootTime(text);
  if (seconds === null) throw new ProcfsError('BOOT_TIME_UNKNOWN', `no btime line in ${root}/stat`, { root });
  return seconds * 1000;
}

/** A context for `root`, reading its boot time now. */
export function createProcContext(root = '/proc', clkTck = DEFAULT_CLK_TCK): ProcContext {
  return { root, bootTimeMs: readBootTimeMs(root), clkTck };
}

/** /proc/<pid>/stat parsed, or null when the process is gone or the file is garbage. */
export function readProcStat(root: string, pid: number): ProcStat | null {
  let text: string;
  try {
    // stat is one short line; comm is at most 64 bytes even with odd names, so 1 KiB is plenty.
    text = readProcFileHead(`${root}/${pid}/stat`, 1024).toString('utf8');
  } catch {
    return null;
  }
  return parseProcStat(text);
}

/** The (pid, start time) key of a live process, or null if it is gone. */
export function readProcessKey(ctx: ProcContext, pid: number): ProcessKey | null {
  const stat = readProcStat(ctx.root, pid);
  return stat === null ? null : { pid, startedAtMs: startedAtMs(ctx.bootTimeMs, stat.startTimeTicks, ctx.clkTck) };
}

function readOptionalText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function readOptionalLink(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

/**
 * Full identity of a process. Pass `stat` when already read. Returns null when the process exited (or
 * its pid was reused, seen as a different start time) while we read.
 */
export function readProcessInfo(ctx: ProcContext, pid: number, stat?: ProcStat): ProcessInfo | null {
  const first = stat ?? readProcStat(ctx.root, pid);
  if (first === null) return null;
  const base = `${ctx.root}/${pid}`;
  let cmdline = '';
  try {
    cmdline = parseCmdline(readProcFileHead(`${base}/cmdline`, CMDLINE_CAP_BYTES + 1));
  } catch (err) {
    if (isVanished(err)) return null;
  }
  const status = readOptionalText(`${base}/status`);
  const cgroup = parseCgroup(readOptionalText(`${base}/cgroup`) ?? '');
  const exe = readOptionalLink(`${base}/exe`);
  // A process that exited while we read has no stat any more; a reused pid has another start time.
  const again = readProcStat(ctx.root, pid);
  if (again === null || again.startTimeTicks !== first.startTimeTicks) return null;
  return {
    pid,
    startedAtMs: startedAtMs(ctx.bootTimeMs, first.startTimeTicks, ctx.clkTck),
    name: first.comm,
    exe,
    cmdline,
    uid: status === null ? null : parseStatusUid(status),
    cgroup,
    containerId: containerIdFromCgroup(cgroup),
  };
}
