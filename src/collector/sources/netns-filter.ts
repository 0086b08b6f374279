import type { ProcessKey } from '../../domain/connection.js';
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
    const ours = (x: { readonly netns: number }): boolean => x.netns === this.netns;
    // Usually everything is ours already (a /proc source reading its own namespace): no copies then.
    const observations = reading.observations.every(ours) ? reading.observations : reading.observations.filter(ours);
    const listening = reading.listening.every(ours) ? reading.listening : reading.listening.filter(ours);
    // Owner keys are mostly shared objects: dedupe by identity before making a text key per owner.
    const keys = new Set<ProcessKey>();
    // Indexed loops: for-of makes an iterator result per element wherever the loop is not optimised.
    for (let i = 0; i < observations.length; i++) {
      const p = (observations[i] as (typeof observations)[number]).process;
      if (p) keys.add(p);
    }
    for (let i = 0; i < listening.length; i++) {
      const p = (listening[i] as (typeof listening)[number]).process;
      if (p) keys.add(p);
    }
    const owners = new Set<string>();
    keys.forEach((k) => owners.add(`${k.pid}/${k.startedAtMs}`));
    return {
      observations,
      listening,
      nat: reading.nat.filter(ours),
      processes: reading.processes.filter((p) => owners.has(`${p.pid}/${p.startedAtMs}`)),
      run: reading.run,
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
