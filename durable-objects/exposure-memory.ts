/**
 * The personalizations visitors were shown, remembered for attributing their clicks and conversions.
 * The feedback consumer writes what it delivered; a visitor's `UserSession` reads it when a click or
 * a conversion arrives, and erases it with the rest of the visitor.
 *
 * Visitors are spread over `EXPOSURE_MEMORY_SHARDS` objects by pseudonym, so a consumer batch of a
 * few hundred decisions is a handful of one-transaction writes rather than a write to every
 * visitor's own object (which, per page view, cost more than serving the page). Rows are kept for
 * the attribution window only (deleted by the object's alarm in bounded steps), and at most
 * `MAX_RECALLED` per visitor are read.
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import { hash } from "../shared/experiments/bucketing.ts";
import type { RememberedExposure } from "../shared/feedback/attribution.ts";
import { ExposureBatchMessage, MAX_DECISIONS_PER_MESSAGE, Pseudonym } from "../shared/feedback/messages.ts";
import * as z from "../shared/zod.ts";
import { settings } from "../workers/common/config.ts";
import { placed } from "../workers/common/placement.ts";
import { type RowCounts, RowMeter } from "./row-meter.ts";
import { type Migrations, migrate } from "./sql-migrations.ts";

const MIGRATIONS: Migrations = [
  [
    `CREATE TABLE exposures (
      visitor TEXT NOT NULL,
      decision_id TEXT NOT NULL,
      slot TEXT NOT NULL,
      rule_id TEXT NOT NULL,
      experiment TEXT,
      variant TEXT,
      at INTEGER NOT NULL,
      PRIMARY KEY (visitor, decision_id, slot)
    ) WITHOUT ROWID`,
    // A visitor's rows are found through the primary key; this index only serves the hourly prune.
    "CREATE INDEX exposures_by_time ON exposures (at)",
  ],
  [
    // One row per decision, its slots folded into a JSON array of [slot, rule, experiment, variant]:
    // a page with three slots costs one row (and one index entry) to write and to expire, not three.
    // `exposures` is no longer written; its rows are recalled until they expire and the prune drains it.
    `CREATE TABLE decisions (
      visitor TEXT NOT NULL,
      decision_id TEXT NOT NULL,
      at INTEGER NOT NULL,
      slots TEXT NOT NULL,
      PRIMARY KEY (visitor, decision_id)
    ) WITHOUT ROWID`,
    "CREATE INDEX decisions_by_time ON decisions (at)",
  ],
];

/** The tables the prune clears, with their keys; the version-1 table first, so it drains. */
const PRUNED = [
  { table: "exposures", key: "visitor, decision_id, slot" },
  { table: "decisions", key: "visitor, decision_id" },
] as const;

/** At most this many of a visitor's exposures are considered, the newest first. */
const MAX_RECALLED = 500;
/** Expired rows are deleted this long after the first write that follows the last prune. */
const PRUNE_INTERVAL_MS = 60 * 60 * 1_000;
/**
 * Expired rows deleted per alarm run at most: a shard that holds a day of a busy site's exposures
 * past the window is cleared in many short steps (the alarm re-arms at once until done), so no
 * single step keeps the shard from answering recalls and remembering the next batch.
 */
export const PRUNE_STEP_ROWS = 1_000;
/** Pause between prune steps, so writes and recalls queued behind a step run first (1,000 rows a second at most). */
const PRUNE_STEP_PAUSE_MS = 1_000;

/** One decision's exposures, as the consumer delivered them: kept as one row. */
export const RememberedDecision = z.strictObject({
  visitor: Pseudonym,
  decisionId: z.string().check(z.minLength(1), z.maxLength(64)),
  at: z.iso.datetime(),
  assignments: ExposureBatchMessage.shape.assignments,
});
export type RememberedDecision = z.infer<typeof RememberedDecision>;
/** A queue batch holds at most 100 messages (the platform's limit), each of at most 64 decisions. */
const RememberedDecisions = z.array(RememberedDecision).check(z.maxLength(100 * MAX_DECISIONS_PER_MESSAGE));
const Visitors = z.array(Pseudonym).check(z.minLength(1), z.maxLength(16));

/** The attribution window in milliseconds (`ATTRIBUTION_WINDOW_HOURS`, at most a week). */
export function attributionWindowMs(env: Env): number {
  return settings(env).ATTRIBUTION_WINDOW_HOURS * 60 * 60 * 1_000;
}

/** The name of the shard that remembers `pseudonym`'s exposures (a pure hash: no object id is derived). */
export function exposureShard(env: Env, pseudonym: string): string {
  const shards = settings(env).EXPOSURE_MEMORY_SHARDS;
  const shard = Math.min(shards - 1, Math.floor((hash("tailor-exposure-memory", pseudonym, 2) ?? 0) * shards));
  return `shard-${shard}`;
}

/** `items` grouped by the shard that keeps their visitor, with one stub per shard. */
function byShard<T>(env: Env, items: readonly T[], visitorOf: (item: T) => string) {
  const shards = new Map<string, T[]>();
  for (const item of items) {
    const name = exposureShard(env, visitorOf(item));
    const group = shards.get(name);
    if (group === undefined) shards.set(name, [item]);
    else group.push(item);
  }
  return [...shards].map(([name, group]) => ({ stub: placed(env.EXPOSURE_MEMORY, env).getByName(name), items: group }));
}

