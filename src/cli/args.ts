import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { isLoopback } from '../domain/address.js';
import { TimeInputError, parseDuration } from '../domain/time-input.js';
import { ConntrailError } from '../domain/errors.js';
import { COMMAND_NAMES, commandHelp, generalHelp, nearest, optionsOf, type CommandName, type OptionDoc, OPTION_DOCS } from './help.js';
import { DEFAULTS, DEFAULT_API_URL, envValue } from './settings.js';

/**
 * Command-line parsing, apart from the work: argv in, a typed command out (or a UsageError that says
 * what is wrong). Environment variables fill in what flags leave out.
 */
export class UsageError extends ConntrailError<'USAGE'> {
  constructor(message: string) {
    super('USAGE', message);
  }
}

export type SourceMode = 'auto' | 'ebpf' | 'procfs';
export type OutputFormat = 'json' | 'table';
export type NetnsMode = 'all' | 'self';
export type DnsNamesMode = 'off' | 'snoop' | 'reverse' | 'both';

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
  /** Per-login secrets from CONNTRAIL_{READER,WRITER,OWNER}_PASSWORD; missing ones live in the data dir. */
  readonly sqlSecrets: { readonly reader?: string; readonly writer?: string; readonly owner?: string };
  readonly sqlTrustLoopback: boolean;
  /** A real certificate for the SQL endpoint's TLS (default: self-signed, made on first start). */
  readonly sqlTls: { readonly certFile: string; readonly keyFile: string } | undefined;
}

export interface CollectorArgs {
  readonly hostId: string;
  readonly intervalMs: number;
  readonly netns: NetnsMode;
  readonly source: SourceMode;
  readonly spoolDir: string;
  readonly metricsPort: number | null;
  readonly metricsListen: string;
  /** DNS names of addresses: snooped answers (eBPF), reverse lookups, both or none. The CLI's default is
   * both; a caller building these arguments itself gets none unless it asks. */
  readonly dns?: DnsNamesMode;
  /** The server reverse lookups ask ("ip" or "ip:port"); null: the system's resolv.conf. */
  readonly dnsServer?: string | null;
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
  | { readonly name: 'query'; readonly query: string; readonly variables: Record<string, unknown>; readonly url: string; readonly token: string | null; readonly output: OutputFormat }
  | { readonly name: 'help'; readonly text: string }
  | { readonly name: 'version' };

/** `conntrail help`; every command's own help is `conntrail <command> --help` (help.ts). */
export const USAGE = generalHelp();

const OPTIONS = {
  'database-url': { type: 'string' },
  'writer-url': { type: 'string' },
  'reader-url': { type: 'string' },
  'data-dir': { type: 'string' },
  'sql-port': { type: 'string' },
  'sql-listen': { type: 'string' },
  'sql-trust-loopback': { type: 'boolean' },
  'sql-tls-cert': { type: 'string' },
  'sql-tls-key': { type: 'string' },
  'host-id': { type: 'string' },
  interval: { type: 'string' },
  netns: { type: 'string' },
  source: { type: 'string' },
  dns: { type: 'string' },
  'dns-server': { type: 'string' },
  'spool-dir': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-listen': { type: 'string' },
  port: { type: 'string' },
  listen: { type: 'string' },
  url: { type: 'string' },
  var: { type: 'string', multiple: true },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

// Every option has its help text (a new flag without one fails to compile here).
const DOCUMENTED: Record<keyof typeof OPTIONS, OptionDoc> = OPTION_DOCS;

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

function sqlTls(v: Values): StoreArgs['sqlTls'] {
  const certFile = v['sql-tls-cert'];
  const keyFile = v['sql-tls-key'];
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (!certFile || !keyFile) throw new UsageError('--sql-tls-cert and --sql-tls-key go together');
  return { certFile, keyFile };
}

function storeArgs(v: Values, env: NodeJS.ProcessEnv): StoreArgs {
  const dataDir = v['data-dir'] ?? envValue(env, 'CONNTRAIL_DATA_DIR') ?? DEFAULTS.dataDir;
  return {
    databaseUrl: v['database-url'] ?? (env.DATABASE_URL || undefined),
    writerUrl: v['writer-url'] ?? envValue(env, 'CONNTRAIL_WRITER_URL'),
    readerUrl: v['reader-url'] ?? envValue(env, 'CONNTRAIL_READER_URL'),
    dataDir,
    sqlPort: int(v['sql-port'], 'sql-port', DEFAULTS.sqlPort, 0, 65535),
    sqlListen: v['sql-listen'] ?? DEFAULTS.sqlListen,
    sqlSecrets: {
      ...(envValue(env, 'CONNTRAIL_READER_PASSWORD') ? { reader: envValue(env, 'CONNTRAIL_READER_PASSWORD')! } : {}),
      ...(envValue(env, 'CONNTRAIL_WRITER_PASSWORD') ? { writer: envValue(env, 'CONNTRAIL_WRITER_PASSWORD')! } : {}),
      ...(envValue(env, 'CONNTRAIL_OWNER_PASSWORD') ? { owner: envValue(env, 'CONNTRAIL_OWNER_PASSWORD')! } : {}),
    },
    sqlTrustLoopback: v['sql-trust-loopback'] === true,
    sqlTls: sqlTls(v),
  };
}

function collectorArgs(v: Values, store: StoreArgs): CollectorArgs {
  const intervalMs = v.interval === undefined ? DEFAULTS.intervalMs : duration(v.interval, 'interval');
  if (intervalMs < DEFAULTS.minIntervalMs || intervalMs > DEFAULTS.maxIntervalMs) {
    throw new UsageError(`--interval must be from ${DEFAULTS.minIntervalMs}ms to ${DEFAULTS.maxIntervalMs / 3_600_000}h (got "${v.interval}")`);
  }
  const hostId = v['host-id'] ?? hostname();
  if (hostId.length === 0 || hostId.length > 253) throw new UsageError('--host-id must be 1 to 253 characters');
  const metricsPort = int(v['metrics-port'], 'metrics-port', DEFAULTS.metricsPort, 0, 65535);
  return {
    hostId,
    intervalMs,
    netns: oneOf(v.netns, 'netns', ['all', 'self'] as const, DEFAULTS.netns),
    source: oneOf(v.source, 'source', ['auto', 'ebpf', 'procfs'] as const, DEFAULTS.source),
    spoolDir: v['spool-dir'] ?? `${store.dataDir}/spool`,
    metricsPort: metricsPort === 0 ? null : metricsPort,
    metricsListen: v['metrics-listen'] ?? DEFAULTS.metricsListen,
    dns: oneOf(v.dns, 'dns', ['off', 'snoop', 'reverse', 'both'] as const, DEFAULTS.dns),
    dnsServer: dnsServer(v['dns-server']),
  };
}

/** "ip" or "ip:port" (IPv6 with a port as "[ip]:port"), as node:dns setServers takes it. */
function dnsServer(value: string | undefined): string | null {
  if (value === undefined) return null;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)|([0-9a-fA-F:]+))(?::(\d{1,5}))?$/.exec(value);
  const host = m?.[1] ?? m?.[2] ?? m?.[3];
  const port = m?.[4] === undefined ? null : Number(m[4]);
  if (m === null || host === undefined || isIP(host) === 0 || (m[3] !== undefined && m[4] !== undefined) || (port !== null && (port < 1 || port > 65535))) {
    throw new UsageError(`--dns-server must be an IP address, ip:port or [ipv6]:port (got "${value}")`);
  }
  return value;
}

