/**
 * V8 flags for a process that runs the collector alone (`npm run collect`, the collector service of
 * docker-compose.yml; keep those two in step with this list, and bench/collector-process uses it).
 *
 * --max-semi-space-size=2 (MiB): the first snapshot meets every socket as new, the objects it makes survive,
 * and V8 then grows the young generation to its 16 MiB default cap (three times that resident) just when
 * the old generation grows too. A collector's work comes once per interval and keeps little of what it
 * makes, so a small young generation costs nothing in steady state: measured over 20k sockets, the
 * start-up high-water mark fell from 126-132 MB to 108-111 MB and steady CPU did not rise (0.87% of a core).
 */
export const COLLECTOR_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=2']);
