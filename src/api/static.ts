/**
 * The web UI's files, served by the API server itself (same port) from the directory `npm run build` writes
 * (dist/web). Only two shapes of path exist: `/` (index.html, revalidated every time so a new build is picked
 * up) and `/assets/<name>` (content-hashed names, so cached for a year). Anything else is not a UI path.
 * The files hold no data: the UI asks for the API token itself and sends it on /graphql, which stays guarded.
 */
import { readFile } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Where the build puts the UI, relative to this module once compiled (dist/src/api -> dist/web). */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

// An asset name is one path segment of safe characters: no separators, no "..", no encoded tricks survive it.
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

// Same-origin only; styles may be set inline (the graph library writes element styles).
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

export interface StaticFile {
  readonly path: string;
  readonly contentType: string;
  readonly cacheControl: string;
}

/** Which file a UI path names, or null when the path is not a UI path (pure: no file-system access). */
export function resolveStaticPath(root: string, pathname: string): StaticFile | null {
  const base = resolve(root);
  if (pathname === '/' || pathname === '/index.html') {
    return { path: join(base, 'index.html'), contentType: CONTENT_TYPES['.html']!, cacheControl: 'no-cache' };
  }
  if (!pathname.startsWith('/assets/')) return null;
  const name = pathname.slice('/assets/'.length);
  if (!ASSET_NAME.test(name) || name.includes('..')) return null;
  const contentType = CONTENT_TYPES[extname(name)];
  if (!contentType) return null;
  const path = resolve(base, 'assets', name);
  if (!path.startsWith(base + sep)) return null;
  return { path, contentType, cacheControl: 'public, max-age=31536000, immutable' };
}

export type StaticOutcome = 'served' | 'not-ui' | 'missing';

/**
 * Serves `pathname` when it is a UI path. 'not-ui' leaves the response untouched for the caller; 'missing'
 * has already answered 404 (or 405 for a method other than GET/HEAD).
 */
export async function serveStatic(root: string, pathname: string, req: IncomingMessage, res: ServerResponse): Promise<StaticOutcome> {
  const file = resolveStaticPath(root, pathname);
  if (!file) return 'not-ui';
  const method = (req.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
    res.end('method not allowed\n');
    return 'missing';
  }
  let body: Buffer;
  try {
    body = await readFile(file.path);
  } catch {
    const hint = pathname.startsWith('/assets/') ? 'no such asset' : 'the web UI is not built: run `npm run build`';
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', ...SECURITY_HEADERS });
    res.end(`${hint}\n`);
    return 'missing';
  }
  res.writeHead(200, { 'content-type': file.contentType, 'content-length': body.length, 'cache-control': file.cacheControl, ...SECURITY_HEADERS });
  res.end(method === 'HEAD' ? undefined : body);
  return 'served';
}
