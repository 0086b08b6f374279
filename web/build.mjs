/**
 * Builds the web UI into dist/web: one bundled, minified script and one stylesheet with content-hashed names
 * (served with a year's cache) and an index.html naming them (revalidated on every load). Type checking is
 * done by `tsc -p web/tsconfig.json` before this runs; esbuild only bundles.
 */
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'web');

await rm(out, { recursive: true, force: true });
await mkdir(join(out, 'assets'), { recursive: true });
const result = await build({
  entryPoints: { app: join(here, 'src', 'main.ts'), style: join(here, 'src', 'style.css') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: 'linked',
  entryNames: '[name]-[hash]',
  outdir: join(out, 'assets'),
  metafile: true,
  logLevel: 'warning',
  legalComments: 'eof',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const script = outputs.find((n) => /^app-.*\.js$/.test(n));
const style = outputs.find((n) => /^style-.*\.css$/.test(n));
if (!script || !style) throw new Error(`web build: missing outputs in ${outputs.join(', ')}`);
const html = (await readFile(join(here, 'index.html'), 'utf8'))
  .replace('%SCRIPT%', `/assets/${script}`)
  .replace('%STYLE%', `/assets/${style}`);
await writeFile(join(out, 'index.html'), html);
