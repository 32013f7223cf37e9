/**
 * Live counts for one experiment, or one shard of them: per variant, trials (exposures), successes
 * (clicks in the experiment's slots), conversions and revenue — updated by the feedback consumer as
 * each batch is delivered, read by the decision step (cached for seconds) for the bandit, and by the
 * report. Both read the same rows, summed over the experiment's shards
 * (`workers/common/experiment-shards.ts`), so the bandit learns from the totals the report shows.
 * Each queue message is counted by one shard, so everything below holds per shard.
 *
 * Queue delivery is at least once, so updates are applied once, without remembering every record
 * for days (at 200 page views a second that filled the object in under a week):
 * - exposures come in delivery batches (one queue message holds many decisions, and the queue
 *   redelivers a whole message): the message id is remembered for `DELIVERY_WINDOW_MS`, longer than
 *   the queue's retries, and a message seen before is skipped as a whole;
 * - a click or conversion id is remembered for the attribution window plus `DELIVERY_WINDOW_MS`: a
 *   second click or order on the same exposure can come that late, and must not count again.
 * Ids are kept as 16-byte hashes. Expired ones are deleted in bounded steps by each write, more
 * than it adds, so the table never holds more than those windows' worth (sizes in docs/scaling.md).
 *
 * Each update is checked on its own: a malformed one is dropped (and logged as a count), the rest of
 * its batch still counts, and revenue is capped per update at `MAX_CONVERSION_VALUE`.
 * @module
 */

import { DurableObject } from "cloudflare:workers";
import {
  countsOf,
  type ExperimentReport,
  MAX_EXPERIMENT_SHARDS,
  reportOf,
  type VariantRow,
  type VariantStats,
} from "../shared/experiments/stats-report.ts";
import { MAX_CONVERSION_VALUE } from "../shared/feedback/attribution.ts";
import { VariantShares } from "../shared/feedback/messages.ts";
import * as z from "../shared/zod.ts";
import { recordSampleRatioMismatch } from "../workers/common/analytics.ts";
import { attributionWindowMs } from "./exposure-memory.ts";
import { type RowCounts, RowMeter } from "./row-meter.ts";
import { type Migrations, migrate } from "./sql-migrations.ts";

const MIGRATIONS: Migrations = [
  [
    "CREATE TABLE variants (variant TEXT PRIMARY KEY, trials INTEGER NOT NULL DEFAULT 0, successes INTEGER NOT NULL DEFAULT 0, conversions INTEGER NOT NULL DEFAULT 0, revenue REAL NOT NULL DEFAULT 0) WITHOUT ROWID",
    "CREATE TABLE applied (id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX applied_by_time ON applied (at)",
  ],
  [
    "ALTER TABLE variants ADD COLUMN planned REAL NOT NULL DEFAULT 0",
    "ALTER TABLE variants ADD COLUMN planned_trials INTEGER NOT NULL DEFAULT 0",
    // Ids as 16-byte hashes with the time they may be forgotten (63 bytes a row with the index,
    // against 150–165 for the ids as text). `applied` (every exposure id, 7 days) is no longer
    // read; its rows are deleted by later writes, step by step, rather than in this migration.
    "CREATE TABLE seen (key BLOB PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX seen_by_expiry ON seen (until)",
  ],
  [
    // Over how many objects the experiment's counts are spread; kept by shard 0 (the object named
    // after the experiment) from the first write on, and never changed (`layout`).
    "CREATE TABLE layout (only INTEGER PRIMARY KEY CHECK (only = 0), shards INTEGER NOT NULL)",
  ],
];

/**
 * How long a delivered queue message is remembered. The queue retries a message at most 10 times
 * with delays up to 5 minutes (about 20 minutes in all); the rest is room for a backlog.
 */
export const DELIVERY_WINDOW_MS = 6 * 60 * 60 * 1_000;

/** Expired ids deleted per write beyond the number it adds: deletes outpace inserts, in bounded steps. */
const PRUNE_EXTRA = 500;

export const StatsUpdate = z.strictObject({
  /** The upstream record id (exposure, click or conversion). */
  id: z.string().check(z.minLength(1), z.maxLength(300)),
  variant: z.string().check(z.minLength(1), z.maxLength(64)),
  trials: z.int().check(z.gte(0), z.lte(1)),
  successes: z.int().check(z.gte(0), z.lte(1)),
  conversions: z.int().check(z.gte(0), z.lte(1)),
  /** Capped at `MAX_CONVERSION_VALUE` when applied: one conversion cannot outweigh the rest. */
  revenue: z.number().check(z.gte(0)),
  /** For a bandit's exposure: every variant's share of traffic when it was assigned. */
  allocation: z.optional(VariantShares),
});
export type StatsUpdate = z.infer<typeof StatsUpdate>;

