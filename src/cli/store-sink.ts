import type { Snapshot } from '../domain/snapshot.js';
import type { SnapshotSink } from '../collector/sink.js';
import { SnapshotWriter, StoreError, type Database } from '../store/index.js';
import type { Log } from './log.js';

/**
 * The collector's sink, backed by the store's writer. Store errors already carry the code the collector
 * acts on (STORE_UNAVAILABLE: spool it); rows the writer refused are logged here and recorded in the
 * snapshot's completeness record by the writer itself.
 */
export class StoreSink implements SnapshotSink {
  private readonly writer: SnapshotWriter;
  private readonly log: Log;

  constructor(db: Database, log: Log) {
    this.writer = new SnapshotWriter(db);
    this.log = log;
  }

  async write(snapshot: Snapshot, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new StoreError('STORE_UNAVAILABLE', 'write abandoned: the interval ran out', { hostId: snapshot.hostId });
    const result = await this.writer.write(snapshot);
    if (result.rejected.length > 0) {
      this.log.warn({ hostId: snapshot.hostId, time: new Date(snapshot.timeMs).toISOString(), rejected: result.rejected.length, first: result.rejected[0] }, 'rows refused by the store');
    }
    if (!result.written) this.log.info({ hostId: snapshot.hostId, time: new Date(snapshot.timeMs).toISOString() }, 'snapshot was already stored (replay)');
  }
}