/** Remembers delivered exposures, one write per shard. */
export async function rememberExposures(env: Env, decisions: readonly RememberedDecision[]): Promise<void> {
  await Promise.all(byShard(env, decisions, (decision) => decision.visitor).map(({ stub, items }) => stub.remember(items)));
}

/** The exposures of a visitor (under all the pseudonyms given) within the attribution window, newest first. */
export async function recallExposures(env: Env, visitors: readonly string[]): Promise<RememberedExposure[]> {
  const lists = await Promise.all(byShard(env, visitors, (visitor) => visitor).map(({ stub, items }) => stub.recall(items)));
  return lists
    .flat()
    .sort((a, b) => b.at - a.at)
    .slice(0, MAX_RECALLED);
}

/** Deletes everything remembered under the pseudonyms. */
export async function forgetExposures(env: Env, visitors: readonly string[]): Promise<void> {
  await Promise.all(byShard(env, visitors, (visitor) => visitor).map(({ stub, items }) => stub.forget(items)));
}

export class ExposureMemory extends DurableObject<Env> {
  readonly #storage: DurableObjectStorage;
  /** Counts the rows every statement reads and writes (`usage`). */
  readonly #meter: RowMeter;
  /** Whether an alarm is known to be set (checked once per load, then kept here). */
  #pruneArmed = false;

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

  /** Remembers delivered exposures; repeats (queue redelivery) are ignored. */
  async remember(input: RememberedDecision[]): Promise<void> {
    const decisions = RememberedDecisions.parse(input);
    const sql = this.#meter.sql;
    const now = Date.now();
    // One statement for the whole batch: SQLite unpacks the rows from a JSON array, which costs far
    // less than a call from JavaScript per row. (`WHERE true` lets SQLite parse the upsert clause.)
    const rows = decisions.map(({ visitor, decisionId, at, assignments }) => [
      visitor,
      decisionId,
      Date.parse(at),
      JSON.stringify(assignments.map(({ slot, ruleId, experiment, variant }) => [slot, ruleId, experiment, variant])),
    ]);
    this.#storage.transactionSync(() => {
      sql.exec(
        `INSERT INTO decisions (visitor, decision_id, at, slots)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) WHERE true
         ON CONFLICT (visitor, decision_id) DO NOTHING`,
        JSON.stringify(rows),
      );
    });
    if (!this.#pruneArmed) {
      if ((await this.#storage.getAlarm()) === null) await this.#storage.setAlarm(now + PRUNE_INTERVAL_MS);
      this.#pruneArmed = true;
    }
  }

  /**
   * Deletes up to `PRUNE_STEP_ROWS` of the oldest expired rows (of one table per run); runs again
   * shortly while expired rows are left, else an hour after the next write.
   */
  override async alarm(): Promise<void> {
    const sql = this.#meter.sql;
    const cutoff = Date.now() - attributionWindowMs(this.env);
    const expired = ({ table }: (typeof PRUNED)[number]) =>
      sql.exec(`SELECT 1 FROM ${table} WHERE at < ? LIMIT 1`, cutoff).toArray().length > 0;
    const step = PRUNED.find(expired);
    if (step !== undefined)
      sql.exec(
        `DELETE FROM ${step.table} WHERE (${step.key}) IN (SELECT ${step.key} FROM ${step.table} WHERE at < ? ORDER BY at LIMIT ?)`,
        cutoff,
        PRUNE_STEP_ROWS,
      );
    if (PRUNED.some(expired)) {
      await this.#storage.setAlarm(Date.now() + PRUNE_STEP_PAUSE_MS);
      this.#pruneArmed = true;
      return;
    }
    // Done: the next write arms the next prune.
    this.#pruneArmed = false;
  }

  /** The visitors' exposures within the attribution window, newest first. */
  async recall(visitors: string[]): Promise<RememberedExposure[]> {
    const names = Visitors.parse(visitors);
    const since = Date.now() - attributionWindowMs(this.env);
    const list = names.map(() => "?").join(", ");
    return this.#meter.sql
      .exec<{ decision_id: string; slot: string; rule_id: string; experiment: string | null; variant: string | null; at: number }>(
        `SELECT decision_id, slot.value ->> 0 AS slot, slot.value ->> 1 AS rule_id, slot.value ->> 2 AS experiment,
           slot.value ->> 3 AS variant, at FROM decisions, json_each(decisions.slots) AS slot
         WHERE visitor IN (${list}) AND at >= ?
         UNION ALL
         SELECT decision_id, slot, rule_id, experiment, variant, at FROM exposures WHERE visitor IN (${list}) AND at >= ?
         ORDER BY at DESC LIMIT ?`,
        ...names,
        since,
        ...names,
        since,
        MAX_RECALLED,
      )
      .toArray()
      .map((row) => ({
        decisionId: row.decision_id,
        slot: row.slot,
        ruleId: row.rule_id,
        experiment: row.experiment,
        variant: row.variant,
        at: row.at,
      }));
  }

  /** Deletes everything remembered about the visitors. */
  async forget(visitors: string[]): Promise<void> {
    const names = Visitors.parse(visitors);
    const list = names.map(() => "?").join(", ");
    for (const { table } of PRUNED) this.#meter.sql.exec(`DELETE FROM ${table} WHERE visitor IN (${list})`, ...names);
  }
}
