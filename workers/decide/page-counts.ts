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

/** A random id for this isolate, made on first use (random values are not allowed at global scope). */
let isolate: string | undefined;
let pending = new Map<number, VersionCounts>();
let lastFlush = 0;

function countsFor(version: number): VersionCounts {
  let counts = pending.get(version);
  if (counts === undefined) {
    counts = { version, pages: 0, failedPages: 0, failedActions: 0, originErrors: 0, decideMs: 0, fallbacks: {} };
    pending.set(version, counts);
  }
  return counts;
}

/** A page decided with one version, to which failed actions are added as its body streams. */
export interface CountedPage {
  actionFailed(): void;
}

/** Counts one page; `fallbacks` are the journey's fallback reasons. */
export function countPage(version: number, page: { fallbacks: readonly string[]; originError: boolean; decideMs: number }): CountedPage {
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
  return {
    actionFailed() {
      // The counts may have been sent since: add to the current batch.
      const now = countsFor(version);
      now.failedActions++;
      if (!failed) now.failedPages++;
      failed = true;
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
