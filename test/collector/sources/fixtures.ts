import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Fixtures live in the source tree (test/fixtures), not in dist: resolve them from the repository root. */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export function fixturePath(...parts: string[]): string {
  return [ROOT.replace(/\/$/, ''), 'test', 'fixtures', ...parts].join('/');
}

export function fixtureBytes(...parts: string[]): Buffer {
  return readFileSync(fixturePath(...parts));
}

export function fixtureText(...parts: string[]): string {
  return readFileSync(fixturePath(...parts), 'utf8');
}
