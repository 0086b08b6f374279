/**
 * Every default and every environment variable of the command line, in one place: args.ts reads them from
 * here, help.ts prints them from here, and the README, docker-compose.yml and the Kubernetes manifests are
 * checked against them by tests. A default written anywhere else is a bug.
 */

export const DEFAULTS = Object.freeze({
  apiPort: 4000,
  apiListen: '127.0.0.1',
  sqlPort: 5433,
  sqlListen: '127.0.0.1',
  dataDir: './data',
  /** Collector interval; `--interval` takes a duration (15s, 1m, 500ms) or bare seconds. */
  intervalMs: 15_000,
  minIntervalMs: 50,
  maxIntervalMs: 3_600_000,
  /** Prometheus /metrics and /healthz of the collector (0 turns them off). */
  metricsPort: 9464,
  metricsListen: '127.0.0.1',
  netns: 'all',
  source: 'auto',
  dns: 'both',
  /** How long `conntrail query` waits for the API to answer. */
  queryTimeoutMs: 120_000,
});

/** The API's URL when neither --url nor CONNTRAIL_URL says otherwise. */
export const DEFAULT_API_URL = `http://${DEFAULTS.apiListen}:${DEFAULTS.apiPort}/graphql`;

export interface EnvVar {
  readonly name: string;
  /** The flag it stands in for, when there is one (the flag wins). */
  readonly flag?: string;
  readonly commands: readonly string[];
  readonly help: string;
}

/** Every environment variable conntrail reads. */
export const ENVIRONMENT: readonly EnvVar[] = Object.freeze([
  { name: 'DATABASE_URL', flag: 'database-url', commands: ['up', 'collect', 'serve', 'migrate'], help: "a TimescaleDB server instead of the embedded store: the owner's login (migrations)" },
  { name: 'CONNTRAIL_WRITER_URL', flag: 'writer-url', commands: ['up', 'collect'], help: "server mode: the collector's own login (conntrail_writer)" },
  { name: 'CONNTRAIL_READER_URL', flag: 'reader-url', commands: ['up', 'serve'], help: "server mode: the API's own login (conntrail_reader)" },
  { name: 'CONNTRAIL_DATA_DIR', flag: 'data-dir', commands: ['up', 'collect', 'serve', 'migrate', 'sql'], help: `the embedded store's data directory (default ${DEFAULTS.dataDir})` },
  { name: 'CONNTRAIL_READER_PASSWORD', commands: ['up', 'collect', 'serve', 'sql'], help: "the SQL endpoint's secret for conntrail_reader (BI tools); generated into <data-dir>-secrets/ when not given" },
  { name: 'CONNTRAIL_WRITER_PASSWORD', commands: ['up', 'collect', 'serve', 'sql'], help: "the SQL endpoint's secret for conntrail_writer (remote collectors); generated when not given" },
  { name: 'CONNTRAIL_OWNER_PASSWORD', commands: ['up', 'collect', 'serve', 'sql'], help: "the SQL endpoint's secret for conntrail (the owner); generated when not given" },
  { name: 'API_PORT', flag: 'port', commands: ['up', 'serve'], help: `the API's port (default ${DEFAULTS.apiPort})` },
  { name: 'API_HOST', flag: 'listen', commands: ['up', 'serve'], help: `the API's listen address (default ${DEFAULTS.apiListen})` },
  { name: 'API_TOKEN', commands: ['up', 'serve', 'query'], help: 'bearer token: required by the API when it listens off loopback, sent by `conntrail query`' },
  { name: 'CONNTRAIL_URL', flag: 'url', commands: ['query'], help: `the API \`conntrail query\` asks (default ${DEFAULT_API_URL})` },
  { name: 'NODE_ENV', commands: ['up', 'serve'], help: 'production: no introspection, no field suggestions in API errors, no landing page' },
  { name: 'LOG_LEVEL', commands: ['up', 'collect', 'serve', 'migrate', 'sql', 'query'], help: 'pino log level on stderr (default info)' },
] satisfies EnvVar[]);

/** A variable's value, or undefined when unset or empty (an empty variable means "not set", as in most tools). */
export function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}
