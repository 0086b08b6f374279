import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * Building the conntrack command line. Conntrack's table is per network namespace, so to read another
 * namespace the tool runs under `nsenter --net=<path>` (path: /var/run/netns/NAME or /proc/<pid>/ns/net).
 */

export interface ConntrackCommandOptions {
  /** The conntrack tool: a name looked up in PATH, or a path. */
  readonly binary?: string;
  readonly nsenterBinary?: string;
  /** Run inside this network namespace; the caller's own namespace when absent. */
  readonly netnsPath?: string;
}

export interface Command {
  readonly file: string;
  readonly args: readonly string[];
}

/** The absolute path of an executable named like a shell would find it, or null. */
export function resolveExecutable(name: string, pathVariable = process.env['PATH'] ?? ''): string | null {
  const candidates = name.includes('/') ? [name] : pathVariable.split(delimiter).filter((d) => d.length > 0).map((d) => join(d, name));
  for (const candidate of candidates) {
    if (!isAbsolute(candidate) && !name.includes('/')) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next directory
    }
  }
  return null;
}

/** The command that runs `conntrack <args>` (in the namespace if one is given). */
export function conntrackCommand(args: readonly string[], options: ConntrackCommandOptions = {}): Command {
  const binary = options.binary ?? 'conntrack';
  if (options.netnsPath === undefined) return { file: binary, args };
  return { file: options.nsenterBinary ?? 'nsenter', args: [`--net=${options.netnsPath}`, '--', binary, ...args] };
}

/** Why the command cannot run here, or null when its executables exist. */
export function missingExecutable(options: ConntrackCommandOptions = {}): string | null {
  const binary = options.binary ?? 'conntrack';
  if (resolveExecutable(binary) === null) return `conntrack tool not found (${binary})`;
  if (options.netnsPath !== undefined && resolveExecutable(options.nsenterBinary ?? 'nsenter') === null) {
    return `nsenter not found (${options.nsenterBinary ?? 'nsenter'}), needed to enter ${options.netnsPath}`;
  }
  return null;
}
