/**
 * Everything a client controls is bounded: how long it may take to log in and how much it may send before,
 * how many connect, how big a reply may get, and how long it holds the one engine session once it has it
 * (counted from the moment it takes it, not from its last message: a client that keeps a transaction open
 * and sends `select 1` every few seconds is still cut off).
 */
export interface GatewayLimits {
  /** From connect to AuthenticationOk. */
  readonly authTimeoutMs: number;
  /** Largest startup packet or authentication message before login. */
  readonly maxAuthMessageBytes: number;
  /** Messages a client may send before login (SSLRequest, startup, the two SCRAM messages). */
  readonly maxAuthMessages: number;
  /** Connections still logging in; more are closed at once. */
  readonly maxPendingClients: number;
  /** Logged-in connections in all. */
  readonly maxClients: number;
  /** Of maxClients, kept for the logins marked reserved (the collector's writer, the in-process admin). */
  readonly reservedClients: number;
  /** Largest message after login. */
  readonly maxMessageBytes: number;
  /** Largest reply to one message; a larger one ends the connection instead of being sent. */
  readonly maxReplyBytes: number;
  /** Longest one client holds the engine (a transaction, an extended-protocol exchange) from taking it. */
  readonly maxHoldMs: number;
  /**
   * The same for the reserved logins (the writer): a large snapshot on a loaded machine may take longer
   * than a BI turn, and cutting it off (or restarting the engine under it) would only make it retry.
   */
  readonly maxReservedHoldMs: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  authTimeoutMs: 10_000,
  maxAuthMessageBytes: 2048,
  maxAuthMessages: 6,
  maxPendingClients: 16,
  maxClients: 64,
  reservedClients: 4,
  maxMessageBytes: 64 * 1024 * 1024,
  maxReplyBytes: 256 * 1024 * 1024,
  maxHoldMs: 10_000,
  maxReservedHoldMs: 60_000,
};
