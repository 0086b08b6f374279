import { CollectorError } from './errors.js';

/**
 * Helpers to bound waits: a promise raced against an AbortSignal, so that a callee which ignores the signal
 * cannot hold up the loop. The loser is left running but its outcome is swallowed.
 */

export function abortReason(signal: AbortSignal, what: string): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new CollectorError('SOURCE_TIMEOUT', `${what} aborted`, { reason: String(reason) });
}

export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  // Whatever happens to the loser later must not surface as an unhandled rejection.
  promise.catch(() => undefined);
  if (signal.aborted) return Promise.reject(abortReason(signal, what));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal, what));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (err: unknown) => { signal.removeEventListener('abort', onAbort); reject(err); },
    );
  });
}

export interface Deadline {
  readonly signal: AbortSignal;
  /** Releases the timer and the link to the parent signal once the guarded work is over. */
  dispose(): void;
}

/** A signal that aborts after `ms` with a typed timeout error, or earlier when `parent` aborts. */
export function deadline(ms: number, code: 'SOURCE_TIMEOUT' | 'SINK_TIMEOUT', what: string, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new CollectorError(code, `${what} timed out after ${ms} ms`, { timeoutMs: ms })), ms);
  const onParentAbort = (): void => controller.abort(parent?.reason);
  if (parent?.aborted) onParentAbort();
  else parent?.addEventListener('abort', onParentAbort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParentAbort);
    },
  };
}
