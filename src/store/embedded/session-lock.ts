/**
 * The embedded database has one backend session, so clients take turns: a client holds the session from
 * its first message until the backend is idle again (ReadyForQuery 'I'), which keeps every transaction
 * and every extended-protocol exchange whole. Waiters are served in arrival order, except that priority
 * waiters (the collector's writer) go ahead of the others, so a queue of BI clients cannot delay a snapshot
 * by more than the one holder's turn.
 */
export class SessionLock {
  private ownerId: number | null = null;
  private readonly waiters: Array<{ id: number; priority: boolean; resolve: () => void; reject: (err: Error) => void }> = [];

  get owner(): number | null {
    return this.ownerId;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  acquire(id: number, priority = false): Promise<void> {
    if (this.ownerId === id) return Promise.resolve();
    if (this.ownerId === null) {
      this.ownerId = id;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = { id, priority, resolve, reject };
      const at = priority ? this.waiters.findIndex((w) => !w.priority) : -1;
      if (at < 0) this.waiters.push(waiter);
      else this.waiters.splice(at, 0, waiter);
    });
  }

  release(id: number): void {
    if (this.ownerId !== id) return;
    const next = this.waiters.shift();
    this.ownerId = next ? next.id : null;
    next?.resolve();
  }

  /** Drops a client that left while waiting. */
  cancel(id: number, reason: Error): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i];
      if (waiter && waiter.id === id) {
        this.waiters.splice(i, 1);
        waiter.reject(reason);
      }
    }
  }
}
