/**
 * Pure parsers of the per-process /proc files that identify a process: stat, status, cmdline, cgroup,
 * and of /proc/stat's boot time. They never throw; unparseable input gives null.
 */

/** The fields of /proc/<pid>/stat the collector needs. */
export interface ProcStat {
  readonly pid: number;
  /** comm, up to 15 bytes; may contain spaces and parentheses. */
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
  /** Field 22: start time after boot, in clock ticks. */
  readonly startTimeTicks: number;
}

/** Linux's USER_HZ; the unit of /proc/<pid>/stat times. */
export const DEFAULT_CLK_TCK = 100;

/** Cap on the command line we keep: enough to tell processes apart, bounded for storage. */
export const CMDLINE_CAP_BYTES = 4096;

function toInt(text: string | undefined): number | null {
  if (text === undefined || text.length === 0 || text.length > 20) return null;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 48 || c > 57) && !(i === 0 && c === 45)) return null;
  }
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * Parses /proc/<pid>/stat. comm is delimited by the FIRST '(' and the LAST ')', since a process may name
 * itself "a) b (c"; the numeric fields follow the last ')'.
 */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 1 || close < open) return null;
  const pid = toInt(text.slice(0, open).trim());
  if (pid === null) return null;
  const rest = text.slice(close + 1).trim().split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const state = rest[0];
  const ppid = toInt(rest[1]);
  const startTimeTicks = toInt(rest[19]);
  if (state === undefined || state.length !== 1 || ppid === null || startTimeTicks === null || startTimeTicks < 0) return null;
  return { pid, comm: text.slice(open + 1, close), state, ppid, startTimeTicks };
}

/** The rest of the first line starting with `prefix`, or null. */
function lineAfter(text: string, prefix: string): string | null {
  let at: number;
  if (text.startsWith(prefix)) at = 0;
  else {
    const i = text.indexOf(`\n${prefix}`);
    if (i < 0) return null;
    at = i + 1;
  }
  const end = text.indexOf('\n', at);
  return text.slice(at + prefix.length, end < 0 ? undefined : end);
}

/** Boot time in seconds since the epoch, from /proc/stat's 'btime' line. */
export function parseBootTime(text: string): number | null {
  const value = toInt(lineAfter(text, 'btime ')?.trim());
  return value !== null && value > 0 ? value : null;
}

/** Epoch milliseconds at which a process started: boot time plus its start time in ticks. */
export function startedAtMs(bootTimeMs: number, startTimeTicks: number, clkTck = DEFAULT_CLK_TCK): number {
  return bootTimeMs + Math.floor((startTimeTicks * 1000) / clkTck);
}

/** The real uid from /proc/<pid>/status ('Uid:\treal\teffective\tsaved\tfs'). */
export function parseStatusUid(text: string): number | null {
  const fields = lineAfter(text, 'Uid:')?.trim().split(/\s+/);
  const uid = toInt(fields?.[0]);
  return uid !== null && uid >= 0 ? uid : null;
}

/**
 * /proc/<pid>/cmdline: NUL-separated arguments, joined with spaces, capped at `capBytes` (a partial
 * trailing character from the cut is dropped).
 */
export function parseCmdline(bytes: Uint8Array, capBytes = CMDLINE_CAP_BYTES): string {
  let end = Math.min(bytes.length, capBytes);
  const truncated = bytes.length > capBytes;
  while (end > 0 && bytes[end - 1] === 0) end--;
  const copy = Buffer.from(bytes.subarray(0, end));
  for (let i = 0; i < copy.length; i++) if (copy[i] === 0) copy[i] = 32;
  let text = copy.toString('utf8');
  if (truncated) while (text.endsWith('\uFFFD')) text = text.slice(0, -1);
  return text;
}

/**
 * The cgroup path of a process from /proc/<pid>/cgroup: the unified (v2) '0::/path' line; on a v1-only
 * host, the name=systemd hierarchy, else the first line.
 */
export function parseCgroup(text: string): string | null {
  let systemd: string | null = null;
  let first: string | null = null;
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) continue;
    const path = line.slice(b + 1).trim();
    if (path.length === 0) continue;
    if (line.startsWith('0::')) return path;
    const controllers = line.slice(a + 1, b);
    if (controllers === 'name=systemd' && systemd === null) systemd = path;
    if (first === null) first = path;
  }
  return systemd ?? first;
}

const CONTAINER_PREFIXES = ['docker-', 'cri-containerd-', 'crio-', 'libpod-', 'containerd-'];

function isHex64(text: string): boolean {
  if (text.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * The container id in a cgroup path, for the layouts of docker (/docker/<id>, docker-<id>.scope),
 * containerd and kubernetes (/kubepods/.../<id>, cri-containerd-<id>.scope), cri-o (crio-<id>.scope) and
 * podman (libpod-<id>.scope, possibly with a sub-cgroup below it). The innermost match wins. Monitor
 * processes (conmon: libpod-conmon-<id>) are not inside the container and give null.
 */
export function containerIdFromCgroup(path: string | null): string | null {
  if (path === null) return null;
  const segments = path.split('/');
  for (let i = segments.length - 1; i >= 0; i--) {
    let segment = segments[i] ?? '';
    if (segment.endsWith('.scope')) segment = segment.slice(0, -'.scope'.length);
    if (isHex64(segment)) return segment;
    for (const prefix of CONTAINER_PREFIXES) {
      if (segment.startsWith(prefix) && isHex64(segment.slice(prefix.length))) return segment.slice(prefix.length);
    }
  }
  return null;
}
