/**
 * The UI's only channel to conntrail: POST /graphql on the same origin. The token (when the server wants one)
 * lives in sessionStorage for this tab and travels in the Authorization header, never in the URL.
 */
import { UiError } from './errors.js';

const TOKEN_KEY = 'conntrail.token';

export interface Api {
  query<T>(document: string, variables?: Record<string, unknown>): Promise<T>;
  setToken(token: string | null): void;
  hasToken(): boolean;
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

export function createApi(endpoint = '/graphql', storage: Storage = sessionStorage): Api {
  return {
    setToken(token) {
      if (token) storage.setItem(TOKEN_KEY, token);
      else storage.removeItem(TOKEN_KEY);
    },
    hasToken: () => storage.getItem(TOKEN_KEY) !== null,
    async query<T>(document: string, variables: Record<string, unknown> = {}): Promise<T> {
      const token = storage.getItem(TOKEN_KEY);
      let res: Response;
      try {
        res = await fetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify({ query: document, variables }),
        });
      } catch (err) {
        throw new UiError('NETWORK', err instanceof Error ? err.message : String(err));
      }
      let body: GraphQLResponse<T>;
      try {
        body = (await res.json()) as GraphQLResponse<T>;
      } catch {
        throw new UiError(res.status === 401 ? 'UNAUTHENTICATED' : 'BAD_RESPONSE', `HTTP ${res.status}`);
      }
      const first = body.errors?.[0];
      if (first) throw new UiError(first.extensions?.code ?? (res.status === 401 ? 'UNAUTHENTICATED' : 'INTERNAL_SERVER_ERROR'), first.message);
      if (!body.data) throw new UiError('BAD_RESPONSE', `HTTP ${res.status} without data`);
      return body.data;
    },
  };
}
