/** Why conntrack could not be read, for callers that branch on it. */
export type ConntrackErrorCode =
  | 'CONNTRACK_UNAVAILABLE' // neither the conntrack tool nor /proc/net/nf_conntrack can be used
  | 'CONNTRACK_FAILED' // the tool ran but failed (non-zero exit, killed, timed out)
  | 'CONNTRACK_STOPPED'; // the stream was stopped before it subscribed

export class ConntrackError extends Error {
  override readonly name = 'ConntrackError';
  constructor(
    readonly code: ConntrackErrorCode,
    message: string,
    readonly context: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}
