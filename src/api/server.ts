/**
 * createApiServer: Apollo Server over node:http, with its lifecycle as one state union
 * (idle -> starting -> running -> stopping -> stopped, or failed).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { Kind, parse } from 'graphql';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import type { Database } from '../store/index.js';
import { aliasLimitRule, checkCost, checkNoNulStrings, depthLimitRule } from './complexity.js';
import { createContext, type ApiContext } from './context.js';
import { ApiConfigError, makeFormatError } from './errors.js';
import { createHttpHandler } from './http.js';
import { DEFAULT_LIMITS, type ApiLimits } from './limits.js';
import { isLoopback } from '../domain/address.js';
import type { Logger } from '../domain/logger.js';
import { ApiMetrics, NO_OPERATION, timedDatabase } from './metrics.js';
import { resolvers } from './resolvers/index.js';
import { DEFAULT_WEB_ROOT } from './static.js';
import { loadTypeDefs } from './schema.js';

export interface ApiServerOptions {
  /** The read-only Database (the conntrail_reader role). */
  readonly reader: Database;
  readonly log: Logger;
  /** Default 127.0.0.1. Off loopback a token is required. */
  readonly host?: string;
  /** 0 picks a free port (the command line's default is in src/cli/settings.ts). */
  readonly port: number;
  /**
   * Bearer token required on /graphql. Left undefined, API_TOKEN from `env` applies (so a forgotten option never
   * turns authentication off); null means explicitly none.
   */
  readonly token?: string | null;
  /** Production: no introspection, no field suggestions in errors, no landing page. Default: NODE_ENV=production in `env`. */
  readonly production?: boolean;
  /** Where the defaults above come from; process.env unless given. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly limits?: Partial<ApiLimits>;
  /** The built web UI's directory, served at `/`; default the build's dist/web; null serves no UI. */
  readonly webRoot?: string | null;
  /** Prometheus instruments, served at /metrics; a fresh set (with its own Registry) unless given. */
  readonly metrics?: ApiMetrics;
}

export interface ApiAddress {
  readonly host: string;
  readonly port: number;
  readonly url: string;
}

export type ApiServerState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'starting'; readonly ready: Promise<ApiAddress> }
  | { readonly kind: 'running'; readonly address: ApiAddress; readonly http: Server; readonly apollo: ApolloServer<ApiContext> }
  | { readonly kind: 'stopping'; readonly done: Promise<void> }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'failed'; readonly error: Error };

export interface ApiServer {
  readonly state: ApiServerState;
  readonly metrics: ApiMetrics;
  start(): Promise<ApiAddress>;
  stop(): Promise<void>;
}

export { isLoopback as isLoopbackHost };

/** The schema's root Query fields: the operations metrics are labelled with (bounded by the schema, not by clients). */
function rootQueryFields(typeDefs: string): string[] {
  const query = parse(typeDefs).definitions.find((d) => d.kind === Kind.OBJECT_TYPE_DEFINITION && d.name.value === 'Query');
  return query && query.kind === Kind.OBJECT_TYPE_DEFINITION ? (query.fields ?? []).map((f) => f.name.value) : [];
}

