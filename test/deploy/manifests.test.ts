import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseCommand, type Command } from '../../src/cli/args.js';
import { COLLECTOR_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { ENVIRONMENT } from '../../src/cli/settings.js';

/**
 * The Kubernetes manifests parsed as YAML and held against the code: every container runs the CLI with options it
 * accepts (parsed by the CLI's own parser, environment included), one image at the package's version, only
 * environment variables the CLI reads (or that its arguments reference), ports and probes where the options put
 * them, and the collector with exactly the capabilities it needs.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIR = `${ROOT}deploy/kubernetes`;
const PKG = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string; bin: { conntrail: string } };
const COLLECTOR_CAPABILITIES = ['BPF', 'DAC_READ_SEARCH', 'NET_ADMIN', 'PERFMON', 'SYS_PTRACE'];

interface EnvEntry { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } } }
interface Probe { httpGet?: { path: string; port: string | number }; tcpSocket?: { port: string | number } }
interface Container {
  name: string; image: string; command: string[]; args: string[]; env?: EnvEntry[];
  ports?: { name: string; containerPort: number }[]; readinessProbe?: Probe; livenessProbe?: Probe;
  securityContext?: { privileged?: boolean; runAsNonRoot?: boolean; capabilities?: { drop?: string[]; add?: string[] } };
}
interface PodSpec { hostNetwork?: boolean; hostPID?: boolean; containers: Container[] }
interface Manifest { kind: string; metadata: { name: string }; spec: { template?: { spec: PodSpec }; ports?: { port: number; targetPort: string | number }[] } }

function manifests(): Manifest[] {
  return readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).flatMap((f) => {
    const docs = parseAllDocuments(readFileSync(`${DIR}/${f}`, 'utf8'));
    return docs.map((d) => {
      assert.deepEqual(d.errors, [], `${f} parses`);
      return d.toJS() as Manifest;
    });
  });
}

function workload(all: Manifest[], kind: string, name: string): { manifest: Manifest; pod: PodSpec; container: Container } {
  const manifest = all.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(manifest, `${kind} ${name} exists`);
  const pod = manifest.spec.template!.spec;
  assert.equal(pod.containers.length, 1);
  return { manifest, pod, container: pod.containers[0]! };
}

/** The container's environment as the CLI would see it: downward-API and secret values stand in as placeholders. */
function environment(c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = `downward-${e.valueFrom.fieldRef.fieldPath}`;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = e.name === 'DATABASE_URL' ? `postgres://secret@db/${e.valueFrom.secretKeyRef.key}` : `secret-${e.valueFrom.secretKeyRef.key}-0123456789`;
  }
  return env;
}

/** What the container runs, parsed by the CLI: node flags, then main.js, then the command line ($(VAR) expanded as Kubernetes does). */
function cli(c: Container): { flags: string[]; command: Command; env: Record<string, string> } {
  const env = environment(c);
  assert.equal(c.command[0], 'node');
  const main = c.command.indexOf(PKG.bin.conntrail);
  assert.ok(main > 0, `${c.name} runs ${PKG.bin.conntrail}`);
  const args = [...c.command.slice(main + 1), ...c.args].map((a) => a.replace(/\$\((\w+)\)/g, (_, name: string) => {
    assert.ok(name in env, `${c.name}: $(${name}) is defined in env`);
    return env[name]!;
  }));
  const referenced = new Set([...c.args.join(' ').matchAll(/\$\((\w+)\)/g)].map((m) => m[1]!));
  const known = new Set(ENVIRONMENT.map((v) => v.name));
  for (const name of Object.keys(env)) assert.ok(known.has(name) || referenced.has(name), `${c.name}: ${name} is read by the CLI or used in its arguments`);
  return { flags: c.command.slice(1, main), command: parseCommand(args, env), env };
}

function portOf(c: Container, ref: string | number | undefined): number | undefined {
  return typeof ref === 'number' ? ref : c.ports?.find((p) => p.name === ref)?.containerPort;
}

