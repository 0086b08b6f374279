import { readFile } from 'node:fs/promises';
import { conntrackCommand, missingExecutable, type ConntrackCommandOptions } from './command.js';
import { parseConntrackText } from './parse.js';
import { runCommand } from './run.js';
import type { ConntrackParse, Flow } from './types.js';

/**
 * Reading the whole conntrack table once: `conntrack -L -o extended,id` per family, or, when the tool is
 * not installed, /proc/net/nf_conntrack (which has no ids). When neither works the result says
 * "unavailable" with the reason, so the caller can record "no data" rather than "no traffic".
 */

export type ConntrackFamily = 'ipv4' | 'ipv6';

export interface ListConntrackOptions extends ConntrackCommandOptions {
  readonly families?: readonly ConntrackFamily[];
  /** procfs root for the fallback. */
  readonly root?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export type ConntrackListing =
  | {
      readonly available: true;
      readonly via: 'conntrack' | 'proc';
      readonly flows: Flow[];
      readonly malformed: number;
      readonly otherProtocol: number;
      readonly durationMs: number;
    }
  | { readonly available: false; readonly reason: string };

function merge(parts: readonly ConntrackParse[]): Pick<ConntrackParse, 'flows' | 'malformed' | 'otherProtocol'> {
  return {
    flows: parts.flatMap((p) => p.flows),
    malformed: parts.reduce((s, p) => s + p.malformed, 0),
    otherProtocol: parts.reduce((s, p) => s + p.otherProtocol, 0),
  };
}

/** The /proc file that shows the conntrack table of a namespace given as <root>/<pid>/ns/net, or of our own. */
function procFileFor(root: string, netnsPath: string | undefined): string | null {
  if (netnsPath === undefined) return `${root}/self/net/nf_conntrack`;
  const prefix = `${root}/`;
  if (netnsPath.startsWith(prefix) && netnsPath.endsWith('/ns/net')) {
    const pid = netnsPath.slice(prefix.length, -'/ns/net'.length);
    if (/^\d+$/.test(pid)) return `${root}/${pid}/net/nf_conntrack`;
  }
  return null;
}

/** Reads /proc/net/nf_conntrack (of the namespace, when it is given as /proc/<pid>/ns/net, or via nsenter). */
export async function readProcConntrack(options: ListConntrackOptions = {}): Promise<ConntrackListing> {
  const started = performance.now();
  const root = options.root ?? '/proc';
  const file = procFileFor(root, options.netnsPath);
  let text: string;
  if (file !== null) {
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as { code?: string }).code ?? String(err);
      return { available: false, reason: `${file} unreadable (${code}): nf_conntrack not loaded or no permission` };
    }
  } else {
    // A named namespace (/var/run/netns/NAME) has no /proc path of its own: read the file from inside it.
    const run = await runCommand(
      { file: options.nsenterBinary ?? 'nsenter', args: [`--net=${options.netnsPath}`, '--', 'cat', '/proc/self/net/nf_conntrack'] },
      { timeoutMs: options.timeoutMs ?? 30_000, ...(options.signal ? { signal: options.signal } : {}) },
    );
    if (run.error !== null || run.code !== 0) {
      return { available: false, reason: `nf_conntrack of ${options.netnsPath} unreadable: ${run.error ?? run.stderr.trim()}` };
    }
    text = run.stdout;
  }
  return { available: true, via: 'proc', ...merge([parseConntrackText(text)]), durationMs: performance.now() - started };
}

/** Lists the conntrack table (all tracked TCP/UDP flows, translated or not). Never rejects. */
export async function listConntrack(options: ListConntrackOptions = {}): Promise<ConntrackListing> {
  const started = performance.now();
  const missing = missingExecutable(options);
  if (missing !== null) {
    const fallback = await readProcConntrack(options);
    if (fallback.available) return fallback;
    return { available: false, reason: `${missing}; ${fallback.reason}` };
  }
  const parts: ConntrackParse[] = [];
  for (const family of options.families ?? ['ipv4', 'ipv6']) {
    const run = await runCommand(conntrackCommand(['-L', '-o', 'extended,id', '-f', family], options), {
      timeoutMs: options.timeoutMs ?? 30_000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (run.error !== null || run.code !== 0) {
      return { available: false, reason: `conntrack -L -f ${family} failed: ${run.error ?? `exit ${run.code ?? run.signal}`} ${run.stderr.trim()}`.trim() };
    }
    parts.push(parseConntrackText(run.stdout));
  }
  return { available: true, via: 'conntrack', ...merge(parts), durationMs: performance.now() - started };
}
