import { CollectorError } from '../../errors.js';
import type { Logger } from '../../../domain/logger.js';
import type { ConnectionSource } from '../../source.js';
import { AutoSource, type SupervisedSource } from './auto-source.js';

/** `--source auto|ebpf|procfs`: which connection source the collector runs. */
export type SourceMode = 'auto' | 'ebpf' | 'procfs';

export const SOURCE_MODES: readonly SourceMode[] = Object.freeze(['auto', 'ebpf', 'procfs'] as const);

export function parseSourceMode(text: string): SourceMode {
  const mode = SOURCE_MODES.find((m) => m === text);
  if (mode === undefined) {
    throw new CollectorError('CONFIG_INVALID', `--source must be one of ${SOURCE_MODES.join(', ')}, not ${JSON.stringify(text)}`,
      { value: text });
  }
  return mode;
}

export interface SourceModeFactories {
  /** Starts the eBPF source; rejects when its helper cannot load. */
  readonly ebpf: () => Promise<SupervisedSource>;
  readonly procfs: () => ConnectionSource | Promise<ConnectionSource>;
  readonly logger?: Logger;
}

/**
 * auto: eBPF when it loads, else /proc, and /proc for good once eBPF dies twice within a minute.
 * ebpf: eBPF or a loud failure (the rejection says why it did not load). procfs: /proc only.
 */
export async function createSourceForMode(mode: SourceMode, factories: SourceModeFactories): Promise<ConnectionSource> {
  switch (mode) {
    case 'procfs':
      return factories.procfs();
    case 'ebpf':
      return factories.ebpf();
    case 'auto':
      return AutoSource.start({
        createEbpf: factories.ebpf,
        fallback: await factories.procfs(),
        ...(factories.logger ? { logger: factories.logger } : {}),
      });
  }
}
