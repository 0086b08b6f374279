import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createApiServer, type ApiServer } from '../../src/api/index.js';
import type { Store } from '../../src/store/index.js';
import { freshStore, testLog } from '../helpers/env.js';

/**
 * The web UI's files come from the API server itself: the built index.html at `/`, hashed assets under
 * `/assets/` with the right types and cache headers, nothing outside the build directory, and /graphql still
 * guarded by the token.
 */
const TOKEN = 'web-static-token-0123456789';
let store: Store;
let dispose: () => Promise<void>;
let api: ApiServer;
let port: number;

before(async () => {
  ({ store, dispose } = await freshStore());
  api = createApiServer({ reader: store.reader, log: testLog, port: 0, env: { API_TOKEN: TOKEN } });
  port = (await api.start()).port;
});

after(async () => {
  await api?.stop();
  await dispose?.();
});

interface Raw { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A request with the path sent exactly as written (fetch would normalise `..` away). */
function raw(path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('GET / serves the built page without a token; it names its hashed script and stylesheet', async () => {
  const page = await raw('/');
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(page.headers['cache-control'], 'no-cache');
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  const script = /src="(\/assets\/app-[A-Z0-9]+\.js)"/.exec(page.body)?.[1];
  const style = /href="(\/assets\/style-[A-Z0-9]+\.css)"/.exec(page.body)?.[1];
  assert.ok(script && style, page.body);
  const js = await raw(script);
  assert.equal(js.status, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.ok(Number(js.headers['content-length']) > 1000);
  const css = await raw(style, 'HEAD');
  assert.equal(css.status, 200);
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  assert.equal(css.body, '');
});

test('nothing outside the build directory is reachable, and other paths and methods are refused', async () => {
  for (const path of ['/assets/../../../package.json', '/assets/..%2f..%2f..%2fpackage.json', '/assets/%2e%2e%2f%2e%2e%2fpackage.json', '/assets/%2e%2e/%2e%2e/%2e%2e/package.json', '/assets/.hidden.js',
    '/assets/sub/dir.js', '/assets/nope.js', '/assets/app.exe', '/package.json', '/src/api/static.ts', '/etc/passwd']) {
    const res = await raw(path);
    assert.equal(res.status, 404, `${path} answered ${res.status}`);
    assert.doesNotMatch(res.body, /"name": "conntrail"|createHttpHandler/);
  }
  assert.equal((await raw('/', 'POST')).status, 405);
});

test('/graphql still needs the token; with it the API answers', async () => {
  const body = JSON.stringify({ query: '{ hosts { id } }' });
  const post = (headers: Record<string, string>): Promise<Response> => fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  assert.equal((await post({})).status, 401);
  const ok = await post({ authorization: `Bearer ${TOKEN}` });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { data: { hosts: [] } });
});
