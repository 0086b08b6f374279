import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { isLoopbackHost } from '../api/loopback.js';

/**
 * Command-line parsing, apart from the work: argv in, a typed command out (or a UsageError that says
 * what is wrong). Environment variables fill in what flags leave out.
 */
export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type SourceMode = 'auto' | 'ebpf' | 'procfs';
export type NetnsMode = 'all' | 'self';

export interface StoreArgs {
  /** Server mode: the owner's login (migrations). */
  readonly databaseUrl: string | undefined;
  /** Server mode: the collector's own login (conntrail_writer). */
  readonly writerUrl: string | undefined;
  /** Server mode: the API's own login (conntrail_reader). */
  readonly readerUrl: string | undefined;
  readonly dataDir: string;
  readonly sqlPort: number;
  readonly sqlListen: string;
  readonly sqlPassword: string | null;
}

export interface CollectorArgs {
  readonly hostId: string;
  readonly intervalMs: number;
  readonly netns: NetnsMode;
  readonly source: SourceMode;
  readonly spoolDir: string;
  readonly metricsPort: number | null;
  readonly metricsListen: string;
}

export interface ApiArgs {
  readonly port: number;
  readonly listen: string;
  readonly token: string | null;
}

export type Command =
  | { readonly name: 'up'; readonly store: StoreArgs; readonly collector: CollectorArgs; readonly api: ApiArgs }
  | { readonly name: 'collect'; readonly store: StoreArgs; readonly collector: CollectorArgs }
  | { readonly name: 'serve'; readonly store: StoreArgs; readonly api: ApiArgs }
  | { readonly name: 'migrate'; readonly store: StoreArgs }
  | { readonly name: 'sql'; readonly store: StoreArgs }
  | { readonly name: 'query'; readonly query: string; readonly variables: Record<string, unknown>; readonly url: string; readonly token: string | null }
  | { readonly name: 'help' };

export const USAGE = `conntrail — who talked to whom on our network, when, through which NAT, and how much

usage: conntrail <command> [options]
  up        embedded store (or --database-url) + collector for this host + API (default command of npm start)
  collect   the collector only: writes snapshots to --database-url or the embedded store
  serve     the GraphQL API only
  migrate   apply database migrations
  sql       open the SQL endpoint (PostgreSQL wire protocol) over an embedded data dir, for psql and BI tools
  query     run a GraphQL query against a running API and print JSON: conntrail query '<graphql>' --var k=v

store:     --data-dir DIR (default ./data) | a TimescaleDB server, one login per role:
           --database-url URL (or DATABASE_URL; the owner: migrations) --writer-url URL (or CONNTRAIL_WRITER_URL; up, collect)
           --reader-url URL (or CONNTRAIL_READER_URL; up, serve); collect alone also takes its writer login from --database-url
           --sql-port N (default 5433) --sql-listen ADDR (default 127.0.0.1) --sql-password P (or CONNTRAIL_SQL_PASSWORD)
collector: --host-id ID (default hostname) --interval SECONDS (default 15) --netns all|self --source auto|ebpf|procfs
           --spool-dir DIR (default <data-dir>/spool) --metrics-port N (Prometheus /metrics; default 9464 with up/collect, 0 = off)
api:       --port N (default 4000) --listen ADDR (default 127.0.0.1) ; API_TOKEN requires a bearer token
query:     --url URL (default http://127.0.0.1:4000/graphql) --var name=value (repeatable; JSON values allowed)`;

const OPTIONS = {
  'database-url': { type: 'string' },
  'writer-url': { type: 'string' },
  'reader-url': { type: 'string' },
  'data-dir': { type: 'string' },
  'sql-port': { type: 'string' },
  'sql-listen': { type: 'string' },
  'sql-password': { type: 'string' },
  'host-id': { type: 'string' },
  interval: { type: 'string' },
  netns: { type: 'string' },
  source: { type: 'string' },
  'spool-dir': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-listen': { type: 'string' },
  port: { type: 'string' },
  listen: { type: 'string' },
  url: { type: 'string' },
  var: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function int(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got "${value}")`);
  return n;
}

function oneOf<T extends string>(value: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')} (got "${value}")`);
  return value as T;
}

