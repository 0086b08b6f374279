/**
 * Coverage of an answer: which hosts had a completeness record in the window it read, which had gaps or
 * incomplete records. Resolved only when asked, through the per-request fleetCoverage loader (one statement
 * for all the windows asked together), so answers that do not ask pay nothing.
 */
import type { HostGapReport } from '../../domain/fleet-coverage.js';
import type { TimeRange } from '../../store/index.js';
import type { ApiContext } from '../context.js';
import { checkRange } from '../limits.js';
import type { QueryCoverageArgs } from '../generated/graphql.js';
import { hostRef, windowOf, type HostParent, type WindowParent } from './shapes.js';

/** What a Coverage field needs: the window the answer actually read. */
export interface CoverageParent {
  readonly window: TimeRange;
}

export function coverageOf(window: TimeRange): CoverageParent {
  return { window };
}

/**
 * The window `resolve` looks at: at ± within. Never empty: within 0 asks about the instant `at`, which a record
 * stamped exactly `at` covers (a record covers (time - interval, time]), hence the millisecond on both sides.
 */
export function resolveWindow(atMs: number, withinMs: number): TimeRange {
  const half = Math.max(withinMs, 1);
  return { fromMs: atMs - half, toMs: atMs + half };
}

/** What `resolve` hands its Resolved fields: the targets it found and the window it looked at. */
export interface ResolvedParent {
  readonly translated: boolean;
  readonly targets: readonly unknown[];
  readonly coverageWindow: TimeRange;
}

/**
 * No translation is only "the address itself" when some host recorded that time; with no record at all the
 * honest answer is NO_DATA, not SELF. A translation is itself a record, so a translated answer always stands.
 */
async function noData(r: ResolvedParent, ctx: ApiContext): Promise<boolean> {
  if (r.translated) return false;
  return (await ctx.loaders.fleetCoverage.load(r.coverageWindow)).hostsReporting.length === 0;
}

export const coverageQueries = {
  coverage(_: unknown, args: QueryCoverageArgs, ctx: ApiContext): CoverageParent {
    return coverageOf(checkRange(args.range, ctx.limits.maxAggregateRangeMs, 'coverage'));
  },
};

export const coverageTypes = {
  Coverage: {
    range: (c: CoverageParent): WindowParent => windowOf(c.window),
    complete: async (c: CoverageParent, _: unknown, ctx: ApiContext) => (await ctx.loaders.fleetCoverage.load(c.window)).complete,
    hostsReporting: async (c: CoverageParent, _: unknown, ctx: ApiContext): Promise<HostParent[]> =>
      (await ctx.loaders.fleetCoverage.load(c.window)).hostsReporting.map((id) => ({ id })),
    hostsWithGaps: async (c: CoverageParent, _: unknown, ctx: ApiContext) => (await ctx.loaders.fleetCoverage.load(c.window)).hostsWithGaps,
    recordsKeptFrom: async (c: CoverageParent, _: unknown, ctx: ApiContext) => (await ctx.loaders.fleetCoverage.load(c.window)).recordsKeptFromMs,
  },
  HostGap: {
    host: (g: HostGapReport) => hostRef(g.hostId),
    gaps: (g: HostGapReport) => g.gaps.map(windowOf),
    firstGap: (g: HostGapReport) => (g.gaps[0] ? windowOf(g.gaps[0]) : null),
    firstIncomplete: (g: HostGapReport) => (g.firstIncomplete ? windowOf(g.firstIncomplete) : null),
  },
  TalkerGraph: {
    coverage: (g: { range: WindowParent }): CoverageParent => coverageOf({ fromMs: g.range.from, toMs: g.range.to }),
  },
  Resolved: {
    status: async (r: ResolvedParent, _: unknown, ctx: ApiContext): Promise<'OK' | 'NO_DATA'> => ((await noData(r, ctx)) ? 'NO_DATA' : 'OK'),
    targets: async (r: ResolvedParent, _: unknown, ctx: ApiContext): Promise<readonly unknown[]> => ((await noData(r, ctx)) ? [] : r.targets),
    coverage: (r: ResolvedParent): CoverageParent => coverageOf(r.coverageWindow),
  },
  ConnectionConnection: {
    // Only the top-level `connections` knows its window; nested connection lists answer null.
    coverage: (c: { window?: TimeRange }): CoverageParent | null => (c.window ? coverageOf(c.window) : null),
  },
};
