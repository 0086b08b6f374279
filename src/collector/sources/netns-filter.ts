import type { ConnectionSource, SourceReading } from '../source.js';

/**
 * Keeps one network namespace of a source that sees them all (eBPF sees every namespace of the kernel).
 * `--netns self` uses it so that each namespace can play a separate host, as the multi-host tests do.
 */
export class NetnsFilterSource implements ConnectionSource {
  readonly name;
  private readonly inner: ConnectionSource;
  private readonly netns: number;

  constructor(inner: ConnectionSource, netns: number) {
    this.inner = inner;
    this.netns = netns;
    this.name = inner.name;
  }

  async read(signal: AbortSignal): Promise<SourceReading> {
    const reading = await this.inner.read(signal);
    const observations = reading.observations.filter((o) => o.netns === this.netns);
    const listening = reading.listening.filter((l) => l.netns === this.netns);
    const owners = new Set<string>();
    for (const o of observations) if (o.process) owners.add(`${o.process.pid}/${o.process.startedAtMs}`);
    for (const l of listening) if (l.process) owners.add(`${l.process.pid}/${l.process.startedAtMs}`);
    return {
      observations,
      listening,
      nat: reading.nat.filter((n) => n.netns === this.netns),
      processes: reading.processes.filter((p) => owners.has(`${p.pid}/${p.startedAtMs}`)),
      run: reading.run,
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
