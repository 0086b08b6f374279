/**
 * Loopback addresses (127.0.0.0/8, ::1, their v4-mapped form) and the name localhost. A tuple with one never
 * leaves the namespace it was sent in; a listener on one is reachable from this host only.
 */
export function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}
