import { DEFAULTS, DEFAULT_API_URL, ENVIRONMENT } from './settings.js';

/**
 * What each command and option is for, as `conntrail help` and `conntrail <command> --help` print it. Which
 * options a command takes is written here once: args.ts refuses the others, so a flag is never silently ignored.
 */

export type CommandName = 'up' | 'collect' | 'serve' | 'migrate' | 'sql' | 'query';
type Group = 'store' | 'collector' | 'api' | 'query' | 'general';

export interface OptionDoc {
  readonly group: Group;
  /** The value's placeholder; absent for a switch. */
  readonly arg?: string;
  readonly help: string;
}

export const OPTION_DOCS = {
  'database-url': { group: 'store', arg: 'URL', help: "a TimescaleDB server (postgres://...) instead of the embedded store: the owner's login (migrations); collect alone takes it as its writer login" },
  'writer-url': { group: 'store', arg: 'URL', help: "server mode: the collector's own login, as conntrail_writer (up, collect)" },
  'reader-url': { group: 'store', arg: 'URL', help: "server mode: the API's own login, as conntrail_reader (up, serve)" },
  'data-dir': { group: 'store', arg: 'DIR', help: `the embedded store's data directory (default ${DEFAULTS.dataDir})` },
  'sql-port': { group: 'store', arg: 'N', help: `the embedded store's SQL endpoint port (default ${DEFAULTS.sqlPort}; 0 = any free port)` },
  'sql-listen': { group: 'store', arg: 'ADDR', help: `the SQL endpoint's listen address (default ${DEFAULTS.sqlListen})` },
  'sql-trust-loopback': { group: 'store', help: 'loopback logins to the SQL endpoint need no secret (off by default: every login needs its own secret)' },
  'sql-tls-cert': { group: 'store', arg: 'FILE', help: "the SQL endpoint's TLS certificate (PEM; default: a self-signed one kept in <data-dir>-secrets/)" },
  'sql-tls-key': { group: 'store', arg: 'FILE', help: 'the private key of --sql-tls-cert (PEM)' },
  'host-id': { group: 'collector', arg: 'ID', help: 'the name this host is recorded under (default: the hostname)' },
  interval: { group: 'collector', arg: 'DURATION', help: `snapshot interval: 15s, 1m, 500ms or bare seconds (default ${DEFAULTS.intervalMs / 1000}s)` },
  netns: { group: 'collector', arg: 'all|self', help: `network namespaces to record (default ${DEFAULTS.netns})` },
  source: { group: 'collector', arg: 'auto|ebpf|procfs', help: `connection source; auto = eBPF, else /proc (default ${DEFAULTS.source})` },
  dns: { group: 'collector', arg: 'off|snoop|reverse|both', help: `names of addresses: DNS answers processes receive (eBPF), background reverse lookups, or both (default ${DEFAULTS.dns})` },
  'dns-server': { group: 'collector', arg: 'IP[:PORT]', help: 'the DNS server reverse lookups ask (default: the system resolver configuration)' },
  'spool-dir': { group: 'collector', arg: 'DIR', help: 'where snapshots wait while the store is down (default <data-dir>/spool)' },
  'metrics-port': { group: 'collector', arg: 'N', help: `Prometheus /metrics and /healthz of the collector (default ${DEFAULTS.metricsPort}; 0 = off)` },
  'metrics-listen': { group: 'collector', arg: 'ADDR', help: `listen address of /metrics and /healthz (default ${DEFAULTS.metricsListen})` },
  port: { group: 'api', arg: 'N', help: `the API's port, GraphQL at /graphql, metrics at /metrics (default ${DEFAULTS.apiPort})` },
  listen: { group: 'api', arg: 'ADDR', help: `the API's listen address (default ${DEFAULTS.apiListen}; off loopback needs API_TOKEN)` },
  url: { group: 'query', arg: 'URL', help: `the API to ask (default ${DEFAULT_API_URL})` },
  var: { group: 'query', arg: 'NAME=VALUE', help: 'a variable (repeatable); JSON values allowed; DateTime variables take now, now-1h, -15m, ISO-8601 or Unix seconds' },
  output: { group: 'query', arg: 'json|table', help: 'json (default) or a table of the rows of a talkers, edges or connections answer' },
  help: { group: 'general', help: 'this help' },
  version: { group: 'general', help: "conntrail's version" },
} as const satisfies Record<string, OptionDoc>;

