/**
 * Holds a request's fleet-coverage batch until every root field has resolved. Coverage is asked from under
 * answers that finish at different times (two `talkers` aliases, a `coverage(range)` beside them); DataLoader's
 * usual one-tick batch would read the snapshots once per finishing answer. Waiting for the roots lets one
 * statement judge every window of the request. Per request: no state outlives it.
 */

export class RootGate {
  private pending = 0;
  private waiting: (() => void)[] = [];

  /** Counts a root field's result until it settles; sync results pass through uncounted. */
  track<T>(result: T): T {
    if (!isThenable(result)) return result;
    this.pending += 1;
    const done = (): void => {
      this.pending -= 1;
      if (this.pending === 0) this.release();
    };
    result.then(done, done);
    return result;
  }

  /** Runs fn once no root field is still resolving (a DataLoader batchScheduleFn). */
  whenIdle(fn: () => void): void {
    this.waiting.push(fn);
    if (this.pending === 0) this.release();
  }

  private release(): void {
    // After a macrotask: the fields under the last root resolve in the microtasks after it settles, and their
    // loads must still join the batch.
    setImmediate(() => {
      if (this.pending > 0 || this.waiting.length === 0) return;
      const run = this.waiting;
      this.waiting = [];
      for (const fn of run) fn();
    });
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
