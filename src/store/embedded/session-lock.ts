/**
 * The embedded database has one backend session, so clients take turns: a client holds the session from
 * its first message until the backend is idle again (ReadyForQuery 'I'), which keeps every transaction
 * and every extended-protocol exchange whole. Waiters are served in arrival order.
 */
export class SessionLock {
  private ownerId: number | null = null;
  private readonly waiters: Array<{ id: number; resolve: () => void; reject: (err: Error) => void }> = [];

  get owner(): number | null {
    return this.ownerId;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  acquire(id: number): Promise<void> {
    if (this.ownerId === id) return Promise.resolve();
    if (this.ownerId === null) {
      this.ownerId = id;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.waiters.push({ id, resolve, reject }));
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