/** The updates one queue message gave this experiment, under the message's id. */
export const StatsDelivery = z.strictObject({
  /** `<kind>:<id>` of the queue message, the same on every redelivery. */
  delivery: z.string().check(z.minLength(1), z.maxLength(300)),
  /** Checked for size only; each update is checked on its own (see `add`). */
  updates: z.array(z.unknown()).check(z.maxLength(10_000)),
});
export type StatsDelivery = Omit<z.infer<typeof StatsDelivery>, "updates"> & { updates: StatsUpdate[] };
const StatsDeliveries = z.array(StatsDelivery).check(z.maxLength(1_000));
/** A layout proposed by the consumer (`EXPERIMENT_STATS_SHARDS`, already bounded by the settings). */
const ShardCount = z.int().check(z.gte(1), z.lte(MAX_EXPERIMENT_SHARDS));

export type { ExperimentReport, SrmCheck, VariantRow, VariantStats } from "../shared/experiments/stats-report.ts";

type Totals = VariantStats & { planned: number; plannedTrials: number };

const encoder = new TextEncoder();

/** The first 16 bytes of the id's SHA-256: collisions among billions of ids are not a concern. */
async function idKey(id: string): Promise<ArrayBuffer> {
  return (await crypto.subtle.digest("SHA-256", encoder.encode(id))).slice(0, 16);
}