function storeArgs(v: Values, env: NodeJS.ProcessEnv): StoreArgs {
  const dataDir = v['data-dir'] ?? env.CONNTRAIL_DATA_DIR ?? './data';
  return {
    databaseUrl: v['database-url'] ?? (env.DATABASE_URL || undefined),
    writerUrl: v['writer-url'] ?? (env.CONNTRAIL_WRITER_URL || undefined),
    readerUrl: v['reader-url'] ?? (env.CONNTRAIL_READER_URL || undefined),
    dataDir,
    sqlPort: int(v['sql-port'], 'sql-port', 5433, 0, 65535),
    sqlListen: v['sql-listen'] ?? '127.0.0.1',
    sqlPassword: v['sql-password'] ?? (env.CONNTRAIL_SQL_PASSWORD || null),
  };
}

function collectorArgs(v: Values, store: StoreArgs): CollectorArgs {
  const seconds = v.interval === undefined ? 15 : Number(v.interval);
  if (!Number.isFinite(seconds) || seconds < 0.05 || seconds > 3600) throw new UsageError(`--interval must be seconds from 0.05 to 3600 (got "${v.interval}")`);
  const hostId = v['host-id'] ?? hostname();
  if (hostId.length === 0 || hostId.length > 253) throw new UsageError('--host-id must be 1 to 253 characters');
  const metricsPort = int(v['metrics-port'], 'metrics-port', 9464, 0, 65535);
  return {
    hostId,
    intervalMs: Math.round(seconds * 1000),
    netns: oneOf(v.netns, 'netns', ['all', 'self'] as const, 'all'),
    source: oneOf(v.source, 'source', ['auto', 'ebpf', 'procfs'] as const, 'auto'),
    spoolDir: v['spool-dir'] ?? `${store.dataDir}/spool`,
    metricsPort: metricsPort === 0 ? null : metricsPort,
    metricsListen: v['metrics-listen'] ?? '127.0.0.1',
  };
}

function apiArgs(v: Values, env: NodeJS.ProcessEnv): ApiArgs {
  const listen = v.listen ?? '127.0.0.1';
  const token = env.API_TOKEN || null;
  // Refused here, before anything is opened: an API off loopback without a token would serve anyone.
  if (!isLoopbackHost(listen) && token === null) {
    throw new UsageError(`TOKEN_REQUIRED: --listen ${listen} is off loopback; set API_TOKEN so that requests must carry a bearer token`);
  }
  return { port: int(v.port, 'port', 4000, 0, 65535), listen, token };
}

function variables(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--var takes name=value (got "${pair}")`);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw; // plain strings need no quotes
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}

export function parseCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values: v, positionals } = parsed;
  const [name = 'help', ...rest] = positionals;
  if (v.help || name === 'help') return { name: 'help' };
  if (name !== 'query' && rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const store = storeArgs(v, env);
  switch (name) {
    case 'up': return { name, store, collector: collectorArgs(v, store), api: apiArgs(v, env) };
    // A collector only writes: the one URL it is given, as --writer-url or --database-url, is its login.
    case 'collect': return { name, store: { ...store, writerUrl: store.writerUrl ?? store.databaseUrl, databaseUrl: store.writerUrl ? store.databaseUrl : undefined }, collector: collectorArgs(v, store) };
    case 'serve': return { name, store, api: apiArgs(v, env) };
    case 'migrate': return { name, store };
    case 'sql': return { name, store };
    case 'query': {
      if (rest.length !== 1 || !rest[0]) throw new UsageError("query takes one GraphQL document: conntrail query '{ hosts { id } }'");
      return { name, query: rest[0], variables: variables(v.var ?? []), url: v.url ?? 'http://127.0.0.1:4000/graphql', token: env.API_TOKEN || null };
    }
    default:
      throw new UsageError(`unknown command "${name}" (try: conntrail help)`);
  }
}

/** True when the store is a TimescaleDB server (some login URL given) rather than the embedded engine. */
export function isServerMode(store: StoreArgs): boolean {
  return Boolean(store.databaseUrl || store.writerUrl || store.readerUrl);
}