export function createApiServer(options: ApiServerOptions): ApiServer {
  const host = options.host ?? '127.0.0.1';
  const port = options.port;
  const env = options.env ?? process.env;
  const token = (options.token === undefined ? env.API_TOKEN : options.token) || null;
  const limits: ApiLimits = Object.freeze({ ...DEFAULT_LIMITS, ...options.limits });
  const production = options.production ?? env.NODE_ENV === 'production';
  const log = options.log;
  const typeDefs = loadTypeDefs();
  const metrics = options.metrics ?? new ApiMetrics(rootQueryFields(typeDefs));
  const reader = timedDatabase(options.reader, metrics);
  let state: ApiServerState = { kind: 'idle' };

  async function boot(): Promise<{ address: ApiAddress; http: Server; apollo: ApolloServer<ApiContext> }> {
    if (!isLoopback(host) && token === null) {
      throw new ApiConfigError('TOKEN_REQUIRED', `the API listens off loopback (${host}): set API_TOKEN so that requests must carry a bearer token`, { host });
    }
    const http = createServer();
    // A client that trickles its request must not hold a socket for minutes.
    http.requestTimeout = 30_000;
    http.headersTimeout = 10_000;
    const apollo = new ApolloServer<ApiContext>({
      typeDefs,
      resolvers,
      introspection: !production,
      hideSchemaDetailsFromClientErrors: production,
      includeStacktraceInErrorResponses: false,
      csrfPrevention: true,
      allowBatchedHttpRequests: true,
      // Parsing stops at maxTokens, so a huge document costs little before it is refused.
      parseOptions: { maxTokens: limits.maxTokens },
      validationRules: [depthLimitRule(limits.maxDepth), aliasLimitRule(limits.maxAliases)],
      formatError: makeFormatError(log),
      logger: { debug: (m) => log.debug({ apollo: m }), info: (m) => log.info({ apollo: m }), warn: (m) => log.warn({ apollo: m }), error: (m) => log.error({ apollo: m }) },
      plugins: [
        ApolloServerPluginDrainHttpServer({ httpServer: http }),
        // No HTTP caching of answers here, and its per-field hook costs a third of a large talkers response.
        ApolloServerPluginCacheControlDisabled(),
        ...(production ? [ApolloServerPluginLandingPageDisabled()] : []),
        {
          async requestDidStart() {
            const started = performance.now();
            let operation = NO_OPERATION;
            return {
              async didResolveOperation(rc) {
                operation = metrics.operationOf((rc.operation?.selectionSet.selections ?? []).flatMap((s) => (s.kind === Kind.FIELD ? [s.name.value] : ['(fragment)'])));
                checkNoNulStrings(rc.document, rc.request.variables);
                checkCost({ maxListSize: limits.maxPageSize, schema: rc.schema, document: rc.document, operationName: rc.operationName, variables: rc.request.variables }, limits.maxCost);
              },
              async willSendResponse(rc) {
                const errors = rc.response.body.kind === 'single' ? rc.response.body.singleResult.errors : undefined;
                const code = errors && errors.length > 0 ? String(errors[0]!.extensions?.code ?? 'OTHER') : undefined;
                metrics.request(operation, code, (performance.now() - started) / 1000);
              },
            };
          },
        },
      ],
    });
    await apollo.start();
    http.on('request', createHttpHandler({ apollo, db: reader, limits, log, token, metrics, webRoot: options.webRoot === undefined ? DEFAULT_WEB_ROOT : options.webRoot, context: () => createContext(reader, limits, log, metrics.observeBatch) }));
    try {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await apollo.stop().catch(() => undefined);
      throw err;
    }
    const info = http.address() as AddressInfo;
    const shown = info.family === 'IPv6' ? `[${info.address}]` : info.address;
    const address = { host: info.address, port: info.port, url: `http://${shown}:${info.port}/graphql` };
    log.info({ url: address.url, auth: token !== null, production }, 'api listening');
    return { address, http, apollo };
  }

  return {
    metrics,
    get state() {
      return state;
    },
    async start() {
      if (state.kind === 'running') return state.address;
      if (state.kind === 'starting') return state.ready;
      if (state.kind !== 'idle') throw new ApiConfigError('ALREADY_STARTED', `the API server cannot start from state ${state.kind}`);
      const ready = boot().then(
        (up) => {
          state = { kind: 'running', ...up };
          return up.address;
        },
        (err: unknown) => {
          state = { kind: 'failed', error: err instanceof Error ? err : new Error(String(err)) };
          throw err;
        },
      );
      state = { kind: 'starting', ready };
      return ready;
    },
    async stop() {
      if (state.kind === 'starting') await state.ready.catch(() => undefined);
      if (state.kind === 'stopping') return state.done;
      if (state.kind !== 'running') {
        if (state.kind === 'idle') state = { kind: 'stopped' };
        return;
      }
      const { apollo } = state;
      // Apollo's drain plugin closes the http server and its idle connections.
      const done = apollo.stop().finally(() => {
        state = { kind: 'stopped' };
        log.info({}, 'api stopped');
      });
      state = { kind: 'stopping', done };
      return done;
    },
  };
}
