import type { Snapshot } from '../domain/snapshot.js';
import { SnapshotRefusedError, type SnapshotSink } from '../collector/sink.js';
import { SnapshotWriter, StoreError, isDataError, type Database } from '../store/index.js';
import type { Log } from './log.js';

/**
 * The collector's sink, backed by the store's writer. Only a row-level data error (SQLSTATE class 22/23,
 * or the writer's own validation) becomes a refusal, which makes the collector drop the snapshot; every
 * other store error is passed on as it is, and the collector spools the snapshot to retry it later.
 * Rows the writer refused one by one are logged here and recorded in the snapshot's completeness record.
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
    let result;
    try {
      result = await this.writer.write(snapshot);
    } catch (err) {
      if (!isDataError(err)) throw err;
      const context = err instanceof StoreError ? err.context : {};
      throw new SnapshotRefusedError(`the store refused the snapshot's data: ${(err as Error).message}`,
        { ...context, hostId: snapshot.hostId, timeMs: snapshot.timeMs }, { cause: err });
    }
    if (result.rejected.length > 0) {
      this.log.warn({ hostId: snapshot.hostId, time: new Date(snapshot.timeMs).toISOString(), rejected: result.rejected.length, first: result.rejected[0] }, 'rows refused by the store');
    }
    if (!result.written) this.log.info({ hostId: snapshot.hostId, time: new Date(snapshot.timeMs).toISOString() }, 'snapshot was already stored (replay)');
  }
}
