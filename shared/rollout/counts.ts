/**
 * What each isolate reports about the pages it served, per rules version: the guarded rollout's
 * evidence and the health view's figures. Parsed where it arrives (the registry's `report`).
 * @module
 */
import * as z from "../zod.ts";

const Count = z.int().check(z.gte(0), z.lte(1_000_000_000));

/** One version's pages since the isolate's last report. */
export const VersionCounts = z.strictObject({
  version: z.int().check(z.positive()),
  pages: Count,
  /** Pages with a fallback, a failed action or an origin error (see `isFault`). */
  failedPages: Count,
  /** Distinct visitors in this report (each counted once per version however many pages they saw). */
  visitors: z._default(Count, 0),
  /** Of those, visitors with at least one failed page. */
  failedVisitors: z._default(Count, 0),
  failedActions: Count,
  originErrors: Count,
  /** Sum of decision times, to average over `pages`. */
  decideMs: Count,
  /** Fallback stage (`model-missing`, `profile-unavailable`, …) → pages. */
  fallbacks: z
    .record(z.string().check(z.maxLength(64)), Count)
    .check(z.refine((stages) => Object.keys(stages).length <= 50, "too many stages")),
});
export type VersionCounts = z.infer<typeof VersionCounts>;

/** One isolate's batch of counts. */
export const CountsReport = z.strictObject({
  /** A random id per isolate, for "when did each isolate last refresh the rules". */
  isolate: z.string().check(z.minLength(1), z.maxLength(64)),
  serving: z.nullable(z.int().check(z.positive())),
  /** When the isolate last read the live pointer (ms since the epoch). */
  refreshedAt: z.nullable(z.int().check(z.gte(0))),
  versions: z.array(VersionCounts).check(z.maxLength(20)),
});
export type CountsReport = z.infer<typeof CountsReport>;

/**
 * Whether a fallback reason is a fault of the version: everything except an empty recommendation
 * list, which is content (a visitor with no history and no fallback items), not a failure.
 */
export function isFault(reason: string): boolean {
  return !reason.startsWith("recommendations-empty");
}

/** The stage a fallback reason belongs to: `model-missing:recs` → `model-missing`. */
export function fallbackStage(reason: string): string {
  return (reason.split(":", 1)[0] ?? reason).slice(0, 64);
}
