import type { SourceRun } from '../../domain/snapshot.js';
import type { Logger } from '../../domain/logger.js';
import type { ConnectionSource, SourceReading } from '../source.js';
import { NamespaceConntrackTables, type NamespaceTablesOptions } from './conntrack/namespace-tables.js';

/**
 * Conntrack of every network namespace (`--netns all`): our own namespace's table through the event-streamed
 * source, every other namespace's translations polled once per interval (see NamespaceConntrackTables), in one
 * reading and one completeness record. Vanished namespaces and unparsable lines count as skipped, namespaces
 * the budget left unread as lost, and tables that could not be read are named in the run's error.
 */
export interface AllNetnsConntrackOptions extends NamespaceTablesOptions {
  readonly logger: Logger;
}

export class AllNetnsConntrackSource implements ConnectionSource {
  readonly name = 'conntrack' as const;
  private readonly own: ConnectionSource;
  private readonly tables: NamespaceConntrackTables;
  private readonly logger: Logger;

  constructor(own: ConnectionSource, options: AllNetnsConntrackOptions) {
    this.own = own;
    this.tables = new NamespaceConntrackTables(options);
    this.logger = options.logger;
  }

  async read(signal: AbortSignal): Promise<SourceReading> {
    const [mine, others] = await Promise.all([this.own.read(signal), this.tables.read(signal)]);
    if (others.failures.length > 0 || others.deferred > 0) {
      this.logger.warn({ failures: others.failures.slice(0, 5), deferred: others.deferred, read: others.read }, 'conntrack: some namespaces\' tables were not read this interval');
    }
    const problems = [
      ...(mine.run.error ? [mine.run.error] : []),
      ...(others.deferred > 0 ? [`${others.deferred} namespace table(s) deferred to the next interval (read budget spent)`] : []),
      ...others.failures.slice(0, 3),
    ];
    const run: SourceRun = {
      name: 'conntrack',
      ok: mine.run.ok && others.failures.length === 0,
      durationMs: Math.max(mine.run.durationMs, others.durationMs),
      skipped: mine.run.skipped + others.malformed + others.vanished,
      lost: mine.run.lost + others.deferred,
      error: problems.length > 0 ? problems.join('; ') : null,
    };
    return { ...mine, nat: [...mine.nat, ...others.nat], run };
  }

  close(): Promise<void> {
    return this.own.close();
  }
}
