/**
 * Per-version page counts, aggregated in isolate memory and sent to the rules registry at most
 * every `FLUSH_INTERVAL_MS`, in one batch, through `waitUntil`: a page never waits for them, and a
 * report that fails is logged and dropped (the guard then simply sees fewer pages).
 * @module
 */

import { type CountsReport, fallbackStage, isFault, type VersionCounts } from "../../shared/rollout/counts.ts";
import { placed } from "../common/placement.ts";
import { rulesStatus } from "../common/rules-store.ts";

/** How often an isolate reports at most. */
export const FLUSH_INTERVAL_MS = 2_000;

/**
 * Most visitors remembered per version in one report window. Past it, further visitors are not
 * counted for the guard (their pages still are, for the health view): counting them without
 * remembering them would let one visitor count many times again. Each entry is a pseudonym (a hash,
 * never sent anywhere) and a flag; 5,000 per 2 s window is far above one isolate's traffic.
 */
export const MAX_VISITORS_PER_VERSION = 5_000;

/** A random id for this isolate, made on first use (random values are not allowed at global scope). */
let isolate: string | undefined;
let pending = new Map<number, VersionCounts>();
/** Per version, the visitors counted in this window and whether one of their pages failed. */
let seen = new Map<number, Map<string, boolean>>();
let lastFlush = 0;

function countsFor(version: number): VersionCounts {
  let counts = pending.get(version);
  if (counts === undefined) {
    counts = {
      version,
      pages: 0,
      failedPages: 0,
      visitors: 0,
      failedVisitors: 0,
      failedActions: 0,
      originErrors: 0,
      decideMs: 0,
      fallbacks: {},
    };
    pending.set(version, counts);
  }
  return counts;
}

/**
 * Counts a visitor once per version and window, and as failed once if any of their pages failed:
 * the guard compares visitors, so one visitor's hundreds of pages weigh as one.
 */
function countVisitor(version: number, visitor: string, failed: boolean): void {
  let visitors = seen.get(version);
  if (visitors === undefined) {
    visitors = new Map();
    seen.set(version, visitors);
  }
  const before = visitors.get(visitor);
  const counts = countsFor(version);
  if (before === undefined) {
    if (visitors.size >= MAX_VISITORS_PER_VERSION) return;
    visitors.set(visitor, failed);
    counts.visitors++;
    if (failed) counts.failedVisitors++;
  } else if (failed && !before) {
    visitors.set(visitor, true);
    counts.failedVisitors++;
  }
}

/** A page decided with one version, to which failed actions are added as its body streams. */
export interface CountedPage {
  actionFailed(): void;
}

/** Counts one page; `visitor` is the visitor's pseudonym, `fallbacks` the journey's fallback reasons. */
export function countPage(
  version: number,
  page: { visitor: string; fallbacks: readonly string[]; originError: boolean; decideMs: number },
): CountedPage {
  const counts = countsFor(version);
  counts.pages++;
  counts.decideMs += Math.max(0, Math.round(page.decideMs));
  if (page.originError) counts.originErrors++;
  for (const reason of page.fallbacks) {
    const stage = fallbackStage(reason);
    counts.fallbacks[stage] = (counts.fallbacks[stage] ?? 0) + 1;
  }
  let failed = page.originError || page.fallbacks.some(isFault);
  if (failed) counts.failedPages++;
  countVisitor(version, page.visitor, failed);
  return {
    actionFailed() {
      // The counts may have been sent since: add to the current batch.
      const now = countsFor(version);
      now.failedActions++;
      if (!failed) now.failedPages++;
      failed = true;
      countVisitor(version, page.visitor, true);
    },
  };
}

/** The counts gathered since the last report, taken out of memory (null: nothing to send). */
export function takeCounts(): CountsReport | null {
  if (pending.size === 0) return null;
  const status = rulesStatus();
  isolate ??= crypto.randomUUID();
  const report: CountsReport = {
    isolate,
    serving: status.serving,
    refreshedAt: status.checkedAt,
    versions: [...pending.values()],
  };
  pending = new Map();
  seen = new Map();
  return report;
}

/** Sends the counts in the background when the last report is old enough; never awaited by a page. */
export function flushCountsLater(env: Pick<Env, "RULES_REGISTRY">, now: number, waitUntil: (promise: Promise<unknown>) => void): void {
  if (now - lastFlush < FLUSH_INTERVAL_MS) return;
  const report = takeCounts();
  if (report === null) return;
  lastFlush = now;
  waitUntil(
    placed(env.RULES_REGISTRY, env)
      .getByName("registry")
      .report(report)
      .catch((error: unknown) => console.error(JSON.stringify({ message: "page counts not reported", error: String(error) }))),
  );
}
