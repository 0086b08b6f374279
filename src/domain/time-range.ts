/** A half-open time range [fromMs, toMs) in Unix milliseconds: the one shape every layer passes a window in. */
export interface TimeRange {
  readonly fromMs: number;
  readonly toMs: number;
}
