/**
 * Recent answers kept for a short while, so that moving the scrubber back and forth, or onto a step fetched ahead
 * of time, redraws without waiting for the API. Keyed by the whole request (document and variables), so any change of
 * range, grouping or filters is a different entry; failures are not kept. Entries expire after `ttlMs` because
 * the newest windows still fill in as collectors report, and a token change drops everything.
 */
import type { Api } from './api.js';

interface Entry { readonly at: number; readonly answer: Promise<unknown> }

export function cachingApi(api: Api, options: { maxEntries: number; ttlMs: number }): Api {
  const entries = new Map<string, Entry>();
  const fetchOnce = <T>(document: string, variables: Record<string, unknown>): Promise<T> => {
    const key = JSON.stringify([document, variables]);
    const now = Date.now();
    const hit = entries.get(key);
    if (hit && now - hit.at < options.ttlMs) {
      // Most recently used last, so the oldest is the first one evicted.
      entries.delete(key);
      entries.set(key, hit);
      return hit.answer as Promise<T>;
    }
    const answer = api.query<T>(document, variables);
    const entry: Entry = { at: now, answer };
    entries.set(key, entry);
    answer.catch(() => { if (entries.get(key) === entry) entries.delete(key); });
    while (entries.size > options.maxEntries) entries.delete(entries.keys().next().value as string);
    return answer;
  };
  return {
    query: (document, variables = {}) => fetchOnce(document, variables),
    setToken(token) { entries.clear(); api.setToken(token); },
    hasToken: () => api.hasToken(),
  };
}
