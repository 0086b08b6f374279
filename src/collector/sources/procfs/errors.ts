/** Why a /proc read failed, for callers that branch on it (and for the completeness record). */
export type ProcfsErrorCode =
  | 'PROC_UNREADABLE' // a file or directory the source needs could not be read
  | 'NETNS_UNRESOLVED' // a namespace link did not have the form net:[INODE]
  | 'BOOT_TIME_UNKNOWN'; // /proc/stat had no btime line

export class ProcfsError extends Error {
  override readonly name = 'ProcfsError';
  constructor(
    readonly code: ProcfsErrorCode,
    message: string,
    readonly context: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

/** errno code of a Node system error, if any. */
export function errnoCode(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** A process that exited between listing /proc and reading its files: normal, not an error. */
export function isVanished(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ESRCH';
}