test('every workload runs the same image, at the package version', () => {
  const images = manifests().flatMap((m) => m.spec.template?.spec.containers.map((c) => c.image) ?? []);
  assert.ok(images.length >= 3);
  for (const image of images) assert.equal(image, `conntrail:${PKG.version}`);
});

test('the collector DaemonSet: options the CLI accepts, host id from the downward API, health and metrics on its port, minimum capabilities', () => {
  const { pod, container } = workload(manifests(), 'DaemonSet', 'conntrail-collector');
  const { flags, command, env } = cli(container);
  assert.deepEqual(flags, [...COLLECTOR_NODE_FLAGS], 'the collector node flags of src/cli/node-flags.ts');
  assert.ok(command.name === 'collect');
  assert.equal(command.collector.hostId, 'downward-spec.nodeName', 'the host id is the node name');
  assert.equal(command.store.databaseUrl, env.DATABASE_URL, 'the collector writes to a server');
  assert.equal(command.collector.metricsListen, '0.0.0.0', 'metrics reachable from outside the pod');
  const metricsPort = portOf(container, 'metrics');
  assert.equal(command.collector.metricsPort, metricsPort);
  assert.equal(container.readinessProbe?.httpGet?.path, '/healthz');
  assert.equal(portOf(container, container.readinessProbe?.httpGet?.port), metricsPort);
  assert.equal(portOf(container, container.livenessProbe?.httpGet?.port), metricsPort);
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.hostPID, true);
  const sc = container.securityContext!;
  assert.notEqual(sc.privileged, true);
  assert.deepEqual(sc.capabilities?.drop, ['ALL']);
  assert.deepEqual([...(sc.capabilities?.add ?? [])].sort(), COLLECTOR_CAPABILITIES);
  assert.ok(command.collector.spoolDir.startsWith('/var/lib/conntrail/spool'));
});

test('the API Deployment and Service: options the CLI accepts, a token off loopback, one port end to end, no capabilities', () => {
  const all = manifests();
  const { container } = workload(all, 'Deployment', 'conntrail-api');
  const { command, env } = cli(container);
  assert.ok(command.name === 'serve');
  assert.equal(command.api.listen, '0.0.0.0');
  assert.equal(command.api.token, env.API_TOKEN);
  assert.equal(command.store.databaseUrl, env.DATABASE_URL);
  const port = portOf(container, 'http');
  assert.equal(command.api.port, port);
  assert.equal(portOf(container, container.readinessProbe?.httpGet?.port), port);
  assert.equal(container.readinessProbe?.httpGet?.path, '/healthz');
  const service = all.find((m) => m.kind === 'Service' && m.metadata.name === 'conntrail-api');
  assert.ok(service);
  assert.equal(portOf(container, service.spec.ports![0]!.targetPort), port);
  assert.equal(container.securityContext?.runAsNonRoot, true);
  assert.deepEqual(container.securityContext?.capabilities, { drop: ['ALL'] });

  // Without the token the CLI refuses the API's command line: the manifest's token is what makes it start.
  const tokenless = { ...container, env: container.env?.filter((e) => e.name !== 'API_TOKEN') };
  assert.throws(() => cli(tokenless), /TOKEN_REQUIRED/);
});

test('the migration Job runs migrate against a server', () => {
  const { container } = workload(manifests(), 'Job', 'conntrail-migrate');
  const { command, env } = cli(container);
  assert.ok(command.name === 'migrate');
  assert.equal(command.store.databaseUrl, env.DATABASE_URL);
});

test('.dockerignore keeps installed and built files out of the image, and the image refuses to build without the eBPF helper', () => {
  const ignored = readFileSync(`${ROOT}.dockerignore`, 'utf8').split('\n').map((l) => l.trim());
  for (const path of ['node_modules', 'dist', 'data', '.git', 'bpf/conntrail-bpf']) assert.ok(ignored.includes(path), `.dockerignore lists ${path}`);
  assert.match(readFileSync(`${ROOT}Dockerfile`, 'utf8'), /npm run build:bpf && \{ test -x bpf\/conntrail-bpf \|\| \{[^}]*exit 1; \}; \}/);
});
