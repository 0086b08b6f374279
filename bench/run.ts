import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench [name...]`: runs the benchmarks one after another and prints their figures.
 * Each bench module exports run(report, options). Speed and memory goals are checked here, never in tests.
 * From the first argument starting with `--` on, arguments are options handed to every selected bench
 * (`npm run bench -- truth --full`).
 */
const BENCHES = ['ingest', 'procfs-snapshot', 'collector-steady', 'collector-process', 'ebpf-storm', 'api-talkers', 'truth', 'ui', 'storage'] as const;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const firstOption = args.findIndex((a) => a.startsWith('--'));
  const wanted = firstOption < 0 ? args : args.slice(0, firstOption);
  const options = firstOption < 0 ? [] : args.slice(firstOption);
  const names = wanted.length > 0 ? wanted : [...BENCHES];
  for (const name of names) {
    const file = new URL(`./${name}.js`, import.meta.url);
    if (!existsSync(fileURLToPath(file))) {
      process.stdout.write(`\n== ${name}: not present\n`);
      continue;
    }
    process.stdout.write(`\n== ${name}\n`);
    const started = Date.now();
    try {
      const mod = (await import(file.href)) as { run: (report: (line: string) => void, options: readonly string[]) => Promise<void> };
      await mod.run((line) => process.stdout.write(`${line}\n`), options);
      process.stdout.write(`   (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    } catch (err) {
      process.stdout.write(`   FAILED: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  }
  process.exit(process.exitCode ?? 0);
}

void main();
