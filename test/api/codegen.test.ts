import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

// The resolvers' argument and result types come from src/api/generated/graphql.ts. Were it stale, the schema
// and the resolvers could drift apart while everything still compiled: `--check` regenerates in memory and
// exits non-zero when the committed file differs (fix: `npm run codegen`, commit the file).
test('the generated resolver types are those of schema.graphql (npm run codegen)', { timeout: 120_000 }, async () => {
  const run = promisify(execFile);
  const result = await run(`${ROOT}node_modules/.bin/graphql-codegen`, ['--config', 'codegen.yml', '--check'], { cwd: ROOT })
    .then(() => ({ ok: true, output: '' }), (err: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }));
  assert.ok(result.ok, `src/api/generated/graphql.ts is stale: run npm run codegen\n${result.output.slice(-2000)}`);
});
