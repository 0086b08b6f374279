/**
 * Whether an API listen address is loopback only. Apart from server.ts so the command line can refuse an
 * unsafe setting before it opens anything, without loading Apollo.
 */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::ffff:127.0.0.1';
}