export type OptionName = keyof typeof OPTION_DOCS;

interface CommandDoc {
  readonly summary: string;
  readonly usage: string;
  readonly groups: readonly Group[];
}

export const COMMAND_DOCS: Readonly<Record<CommandName, CommandDoc>> = Object.freeze({
  up: { summary: 'embedded store (or --database-url) + collector for this host + API + SQL endpoint', usage: 'conntrail up [options]', groups: ['store', 'collector', 'api', 'general'] },
  collect: { summary: 'the collector only: writes snapshots to --database-url or the embedded store', usage: 'conntrail collect [options]', groups: ['store', 'collector', 'general'] },
  serve: { summary: 'the GraphQL API only', usage: 'conntrail serve [options]', groups: ['store', 'api', 'general'] },
  migrate: { summary: 'apply database migrations', usage: 'conntrail migrate [options]', groups: ['store', 'general'] },
  sql: { summary: 'the SQL endpoint (PostgreSQL wire protocol) over an embedded data dir, for psql and BI tools', usage: 'conntrail sql [options]', groups: ['store', 'general'] },
  query: {
    summary: 'one GraphQL operation against a running API; JSON (or a table) on stdout',
    usage: "conntrail query '<graphql>' [--var name=value]... [--output json|table]\n  e.g. conntrail query 'query($r: TimeRange!) { talkers(range: $r) { edges { client { node { name } } server { node { name } } protocol bytesSent bytesReceived } } }' --var 'r={\"from\":\"-1h\",\"to\":\"now\"}' --output table",
    groups: ['query', 'general'],
  },
});

export const COMMAND_NAMES = Object.keys(COMMAND_DOCS) as CommandName[];

/** The options a command accepts. */
export function optionsOf(command: CommandName): OptionName[] {
  const groups = COMMAND_DOCS[command].groups;
  return (Object.keys(OPTION_DOCS) as OptionName[]).filter((name) => groups.includes(OPTION_DOCS[name].group));
}

function optionLine(name: OptionName): string {
  const doc: OptionDoc = OPTION_DOCS[name];
  const flag = `--${name}${doc.arg ? ` ${doc.arg}` : ''}`;
  return `  ${flag.padEnd(28)} ${doc.help}`;
}

function environmentLines(command: CommandName | null): string[] {
  return ENVIRONMENT.filter((v) => command === null || v.commands.includes(command))
    .map((v) => `  ${v.name.padEnd(28)} ${v.help}${v.flag ? ` (--${v.flag} wins)` : ''}`);
}

/** `conntrail help`: every command, every option, every environment variable. */
export function generalHelp(): string {
  const lines = ['conntrail — who talked to whom on our network, when, through which NAT, and how much', '', 'usage: conntrail <command> [options]    (conntrail <command> --help for one command)', ''];
  for (const name of COMMAND_NAMES) lines.push(`  ${name.padEnd(9)} ${COMMAND_DOCS[name].summary}`);
  const groups: readonly [Group, string][] = [['store', 'store'], ['collector', 'collector (up, collect)'], ['api', 'api (up, serve)'], ['query', 'query'], ['general', 'general']];
  for (const [group, title] of groups) {
    lines.push('', `${title}:`);
    for (const name of Object.keys(OPTION_DOCS) as OptionName[]) if (OPTION_DOCS[name].group === group) lines.push(optionLine(name));
  }
  lines.push('', 'environment:', ...environmentLines(null));
  lines.push('', 'durations: 500ms, 15s, 1m, 1h30m, 2d (a bare number is seconds); times: now, now-1h, -15m, 2026-12-06T10:00:00Z, Unix seconds');
  return lines.join('\n');
}

/** `conntrail <command> --help`. */
export function commandHelp(command: CommandName): string {
  const doc = COMMAND_DOCS[command];
  const env = environmentLines(command);
  return [`${doc.usage}`, '', doc.summary, '', 'options:', ...optionsOf(command).map(optionLine), ...(env.length > 0 ? ['', 'environment:', ...env] : [])].join('\n');
}

/** Edit distance, for "did you mean": options are short, so the quadratic table is nothing. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The candidate nearest to `given`, when it is near enough to be what was meant. */
export function nearest(given: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(given) && given.length >= 2 ? 0.5 : distance(given, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : null;
}