export class ExperimentStats extends DurableObject<Env> {
  readonly #storage: DurableObjectStorage;
  /** Counts the rows every statement reads and writes (`usage`). */
  readonly #meter: RowMeter;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#storage = ctx.storage;
    this.#meter = new RowMeter(ctx.storage.sql);
    void ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage, MIGRATIONS);
    });
  }

  /**
   * Rows this object read and wrote since it was loaded (every statement, prunes included), for
   * benchmarks and tests only: no route reaches it.
   */
  async usage(): Promise<RowCounts> {
    return this.#meter.settle();
  }

  /**
   * Applies the deliveries not seen before; returns how many updates were new. A malformed update
   * is dropped without holding back the others: one bad record must not cost every variant its
   * counts.
   */
  async add(input: StatsDelivery[]): Promise<number> {
    let dropped = 0;
    // Checked and keyed before the transaction: hashing is asynchronous, the transaction is not.
    const deliveries = await Promise.all(
      StatsDeliveries.parse(input).map(async ({ delivery, updates }) => {
        const valid: { update: StatsUpdate; key: ArrayBuffer | null }[] = [];
        for (const candidate of updates) {
          const parsed = StatsUpdate.safeParse(candidate);
          if (!parsed.success) {
            dropped++;
            continue;
          }
          // Clicks and conversions are one per exposure, however many messages stand for them.
          const key = parsed.data.trials === 0 ? await idKey(`record:${parsed.data.id}`) : null;
          valid.push({ update: parsed.data, key });
        }
        return { key: await idKey(`delivery:${delivery}`), updates: valid };
      }),
    );
    const sql = this.#meter.sql;
    const now = Date.now();
    const recordWindowMs = attributionWindowMs(this.env) + DELIVERY_WINDOW_MS;
    const remember = (key: ArrayBuffer, until: number) =>
      sql.exec("INSERT INTO seen (key, until) VALUES (?, ?) ON CONFLICT (key) DO NOTHING RETURNING until", key, until).toArray().length > 0;
    const totals = new Map<string, Totals>();
    const totalsOf = (variant: string): Totals => {
      const known = totals.get(variant);
      if (known !== undefined) return known;
      const fresh = { trials: 0, successes: 0, conversions: 0, revenue: 0, planned: 0, plannedTrials: 0 };
      totals.set(variant, fresh);
      return fresh;
    };
    let applied = 0;
    let remembered = 0;
    this.#storage.transactionSync(() => {
      for (const delivery of deliveries) {
        if (!remember(delivery.key, now + DELIVERY_WINDOW_MS)) continue;
        remembered++;
        for (const { update, key } of delivery.updates) {
          if (key !== null) {
            if (!remember(key, now + recordWindowMs)) continue;
            remembered++;
          }
          applied++;
          const row = totalsOf(update.variant);
          row.trials += update.trials;
          row.successes += update.successes;
          row.conversions += update.conversions;
          row.revenue += Math.min(update.revenue, MAX_CONVERSION_VALUE);
          if (update.allocation !== undefined && update.trials === 1) {
            row.plannedTrials += 1;
            for (const [variant, share] of Object.entries(update.allocation)) totalsOf(variant).planned += share;
          }
        }
      }
      // One row write per variant per call, however many updates it carried.
      for (const [variant, row] of totals)
        sql.exec(
          `INSERT INTO variants (variant, trials, successes, conversions, revenue, planned, planned_trials) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (variant) DO UPDATE SET trials = trials + excluded.trials, successes = successes + excluded.successes,
             conversions = conversions + excluded.conversions, revenue = revenue + excluded.revenue,
             planned = planned + excluded.planned, planned_trials = planned_trials + excluded.planned_trials`,
          variant,
          row.trials,
          row.successes,
          row.conversions,
          row.revenue,
          row.planned,
          row.plannedTrials,
        );
      sql.exec(
        "DELETE FROM seen WHERE key IN (SELECT key FROM seen WHERE until < ? ORDER BY until LIMIT ?)",
        now,
        remembered * 2 + PRUNE_EXTRA,
      );
      // What version 1 kept (every exposure id) is no longer read: it drains in the same steps.
      sql.exec("DELETE FROM applied WHERE id IN (SELECT id FROM applied LIMIT ?)", PRUNE_EXTRA);
    });
    if (dropped > 0) console.warn(JSON.stringify({ message: "malformed experiment updates dropped", dropped }));
    return applied;
  }

  /**
   * Over how many objects this experiment's counts are spread, fixed at its first write: `proposed`
   * (the deployment's `EXPERIMENT_STATS_SHARDS`) unless the object already holds counts written
   * before shards existed, which stay in one object. Asked of shard 0 only. Never changes once set,
   * so a redelivered message always meets the shard that remembers it.
   */
  async layout(proposed: number): Promise<number> {
    const shards = z.parse(ShardCount, proposed);
    const sql = this.#meter.sql;
    return this.#storage.transactionSync(() => {
      const stored = this.#storedLayout();
      if (stored !== null) return stored;
      const counted = sql
        .exec("SELECT EXISTS (SELECT 1 FROM variants) OR EXISTS (SELECT 1 FROM seen) OR EXISTS (SELECT 1 FROM applied) AS counted")
        .one();
      const chosen = counted.counted === 1 ? 1 : shards;
      sql.exec("INSERT INTO layout (only, shards) VALUES (0, ?)", chosen);
      return chosen;
    });
  }

  /** The layout fixed by the first write, or null before it (then shard 0 holds all there is). */
  async storedLayout(): Promise<number | null> {
    return this.#storedLayout();
  }

  #storedLayout(): number | null {
    return this.#meter.sql.exec<{ shards: number }>("SELECT shards FROM layout").toArray()[0]?.shards ?? null;
  }

  /** This object's rows, one per variant, for a reader that sums the experiment's shards. */
  async rows(): Promise<VariantRow[]> {
    return this.#meter.sql
      .exec<{
        variant: string;
        trials: number;
        successes: number;
        conversions: number;
        revenue: number;
        planned: number;
        plannedTrials: number;
      }>("SELECT variant, trials, successes, conversions, revenue, planned, planned_trials AS plannedTrials FROM variants")
      .toArray();
  }

  /** This object's totals per variant (all of an unsharded experiment's). */
  async counts(): Promise<Record<string, VariantStats>> {
    return countsOf(await this.rows());
  }

  /**
   * This object's counts per planned variant and the sample ratio check (`reportOf`): the whole
   * report for an experiment in one object; a sharded one is reported by
   * `workers/common/experiment-shards.ts`, which sums the shards first.
   */
  async report(variants: string[], weights?: number[], allocation: "fixed" | "bandit" = "fixed"): Promise<ExperimentReport> {
    const report = reportOf(await this.rows(), variants, weights, allocation);
    // The "sample ratio mismatch" alert counts these (docs/analytics.md).
    if (report.srm.flagged) recordSampleRatioMismatch(this.env.ANALYTICS, this.ctx.id.name ?? "", report.srm.pValue, report.srm.exposures);
    return report;
  }
}
