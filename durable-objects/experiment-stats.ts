/**
 * Live counts for one experiment: per variant, trials (exposures), successes (clicks in the
 * experiment's slot), conversions and revenue — updated by the feedback consumer as each batch is
 * delivered, read by the decision step (cached for seconds) for Thompson sampling, and checked for
 * sample ratio mismatch. Updates carry the upstream record id and are applied once, because queue
 * delivery is at least once. Each update is checked on its own: a malformed one is dropped (and
 * logged as a count), the rest of its batch still counts, and revenue is capped per update at
 * `MAX_CONVERSION_VALUE`.
 * @module
 */

import { DurableObject } from "cloudflare:workers";
import { type SrmResult, sampleRatioMismatch } from "../shared/experiments/srm.ts";
import { MAX_CONVERSION_VALUE } from "../shared/feedback/attribution.ts";
import * as z from "../shared/zod.ts";
import { recordSampleRatioMismatch } from "../workers/common/analytics.ts";
import { type Migrations, migrate } from "./sql-migrations.ts";

const MIGRATIONS: Migrations = [
  [
    "CREATE TABLE variants (variant TEXT PRIMARY KEY, trials INTEGER NOT NULL DEFAULT 0, successes INTEGER NOT NULL DEFAULT 0, conversions INTEGER NOT NULL DEFAULT 0, revenue REAL NOT NULL DEFAULT 0) WITHOUT ROWID",
    "CREATE TABLE applied (id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX applied_by_time ON applied (at)",
  ],
];

/** Update ids are remembered this long, longer than any queue retry. */
const DEDUPLICATION_MS = 7 * 24 * 60 * 60 * 1_000;

export const StatsUpdate = z.strictObject({
  /** The upstream record id (exposure, click or conversion). */
  id: z.string().check(z.minLength(1), z.maxLength(300)),
  variant: z.string().check(z.minLength(1), z.maxLength(64)),
  trials: z.int().check(z.gte(0), z.lte(1)),
  successes: z.int().check(z.gte(0), z.lte(1)),
  conversions: z.int().check(z.gte(0), z.lte(1)),
  /** Capped at `MAX_CONVERSION_VALUE` when applied: one conversion cannot outweigh the rest. */
  revenue: z.number().check(z.gte(0)),
});
export type StatsUpdate = z.infer<typeof StatsUpdate>;
/** The batch is checked for size only; each update is checked on its own (see `add`). */
const StatsUpdates = z.array(z.unknown()).check(z.maxLength(10_000));

export type VariantStats = {
  trials: number;
  successes: number;
  conversions: number;
  revenue: number;
};

export interface ExperimentReport {
  variants: Record<string, VariantStats>;
  srm: SrmResult;
}

export class ExperimentStats extends DurableObject<Env> {
  readonly #storage: DurableObjectStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#storage = ctx.storage;
    void ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage, MIGRATIONS);
    });
  }

  /**
   * Applies updates not seen before; returns how many were new. A malformed update is dropped
   * without holding back the others: one bad record must not cost every variant its counts.
   */
  async add(input: StatsUpdate[]): Promise<number> {
    const updates: StatsUpdate[] = [];
    let dropped = 0;
    for (const candidate of StatsUpdates.parse(input)) {
      const parsed = StatsUpdate.safeParse(candidate);
      if (parsed.success) updates.push({ ...parsed.data, revenue: Math.min(parsed.data.revenue, MAX_CONVERSION_VALUE) });
      else dropped++;
    }
    if (dropped > 0) console.warn(JSON.stringify({ message: "malformed experiment updates dropped", dropped }));
    const sql = this.#storage.sql;
    const now = Date.now();
    let applied = 0;
    this.#storage.transactionSync(() => {
      for (const update of updates) {
        const fresh = sql
          .exec("INSERT INTO applied (id, at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING RETURNING id", update.id, now)
          .toArray().length;
        if (fresh === 0) continue;
        applied++;
        sql.exec(
          `INSERT INTO variants (variant, trials, successes, conversions, revenue) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (variant) DO UPDATE SET trials = trials + excluded.trials, successes = successes + excluded.successes,
             conversions = conversions + excluded.conversions, revenue = revenue + excluded.revenue`,
          update.variant,
          update.trials,
          update.successes,
          update.conversions,
          update.revenue,
        );
      }
      sql.exec("DELETE FROM applied WHERE at < ?", now - DEDUPLICATION_MS);
    });
    return applied;
  }

  async counts(): Promise<Record<string, VariantStats>> {
    const rows = this.#storage.sql
      .exec<{ variant: string; trials: number; successes: number; conversions: number; revenue: number }>(
        "SELECT variant, trials, successes, conversions, revenue FROM variants",
      )
      .toArray();
    return Object.fromEntries(rows.map(({ variant, ...stats }) => [variant, stats]));
  }

  /** Counts per planned variant and the sample ratio check against the planned weights. */
  async report(variants: string[], weights?: number[]): Promise<ExperimentReport> {
    const counts = await this.counts();
    const empty: VariantStats = { trials: 0, successes: 0, conversions: 0, revenue: 0 };
    const all = Object.fromEntries(variants.map((variant) => [variant, counts[variant] ?? empty]));
    const trials = variants.map((variant) => all[variant]?.trials ?? 0);
    const srm = sampleRatioMismatch(trials, weights);
    // The "sample ratio mismatch" alert counts these (docs/analytics.md).
    if (srm.flagged)
      recordSampleRatioMismatch(
        this.env.ANALYTICS,
        this.ctx.id.name ?? "",
        srm.pValue,
        trials.reduce((sum, count) => sum + count, 0),
      );
    return { variants: all, srm };
  }
}
