import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the helper binary lives by default: bpf/conntrail-bpf under the package root, found by walking
 * up from this module to the package.json named "conntrail" (the same from src/ under a TypeScript
 * runner and from dist/src/ once compiled).
 */

export const HELPER_RELATIVE_PATH = join('bpf', 'conntrail-bpf');

export function findPackageRoot(startDir: string = dirname(fileURLToPath(import.meta.url))): string | null {
  let dir = startDir;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        const name: unknown = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
        if (name === 'conntrail') return dir;
      } catch {
        // not ours, or unreadable: keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

export function defaultHelperPath(): string {
  const root = findPackageRoot();
  return root === null ? HELPER_RELATIVE_PATH : join(root, HELPER_RELATIVE_PATH);
}
