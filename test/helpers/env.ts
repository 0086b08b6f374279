import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store, type StoreConfig } from '../../src/store/index.js';

/** A logger that keeps quiet unless CONNTRAIL_TEST_LOG is set (then it prints JSON lines). */
export const testLog = {
  info: (obj: object, msg?: string) => emit('info', obj, msg),
  warn: (obj: object, msg?: string) => emit('warn', obj, msg),
  error: (obj: object, msg?: string) => emit('error', obj, msg),
  debug: () => undefined,
};

function emit(level: string, obj: object, msg?: string): void {
  if (process.env.CONNTRAIL_TEST_LOG) process.stderr.write(`${JSON.stringify({ level, msg, ...obj })}\n`);
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `conntrail-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A real embedded store in a fresh data dir on a free port. */
export async function freshStore(config: Partial<StoreConfig> = {}): Promise<{ store: Store; dir: string; dispose(): Promise<void> }> {
  const dir = tempDir('store');
  const store = await openStore({ dataDir: dir.path, sqlPort: 0, maintenance: false, ...config }, testLog);
  return {
    store,
    dir: dir.path,
    async dispose() {
      await store.close();
      dir.remove();
      // The endpoint's generated secrets live beside the data dir.
      rmSync(`${dir.path}-secrets`, { recursive: true, force: true });
    },
  };
}
