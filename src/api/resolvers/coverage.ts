/**
 * Coverage of an answer: which hosts had a completeness record in the window it read, which had gaps or
 * incomplete records. Resolved only when asked, through the per-request fleetCoverage loader (one statement
 * per distinct window), so answers that do not ask pay nothing.
 */
import type { HostGapReport } from '../../domain/fleet-coverage.js';
import type { TimeWindow } from '../../store/queries/index.js';
import type { ApiContext } from '../context.js';
import { checkRange, type RangeInput } from '../limits.js';
import { hostRef, windowOf, type HostParent, type WindowParent } from './shapes.js';

/** What a Coverage field needs: the window the answer actually read. */
export interface CoverageParent {
  readonly window: TimeWindow;
}

export function coverageOf(window: TimeWindow): CoverageParent {
  return { window };
}

/** The window `resolve` looks at: at ± within, never empty (within 0 still asks about the instant `at`). */
export function resolveWindow(atMs: number, withinMs: number): TimeWindow {
  return { fromMs: atMs - withinMs, toMs: atMs + Math.max(withinMs, 1) };
}

export const coverageQueries = {
  coverage(_: unknown, args: { range: RangeInput }, ctx: ApiContext): CoverageParent {
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
  },
  HostGap: {
    host: (g: HostGapReport) => hostRef(g.hostId),
    gaps: (g: HostGapReport) => g.gaps.map(windowOf),
    firstGap: (g: HostGapReport) => (g.gaps[0] ? windowOf(g.gaps[0]) : null),
    firstIncomplete: (g: HostGapReport) => g.firstIncompleteMs,
  },
  TalkerGraph: {
    coverage: (g: { range: WindowParent }): CoverageParent => coverageOf({ fromMs: g.range.from, toMs: g.range.to }),
  },
  Resolved: {
    coverage: (r: { coverageWindow: TimeWindow }): CoverageParent => coverageOf(r.coverageWindow),
  },
  ConnectionConnection: {
    // Only the top-level `connections` knows its window; nested connection lists answer null.
    coverage: (c: { window?: TimeWindow }): CoverageParent | null => (c.window ? coverageOf(c.window) : null),
  },
};
