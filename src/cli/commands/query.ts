import type { Command } from '../args.js';
import { DEFAULTS } from '../settings.js';
import { loadTypeDefs } from '../../api/schema.js';
import { resolveTimeVariables, schemaFrom } from './query-variables.js';
import { tableOf } from './table.js';

/**
 * `conntrail query`: one GraphQL operation against a running API; the answer goes to stdout as JSON or a table.
 * When the API cannot be reached the message says where it tried, why it failed, and what usually fixes it.
 */
type QueryCommand = Extract<Command, { name: 'query' }>;

const REASONS: Readonly<Record<string, string>> = Object.freeze({
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  UND_ERR_SOCKET: 'connection closed by the other end',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
});

/** The sentence for a failed fetch: undici hides the system error in `cause`. */
export function explainUnreachable(url: string, err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const timedOut = (err as { name?: string }).name === 'TimeoutError';
  const reason = timedOut ? `no answer within ${DEFAULTS.queryTimeoutMs / 1000} s` : (cause?.code && REASONS[cause.code]) ?? cause?.message ?? (err as Error).message;
  const hint = cause?.code === 'ECONNREFUSED' ? ' — is `conntrail up` (or `conntrail serve`) running? Set --url or CONNTRAIL_URL if it listens elsewhere' : '';
  return `cannot reach ${url}: ${reason}${hint}`;
}

function explainStatus(url: string, status: number): string | null {
  if (status === 401) return `${url} wants a bearer token (HTTP 401): set API_TOKEN to the API's token`;
  if (status === 404) return `${url} answered HTTP 404: the API serves GraphQL at /graphql`;
  return null;
}

export async function runQuery(command: QueryCommand, nowMs: number = Date.now()): Promise<number> {
  const { url, query, token } = command;
  const variables = resolveTimeVariables(schemaFrom(loadTypeDefs()), query, command.variables, nowMs);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'apollo-require-preflight': 'true' };
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }), signal: AbortSignal.timeout(DEFAULTS.queryTimeoutMs) });
  } catch (err) {
    process.stderr.write(`conntrail query: ${explainUnreachable(url, err)}\n`);
    return 1;
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    process.stderr.write(`conntrail query: ${explainStatus(url, response.status) ?? `${url} answered HTTP ${response.status} with non-JSON: ${text.slice(0, 500)}`}\n`);
    return 1;
  }
  const errors = (body as { errors?: { message?: string; extensions?: { code?: string } }[] }).errors;
  if (command.output === 'table') {
    const data = (body as { data?: unknown }).data;
    if (data !== undefined && data !== null) process.stdout.write(`${tableOf(data)}\n`);
    for (const e of errors ?? []) process.stderr.write(`conntrail query: ${e.extensions?.code ? `[${e.extensions.code}] ` : ''}${e.message ?? ''}\n`);
  } else {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  }
  const status = explainStatus(url, response.status);
  if (status && !response.ok) process.stderr.write(`conntrail query: ${status}\n`);
  return response.ok && !(errors && errors.length > 0) ? 0 : 1;
}
