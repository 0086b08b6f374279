import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * Three real hosts on this machine, built from network namespaces, veth pairs and iptables:
 *
 *   client (10.77.1.2) --- router (10.77.1.1 | 10.77.2.1) --- server (10.77.2.2)
 *                               |  DNAT  VIP 10.77.100.100:80 -> 10.77.2.2:8080
 *                               |  MASQUERADE 10.77.1.0/24 out of the server link (client -> 10.77.2.1)
 *   root namespace (10.77.3.2) --- router (10.77.3.1): the management link the tests query the API over
 *
 * Names carry a run id so two runs never collide; teardown removes everything and is safe to call twice.
 */
const run = promisify(execFile);

export interface Topology {
  readonly id: string;
  readonly ns: { readonly client: string; readonly router: string; readonly server: string };
  readonly addr: {
    readonly client: string; readonly routerClientSide: string; readonly routerServerSide: string;
    readonly server: string; readonly vip: string; readonly routerManagement: string; readonly rootManagement: string;
  };
  readonly vipPort: number;
  readonly serverPort: number;
  /** Spawns a command inside a namespace. */
  spawnIn(ns: string, command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  execIn(ns: string, command: string, args: readonly string[], timeoutMs?: number): Promise<string>;
  teardown(): Promise<void>;
}

async function sh(args: readonly string[], timeoutMs = 20_000): Promise<string> {
  const [cmd, ...rest] = args;
  const { stdout } = await run(cmd ?? 'true', rest, { timeout: timeoutMs });
  return stdout;
}

/**
 * `subnet` is the second octet of every address (10.<subnet>.x.y): the management link's root end lives in the
 * shared root namespace, so two topologies built at once (different test files) must not use the same one.
 * `hostConntrack` loads conntrack in the client's and the server's namespaces too, as on a Docker host.
 */
export interface TopologyOptions {
  readonly runId?: string;
  readonly subnet?: number;
  readonly hostConntrack?: boolean;
}

export async function buildTopology(options: TopologyOptions = {}): Promise<Topology> {
  const id = options.runId ?? `${process.pid % 100000}`;
  const ns = { client: `ctc${id}`, router: `ctr${id}`, server: `cts${id}` };
  const link = (name: string): string => `${name}${id}`.slice(0, 15);
  const net = `10.${options.subnet ?? 77}`;
  const addr = {
    client: `${net}.1.2`, routerClientSide: `${net}.1.1`, routerServerSide: `${net}.2.1`, server: `${net}.2.2`,
    vip: `${net}.100.100`, routerManagement: `${net}.3.1`, rootManagement: `${net}.3.2`,
  };
  const vipPort = 80;
  const serverPort = 8080;
  const created: string[] = [];
  const rootLink = link('ctm');

  const teardown = async (): Promise<void> => {
    for (const name of [ns.client, ns.router, ns.server]) {
      await run('ip', ['netns', 'pids', name]).then(async ({ stdout }) => {
        for (const pid of stdout.split('\n').filter(Boolean)) {
          try { process.kill(Number(pid), 'SIGKILL'); } catch { /* already gone */ }
        }
      }).catch(() => undefined);
      await run('ip', ['netns', 'del', name]).catch(() => undefined);
    }
    // The root end of the management link goes away with its peer; delete it explicitly if it remains.
    await run('ip', ['link', 'del', rootLink]).catch(() => undefined);
  };

  const inNs = (name: string, ...cmd: string[]): Promise<string> => sh(['ip', 'netns', 'exec', name, ...cmd]);
  try {
    await teardown();
    for (const name of [ns.client, ns.router, ns.server]) {
      await sh(['ip', 'netns', 'add', name]);
      created.push(name);
      await inNs(name, 'ip', 'link', 'set', 'lo', 'up');
    }
    const pair = async (a: string, aNs: string, aAddr: string, b: string, bNs: string | null, bAddr: string): Promise<void> => {
      await sh(['ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
      await sh(['ip', 'link', 'set', a, 'netns', aNs]);
      await inNs(aNs, 'ip', 'addr', 'add', `${aAddr}/24`, 'dev', a);
      await inNs(aNs, 'ip', 'link', 'set', a, 'up');
      if (bNs) {
        await sh(['ip', 'link', 'set', b, 'netns', bNs]);
        await inNs(bNs, 'ip', 'addr', 'add', `${bAddr}/24`, 'dev', b);
        await inNs(bNs, 'ip', 'link', 'set', b, 'up');
      } else {
        await sh(['ip', 'addr', 'add', `${bAddr}/24`, 'dev', b]);
        await sh(['ip', 'link', 'set', b, 'up']);
      }
    };
    await pair(link('ctc0'), ns.client, addr.client, link('ctr1'), ns.router, addr.routerClientSide);
    await pair(link('cts0'), ns.server, addr.server, link('ctr2'), ns.router, addr.routerServerSide);
    await pair(link('ctr3'), ns.router, addr.routerManagement, rootLink, null, addr.rootManagement);
    await inNs(ns.client, 'ip', 'route', 'add', 'default', 'via', addr.routerClientSide);
    await inNs(ns.server, 'ip', 'route', 'add', 'default', 'via', addr.routerServerSide);
    await inNs(ns.router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    await inNs(ns.router, 'iptables', '-t', 'nat', '-A', 'PREROUTING', '-d', addr.vip, '-p', 'tcp', '--dport', String(vipPort),
      '-j', 'DNAT', '--to-destination', `${addr.server}:${serverPort}`);
    await inNs(ns.router, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', `${net}.1.0/24`, '-o', link('ctr2'), '-j', 'MASQUERADE');
    if (options.hostConntrack) {
      // A stateful rule (as Docker's) makes the kernel track every flow of the namespace; an empty nat rule does not.
      for (const name of [ns.client, ns.server]) await inNs(name, 'iptables', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
    }
  } catch (err) {
    await teardown();
    throw err;
  }

  return {
    id, ns, addr, vipPort, serverPort,
    spawnIn(name, command, args, options = {}) {
      return spawn('ip', ['netns', 'exec', name, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    },
    execIn(name, command, args, timeoutMs) {
      return sh(['ip', 'netns', 'exec', name, command, ...args], timeoutMs);
    },
    teardown,
  };
}
