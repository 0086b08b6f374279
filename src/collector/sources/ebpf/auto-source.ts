import type { SourceName } from '../../../domain/connection.js';
import type { SourceRun } from '../../../domain/snapshot.js';
import { errorMessage } from '../../errors.js';
import { silentLogger, type Logger } from '../../../domain/logger.js';
import type { ConnectionSource, SourceReading } from '../../source.js';

/**
 * eBPF while it lives, a fallback (the /proc source) for good once it does not: when the eBPF source
 * cannot load, or declares itself dead (its helper died twice within a minute). The switch happens
 * inside the read that notices it, which then also reads the fallback, so no interval goes unobserved.
 * Every SourceRun read from the fallback says why in `error`.
 */

/** What AutoSource needs of the eBPF source beyond the common interface. */
export interface SupervisedSource extends ConnectionSource {
  readonly dead: boolean;
  readonly deathReason: string | null;
}

export interface AutoSourceOptions {
  readonly createEbpf: () => Promise<SupervisedSource>;
  readonly fallback: ConnectionSource;
  readonly logger?: Logger;
}

function joinErrors(...parts: (string | null)[]): string | null {
  const kept = parts.filter((p): p is string => p !== null && p.length > 0);
  return kept.length > 0 ? kept.join('; ') : null;
}

export class AutoSource implements ConnectionSource {
  private ebpf: SupervisedSource | null;
  /** Why the fallback runs; null while eBPF does. */
  private reason: string | null;

  private constructor(ebpf: SupervisedSource | null, reason: string | null, private readonly fallback: ConnectionSource,
    private readonly logger: Logger) {
    this.ebpf = ebpf;
    this.reason = reason;
  }

  /** Tries to start eBPF; never fails for that reason (it falls back instead). */
  static async start(options: AutoSourceOptions): Promise<AutoSource> {
    const logger = options.logger ?? silentLogger;
    try {
      return new AutoSource(await options.createEbpf(), null, options.fallback, logger);
    } catch (err) {
      const reason = `ebpf unavailable (${errorMessage(err)}); using ${options.fallback.name}`;
      logger.warn({ source: 'auto', err: errorMessage(err), fallback: options.fallback.name }, 'eBPF source unavailable; falling back');
      return new AutoSource(null, reason, options.fallback, logger);
    }
  }

  /** The source that runs now. */
  get name(): SourceName {
    return this.ebpf !== null ? this.ebpf.name : this.fallback.name;
  }

  /** The eBPF source while it runs (for health checks); null once on the fallback. */
  get ebpfSource(): SupervisedSource | null {
    return this.ebpf;
  }

  /** Why the fallback runs, or null while eBPF does. */
  get fallbackReason(): string | null {
    return this.reason;
  }

  async read(signal: AbortSignal): Promise<SourceReading> {
    const ebpf = this.ebpf;
    if (ebpf === null) return this.readFallback(signal, null);
    const reading = await ebpf.read(signal);
    if (!ebpf.dead) return reading;
    this.ebpf = null;
    this.reason = `${ebpf.deathReason ?? 'ebpf source died'}; using ${this.fallback.name}`;
    this.logger.error({ source: 'auto', fallback: this.fallback.name }, this.reason);
    await ebpf.close().catch(() => undefined);
    return this.readFallback(signal, reading);
  }

  async close(): Promise<void> {
    await Promise.all([this.ebpf?.close(), this.fallback.close()]);
  }

  /** A fallback reading, joined with what eBPF still reported in the read where it died. */
  private async readFallback(signal: AbortSignal, last: SourceReading | null): Promise<SourceReading> {
    const r = await this.fallback.read(signal);
    const run: SourceRun = {
      ...r.run,
      durationMs: r.run.durationMs + (last?.run.durationMs ?? 0),
      skipped: r.run.skipped + (last?.run.skipped ?? 0),
      lost: r.run.lost + (last?.run.lost ?? 0),
      error: joinErrors(this.reason, last?.run.error ?? null, r.run.error),
    };
    if (last === null) return { ...r, run };
    return {
      observations: [...last.observations, ...r.observations],
      nat: [...last.nat, ...r.nat],
      listening: [...last.listening, ...r.listening],
      processes: [...last.processes, ...r.processes],
      run,
    };
  }
}