/** A bearer token short enough to guess is no protection. */
const MIN_TOKEN_LENGTH = 16;

function apiArgs(v: Values, env: NodeJS.ProcessEnv): ApiArgs {
  const listen = v.listen ?? envValue(env, 'API_HOST') ?? DEFAULTS.apiListen;
  const token = envValue(env, 'API_TOKEN') ?? null;
  if (token !== null && token.length < MIN_TOKEN_LENGTH) throw new UsageError(`API_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters`);
  // Refused here, before anything is opened: an API off loopback without a token would serve anyone.
  if (!isLoopback(listen) && token === null) {
    throw new UsageError(`TOKEN_REQUIRED: --listen ${listen} is off loopback; set API_TOKEN so that requests must carry a bearer token`);
  }
  const port = v.port === undefined ? int(envValue(env, 'API_PORT'), 'port (API_PORT)', DEFAULTS.apiPort, 0, 65535) : int(v.port, 'port', DEFAULTS.apiPort, 0, 65535);
  return { port, listen, token };
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

function duration(value: string, name: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    if (err instanceof TimeInputError) throw new UsageError(`--${name}: ${err.message}`);
    throw err;
  }
}

function isCommandName(name: string): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name);
}

/** node:util's refusal of an unknown option, said with the option it most likely meant. */
function unknownOption(err: Error & { code?: string }, command: string | undefined): UsageError {
  if (err.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return new UsageError(err.message);
  const given = /'(-[^']*)'/.exec(err.message)?.[1] ?? '';
  const bare = given.replace(/^-+/, '').replace(/=.*$/, '');
  const candidates = command !== undefined && isCommandName(command) ? optionsOf(command) : Object.keys(DOCUMENTED);
  const near = nearest(bare, candidates) ?? nearest(bare, Object.keys(DOCUMENTED));
  const where = command !== undefined && isCommandName(command) ? `conntrail ${command} --help` : 'conntrail help';
  return new UsageError(`unknown option ${given}${near ? ` (did you mean --${near}?)` : ''}; see ${where}`);
}

export function parseCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw unknownOption(err as Error, argv.find((a) => !a.startsWith('-')));
  }
  const { values: v, positionals } = parsed;
  const [name = 'help', ...rest] = positionals;
  if (v.version) return { name: 'version' };
  if (name === 'help') {
    const topic = rest[0];
    if (topic === undefined) return { name: 'help', text: USAGE };
    if (!isCommandName(topic)) throw new UsageError(`unknown command "${topic}" (commands: ${COMMAND_NAMES.join(', ')})`);
    return { name: 'help', text: commandHelp(topic) };
  }
  if (!isCommandName(name)) {
    const near = nearest(name, COMMAND_NAMES);
    throw new UsageError(`unknown command "${name}"${near ? ` (did you mean ${near}?)` : ''}; commands: ${COMMAND_NAMES.join(', ')}`);
  }
  if (v.help) return { name: 'help', text: commandHelp(name) };
  // An option the command does not use is refused rather than silently ignored (`serve --interval 5s`).
  const accepted = new Set<string>(optionsOf(name));
  const stray = Object.keys(v).find((option) => !accepted.has(option));
  if (stray !== undefined) throw new UsageError(`--${stray} does not apply to \`conntrail ${name}\`; see conntrail ${name} --help`);
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
      return {
        name, query: rest[0], variables: variables(v.var ?? []), url: v.url ?? envValue(env, 'CONNTRAIL_URL') ?? DEFAULT_API_URL,
        token: envValue(env, 'API_TOKEN') ?? null, output: oneOf(v.output, 'output', ['json', 'table'] as const, 'json'),
      };
    }
  }
}

/** True when the store is a TimescaleDB server (some login URL given) rather than the embedded engine. */
export function isServerMode(store: StoreArgs): boolean {
  return Boolean(store.databaseUrl || store.writerUrl || store.readerUrl);
}
