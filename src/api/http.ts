/**
 * The node:http front of the API: /healthz, bearer-token check, bounded body, bounded batches, then Apollo's
 * executeHTTPGraphQLRequest (Apollo 5's framework-neutral entry point; no express).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer } from '@apollo/server';
import { checkHealth, type Database } from '../store/index.js';
import type { ApiContext } from './context.js';
import type { ApiErrorCode } from './errors.js';
import type { ApiLimits } from './limits.js';
import type { Logger } from '../domain/logger.js';
import { NO_OPERATION, type ApiMetrics } from './metrics.js';
import { serveStatic } from './static.js';

export interface HttpHandlerOptions {
  readonly apollo: ApolloServer<ApiContext>;
  readonly db: Database;
  readonly limits: ApiLimits;
  readonly log: Logger;
  readonly token: string | null;
  readonly context: () => ApiContext;
  readonly metrics: ApiMetrics;
  readonly healthTimeoutMs?: number;
  /** The built web UI served at `/` and `/assets/`; null serves none. */
  readonly webRoot?: string | null;
}

class HttpFailure extends Error {
  readonly status: number;
  readonly code: ApiErrorCode | 'BAD_REQUEST' | 'PAYLOAD_TOO_LARGE';
  constructor(status: number, code: HttpFailure['code'], message: string) {
    super(message);
    this.name = 'HttpFailure';
    this.status = status;
    this.code = code;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time comparison of the presented bearer token with the configured one. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match) return false;
  return timingSafeEqual(digest(match[1]!.trim()), digest(token));
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendFailure(res: ServerResponse, failure: HttpFailure): void {
  const headers: Record<string, string> = failure.status === 401 ? { 'www-authenticate': 'Bearer' } : {};
  sendJson(res, failure.status, { errors: [{ message: failure.message, extensions: { code: failure.code } }] }, headers);
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new HttpFailure(413, 'PAYLOAD_TOO_LARGE', `the request body may be at most ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new HttpFailure(413, 'PAYLOAD_TOO_LARGE', `the request body may be at most ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(text: string, contentType: string | undefined, maxBatch: number): unknown {
  if (!/application\/json/i.test(contentType ?? '')) return text;
  if (text.length === 0) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpFailure(400, 'BAD_REQUEST', 'the request body is not valid JSON');
  }
  if (Array.isArray(body) && body.length > maxBatch) {
    throw new HttpFailure(400, 'QUERY_TOO_COMPLEX', `a batch may hold at most ${maxBatch} operations (got ${body.length})`);
  }
  return body;
}

async function health(res: ServerResponse, db: Database, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      checkHealth(db),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('health check timed out')), timeoutMs); }),
    ]);
    sendJson(res, 200, { status: 'ok' });
  } catch {
    sendJson(res, 503, { status: 'unavailable', code: 'STORE_UNAVAILABLE' });
  } finally {
    clearTimeout(timer);
  }
}

export function createHttpHandler(options: HttpHandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { apollo, limits, log, token } = options;
  return (req, res) => {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handle = async (): Promise<void> => {
      if (url.pathname === '/healthz') return health(res, options.db, options.healthTimeoutMs ?? 2000);
      // Like /healthz, open without the token: counts and timings by root field, nothing read from the store.
      if (url.pathname === '/metrics') {
        const text = await options.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': options.metrics.registry.contentType }).end(text);
        return;
      }
      if (url.pathname !== '/graphql' && options.webRoot && (await serveStatic(options.webRoot, url.pathname, req, res)) !== 'not-ui') return;
      if (url.pathname !== '/graphql') throw new HttpFailure(404, 'BAD_REQUEST', 'not found: the API is served at /graphql');
      if (token !== null && !tokenMatches(req.headers.authorization, token)) {
        throw new HttpFailure(401, 'UNAUTHENTICATED', 'a valid bearer token is required (Authorization: Bearer <API_TOKEN>)');
      }
      const text = await readBody(req, limits.maxBodyBytes);
      const body = parseBody(text, req.headers['content-type'], limits.maxBatch);
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      const response = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: (req.method ?? 'GET').toUpperCase(), headers, search: url.search, body },
        context: async () => options.context(),
      });
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.statusCode = response.status ?? 200;
      if (response.body.kind === 'complete') {
        res.end(response.body.string);
        return;
      }
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    };
    handle().catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpFailure) {
        // Refused before GraphQL saw it (no token, too large, a batch too long): counted here, as no operation.
        if (url.pathname === '/graphql') options.metrics.request(NO_OPERATION, err.code, (performance.now() - started) / 1000);
        sendFailure(res, err);
        return;
      }
      log.error({ err: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err) }, 'request failed');
      if (url.pathname === '/graphql') options.metrics.request(NO_OPERATION, 'INTERNAL_SERVER_ERROR', (performance.now() - started) / 1000);
      sendFailure(res, new HttpFailure(500, 'INTERNAL_SERVER_ERROR', 'internal server error'));
    });
  };
}
