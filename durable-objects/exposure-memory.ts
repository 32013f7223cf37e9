/**
 * The personalizations visitors were shown, remembered for attributing their clicks and conversions.
 * The feedback consumer writes what it delivered; a visitor's `UserSession` reads it when a click or
 * a conversion arrives, and erases it with the rest of the visitor.
 *
 * Visitors are spread over `EXPOSURE_MEMORY_SHARDS` objects by pseudonym, and a consumer batch
 * writes one row per shard and minute bucket, holding the batch's decisions of that minute as JSON
 * (docs/decisions/0022-exposure-bucket-rows.md): about 0.013 rows per exposure, expiry included,
 * where a row per decision cost 1. Once a shard holds more than `COMPACT_ABOVE` bucket rows (a busy
 * site), its alarm regroups the oldest bucket rows into rows per visitors' part (`PARTS`, by a hash of
 * the pseudonym) and hour, appending to the hour's newest row until it is full. A lookup (a click, a conversion, a profile export) reads at most
 * `MAX_ROWS_PER_RECALL` rows: the newest bucket rows and its visitor's part rows, the newest hours
 * first; at most `MAX_RECALLED` exposures are returned. Rows are kept for the attribution window
 * only and deleted by the alarm in bounded steps, whole rows at a time.
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
  [
    // Rows per batch, not per decision: a consumer batch writes one row per minute bucket its
    // decisions fall in, holding them as a JSON array of [visitor, decision, at, slots]. The primary
    // key is the only index: lookups read the newest buckets and the prune deletes the oldest by
    // key range, so nothing else is written per row. `decisions` is no longer written; its rows are
    // recalled until they expire and the prune drains them.
    `CREATE TABLE batches (
      bucket INTEGER NOT NULL,
      seq INTEGER NOT NULL,
      decisions TEXT NOT NULL,
      PRIMARY KEY (bucket, seq)
    ) WITHOUT ROWID`,
    // A busy shard's closed minutes, regrouped by the visitors' part (a hash of the pseudonym) and
    // hour, so a lookup reads its visitor's part for the day instead of every minute's rows.
    `CREATE TABLE parts (
      part INTEGER NOT NULL,
      hour INTEGER NOT NULL,
      seq INTEGER NOT NULL,
      decisions TEXT NOT NULL,
      PRIMARY KEY (part, hour, seq)
    ) WITHOUT ROWID`,
  ],
];

/** At most this many of a visitor's exposures are considered, the newest first. */
const MAX_RECALLED = 500;
/** Expired rows are deleted this long after the first write that follows the last prune. */
const PRUNE_INTERVAL_MS = 60 * 60 * 1_000;
/**
 * Expired rows of the old layouts deleted per alarm run at most: a shard that holds a day of a busy
 * site's exposures past the window is cleared in many short steps (the alarm re-arms at once until
 * done), so no single step keeps the shard from answering recalls and remembering the next batch.
 */
export const PRUNE_STEP_ROWS = 1_000;
/** Bucket or part rows deleted per alarm run at most (each holds up to `MAX_ROW_BYTES` of decisions). */
export const PRUNE_STEP_BUCKET_ROWS = 100;
/** Pause between prune steps, so writes and recalls queued behind a step run first. */
const PRUNE_STEP_PAUSE_MS = 1_000;

/** The width of a time bucket: a batch writes one row per bucket its decisions fall in (per shard). */
export const BUCKET_MS = 60 * 1_000;
/**
 * A row's JSON stays below this many characters (UTF-16 units here, characters in SQLite's
 * `length`): about as many bytes for the ASCII ids Tailor writes, at most about four times as many
 * with multi-byte rule, slot or variant names, far below the platform's 2 MB row. A batch with more
 * for one bucket writes several rows, so no single value read by a lookup is large.
 */
export const MAX_ROW_BYTES = 100 * 1_000;
/**
 * Rows (bucket and part rows) one lookup reads at most: however many decisions a shard holds
 * (a bot's thousands of page views, a busy site's day), a click or conversion costs at most this
 * many row reads and this much JSON to scan.
 */
export const MAX_ROWS_PER_RECALL = 1_024;

/**
 * Bucket rows a lookup reads at most (the newest), and part rows: together `MAX_ROWS_PER_RECALL`.
 * A shard compacts its oldest bucket rows once it holds more than `COMPACT_ABOVE`, the current
 * minute's included, so on a busy site the newest bucket rows cover the rows not yet compacted
 * (while fewer than about 128 arrive between two steps, a second apart), the part rows the rest of
 * the window.
 */
const RECENT_ROWS_PER_RECALL = MAX_ROWS_PER_RECALL / 2;
const PART_ROWS_PER_RECALL = MAX_ROWS_PER_RECALL - RECENT_ROWS_PER_RECALL;
/**
 * Bucket rows a shard keeps before its alarm regroups the oldest into part rows: few
 * large steps, since each step writes (appends to) up to `PARTS` rows per hour it covers. A part
 * holds about one row per 100 KB of an hour's decisions, not one per step (docs/scaling.md).
 */
export const COMPACT_ABOVE = 384;
/** Bucket rows regrouped per alarm run at most. */
const COMPACT_STEP_ROWS = 512;
/**
 * Visitors' parts per shard: a compaction step writes at most this many rows per hour it covers; a
 * lookup reads only its visitor's part (about 1/64 of a busy shard's day).
 */
export const PARTS = 64;
const HOUR_MS = 60 * 60 * 1_000;
/** Lookups cut short by their row budget are logged at most this often per shard, with their count. */
const SHORT_LOOKUP_LOG_MS = 60 * 1_000;

/**
 * The tables the prune clears, oldest layout first so they drain: each with its key, its time
 * column and the value of that column below which a row has expired (from the cutoff in ms).
 */
const PRUNED = [
  { table: "exposures", key: "visitor, decision_id, slot", time: "at", step: PRUNE_STEP_ROWS, expiredBelow: (cutoff: number) => cutoff },
  { table: "decisions", key: "visitor, decision_id", time: "at", step: PRUNE_STEP_ROWS, expiredBelow: (cutoff: number) => cutoff },
  // A bucket row goes once its whole minute has left the window.
  {
    table: "batches",
    key: "bucket, seq",
    time: "bucket",
    step: PRUNE_STEP_BUCKET_ROWS,
    expiredBelow: (cutoff: number) => Math.floor(cutoff / BUCKET_MS),
  },
  // A part row goes once its whole hour has left the window.
  {
    table: "parts",
    key: "part, hour, seq",
    time: "hour",
    step: PRUNE_STEP_BUCKET_ROWS,
    expiredBelow: (cutoff: number) => Math.floor(cutoff / HOUR_MS),
  },
] as const;

/** The part of a shard that keeps `visitor`'s compacted decisions. */
export function partOf(visitor: string): number {
  return Math.min(PARTS - 1, Math.floor((hash("tailor-exposure-part", visitor, 2) ?? 0) * PARTS));
}

/** One decision's exposures, as the consumer delivered them: kept in its batch's bucket row. */
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
  /** Whether an alarm is set to compact soon. */
  #compactArmed = false;
  /** Bucket rows held (counted once per load, then kept here). */
  #bucketRows: number | undefined;
  /** Lookups cut short by their row budget since the last log line about them (`#noteShortLookup`). */
  #shortLookups = 0;
  #shortLookupsLoggedAt = Number.NEGATIVE_INFINITY;

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
   * Remembers delivered exposures: one row per minute bucket the batch's decisions fall in (more
   * only past `MAX_ROW_BYTES`). A redelivered batch writes its rows again; lookups read each
   * decision once.
   */
  async remember(input: RememberedDecision[]): Promise<void> {
    const decisions = RememberedDecisions.parse(input);
    const sql = this.#meter.sql;
    const now = Date.now();
    const rows = bucketRows(decisions, now);
    const held = this.#countBucketRows();
    this.#storage.transactionSync(() => {
      for (const { bucket, decisions: json } of rows) {
        // The next number within the bucket: one read of the key, no counter row to write.
        const { seq } = sql.exec<{ seq: number }>("SELECT COALESCE(MAX(seq) + 1, 0) AS seq FROM batches WHERE bucket = ?", bucket).one();
        sql.exec("INSERT INTO batches (bucket, seq, decisions) VALUES (?, ?, ?)", bucket, seq, json);
      }
    });
    this.#bucketRows = held + rows.length;
    if (this.#bucketRows > COMPACT_ABOVE && !this.#compactArmed) {
      // A busy shard: its bucket rows are regrouped soon, so lookups keep reaching the whole window.
      const alarm = await this.#storage.getAlarm();
      if (alarm === null || alarm > now + PRUNE_STEP_PAUSE_MS) await this.#storage.setAlarm(now + PRUNE_STEP_PAUSE_MS);
      this.#compactArmed = true;
      this.#pruneArmed = true;
    }
    if (!this.#pruneArmed) {
      if ((await this.#storage.getAlarm()) === null) await this.#storage.setAlarm(now + PRUNE_INTERVAL_MS);
      this.#pruneArmed = true;
    }
  }

  #countBucketRows(): number {
    this.#bucketRows ??= this.#meter.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM batches").one().n;
    return this.#bucketRows;
  }

  /**
   * Regroups up to `COMPACT_STEP_ROWS` bucket rows, the oldest first, into the part rows of their
   * hours (appended to, a new row only past `MAX_ROW_BYTES`), dropping what has expired and
   * repeated decisions. True when it did; false when no bucket row is left.
   *
   * The current minute's rows are taken too: on a busy shard they alone can outnumber the bucket
   * rows a lookup reads (750 a minute at 1,000 page views a second on 4 shards), and a click comes
   * seconds after its page view. Bucket rows are never changed once written (a batch writes new
   * ones, under the next `seq`), so taking a minute's rows before it closes loses nothing.
   */
  #compact(now: number, since: number): boolean {
    const sql = this.#meter.sql;
    let done = false;
    this.#storage.transactionSync(() => {
      const rows = sql
        .exec<{ decisions: string }>("SELECT decisions FROM batches ORDER BY bucket, seq LIMIT ?", COMPACT_STEP_ROWS)
        .toArray();
      if (rows.length === 0) return;
      const groups = new Map<string, { part: number; hour: number; items: string[] }>();
      const seen = new Set<string>();
      for (const row of rows) {
        const parsed = StoredDecisions.safeParse(parseJsonOrNull(row.decisions));
        if (!parsed.success) continue;
        for (const decision of parsed.data) {
          const [visitor, decisionId, at] = decision;
          const key = `${visitor}\u0000${decisionId}`;
          if (at < since || seen.has(key)) continue;
          seen.add(key);
          const part = partOf(visitor);
          // A time ahead of the shard's clock counts as now, as for its bucket: a lookup reads up to this hour.
          const hour = Math.floor(Math.min(at, now) / HOUR_MS);
          const group = groups.get(`${part}:${hour}`) ?? { part, hour, items: [] };
          group.items.push(JSON.stringify(decision));
          groups.set(`${part}:${hour}`, group);
        }
      }
      for (const { part, hour, items } of groups.values()) this.#append(part, hour, items);
      sql.exec(
        "DELETE FROM batches WHERE (bucket, seq) IN (SELECT bucket, seq FROM batches ORDER BY bucket, seq LIMIT ?)",
        COMPACT_STEP_ROWS,
      );
      this.#bucketRows = Math.max(0, this.#countBucketRows() - rows.length);
      done = true;
    });
    return done;
  }

  /**
   * Adds decisions (each already JSON) to a part's hour: into its newest row while that stays below
   * `MAX_ROW_BYTES`, the rest into new rows. So a part holds about one row per 100 KB of an hour's
   * decisions, however many steps brought them, and a lookup's part rows reach back as far at any
   * rate of compaction steps. Writes one row (the update) where a row per step wrote one too.
   */
  #append(part: number, hour: number, items: readonly string[]): void {
    const sql = this.#meter.sql;
    // The newest row's size only: its JSON is extended in place, never read into the isolate. A row
    // that is not valid JSON (damaged outside this code) is left alone: appending to it would lose
    // every later decision with it, since a lookup skips a row it cannot parse.
    const last = sql
      .exec<{ seq: number; size: number; valid: number }>(
        "SELECT seq, length(decisions) AS size, json_valid(decisions) AS valid FROM parts WHERE part = ? AND hour = ? ORDER BY seq DESC LIMIT 1",
        part,
        hour,
      )
      .toArray()[0];
    let taken = 0;
    if (last !== undefined && last.valid === 1) {
      let size = last.size;
      for (const item of items) {
        if (size + item.length + 1 > MAX_ROW_BYTES) break;
        size += item.length + 1;
        taken++;
      }
    }
    if (last !== undefined && taken > 0) {
      const added = items.slice(0, taken).join(",");
      sql.exec(
        `UPDATE parts SET decisions = CASE WHEN decisions = '[]' THEN '[' || ? || ']'
           ELSE substr(decisions, 1, length(decisions) - 1) || ',' || ? || ']' END
         WHERE part = ? AND hour = ? AND seq = ?`,
        added,
        added,
        part,
        hour,
        last.seq,
      );
    }
    let seq = last === undefined ? 0 : last.seq + 1;
    for (const json of chunked(items.slice(taken))) {
      sql.exec("INSERT INTO parts (part, hour, seq, decisions) VALUES (?, ?, ?, ?)", part, hour, seq, json);
      seq++;
    }
  }

  /**
   * Compacts one step of a busy shard's bucket rows, or else deletes up to one step of the
   * oldest expired rows (of one table per run); runs again shortly while there is more to do, else
   * an hour after the next write (or soon after the write that makes the shard busy).
   */
  override async alarm(): Promise<void> {
    const sql = this.#meter.sql;
    const now = Date.now();
    const cutoff = now - attributionWindowMs(this.env);
    // Compacting first: it also drops the expired decisions of the rows it takes.
    if (this.#countBucketRows() > COMPACT_ABOVE && this.#compact(now, cutoff)) {
      await this.#storage.setAlarm(Date.now() + PRUNE_STEP_PAUSE_MS);
      this.#pruneArmed = true;
      return;
    }
    this.#compactArmed = false;
    const expired = ({ table, time, expiredBelow }: (typeof PRUNED)[number]) =>
      sql.exec(`SELECT 1 FROM ${table} WHERE ${time} < ? LIMIT 1`, expiredBelow(cutoff)).toArray().length > 0;
    const step = PRUNED.find(expired);
    if (step !== undefined)
      sql.exec(
        `DELETE FROM ${step.table} WHERE (${step.key}) IN (SELECT ${step.key} FROM ${step.table} WHERE ${step.time} < ? ORDER BY ${step.time} LIMIT ?)`,
        step.expiredBelow(cutoff),
        step.step,
      );
    if (step?.table === "batches") this.#bucketRows = undefined;
    if (PRUNED.some(expired)) {
      await this.#storage.setAlarm(Date.now() + PRUNE_STEP_PAUSE_MS);
      this.#pruneArmed = true;
      return;
    }
    // Done: the next write arms the next prune.
    this.#pruneArmed = false;
  }

  /**
   * The visitors' exposures within the attribution window, newest first: from at most
   * `MAX_ROWS_PER_RECALL` rows, the newest bucket rows and the newest rows of the visitors' parts
   * (and the rows of the older layouts until they expire). A lookup whose budget ran out before the
   * window's start is counted and logged (`#noteShortLookup`).
   */
  async recall(visitors: string[]): Promise<RememberedExposure[]> {
    const names = Visitors.parse(visitors);
    const now = Date.now();
    const since = now - attributionWindowMs(this.env);
    const sql = this.#meter.sql;
    const wanted = new Set(names);
    const found = new Map<string, RememberedExposure>();
    const keep = (exposure: RememberedExposure) => {
      // A redelivered batch's second copy of a decision reads as one.
      const key = `${exposure.decisionId}\u0000${exposure.slot}`;
      if (exposure.at >= since && !found.has(key)) found.set(key, exposure);
    };
    // The JSON is taken apart here, not by SQLite's json_each: each element it yields counts as a
    // row read, which would make a lookup cost one read per decision scanned. `instr` only skips
    // rows that cannot hold the visitors (a pseudonym is stored quoted). Every row within the budget
    // comes back with its time, so a lookup that used its whole budget before the window's start is
    // noticed; only the rows that mention a visitor bring their JSON.
    const mentions = names.map(() => "instr(decisions, ?) > 0").join(" OR ");
    const quoted = names.map((name) => JSON.stringify(name));
    const rows: string[] = [];
    const recent = sql
      .exec<{ bucket: number; decisions: string | null }>(
        `SELECT bucket, CASE WHEN ${mentions} THEN decisions END AS decisions FROM (
           SELECT bucket, decisions FROM batches WHERE bucket BETWEEN ? AND ? ORDER BY bucket DESC, seq DESC LIMIT ?
         )`,
        ...quoted,
        Math.floor(since / BUCKET_MS),
        Math.floor(now / BUCKET_MS),
        RECENT_ROWS_PER_RECALL,
      )
      .toArray();
    // How far back the lookup reached where a set of rows ran out before the window's start (the
    // least far of them); counted once per lookup, however many of its sets ran out.
    let shortReach: number | undefined;
    const oldestRecent = recent.at(-1)?.bucket;
    if (recent.length === RECENT_ROWS_PER_RECALL && oldestRecent !== undefined && oldestRecent > Math.floor(since / BUCKET_MS))
      shortReach = oldestRecent * BUCKET_MS;
    for (const { decisions } of recent) if (decisions !== null) rows.push(decisions);
    // The compacted rest of the window: only the visitors' parts, the newest hours first.
    const parts = [...new Set(names.map(partOf))];
    const perPart = Math.max(1, Math.floor(PART_ROWS_PER_RECALL / parts.length));
    for (const part of parts) {
      const partRows = sql
        .exec<{ hour: number; decisions: string | null }>(
          `SELECT hour, CASE WHEN ${mentions} THEN decisions END AS decisions FROM (
             SELECT hour, decisions FROM parts WHERE part = ? AND hour BETWEEN ? AND ? ORDER BY hour DESC, seq DESC LIMIT ?
           )`,
          ...quoted,
          part,
          Math.floor(since / HOUR_MS),
          Math.floor(now / HOUR_MS),
          perPart,
        )
        .toArray();
      const oldestPart = partRows.at(-1)?.hour;
      if (partRows.length === perPart && oldestPart !== undefined && oldestPart > Math.floor(since / HOUR_MS))
        shortReach = Math.max(shortReach ?? Number.NEGATIVE_INFINITY, oldestPart * HOUR_MS);
      for (const { decisions } of partRows) if (decisions !== null) rows.push(decisions);
    }
    if (shortReach !== undefined) this.#noteShortLookup(now, shortReach);
    for (const decisions of rows) {
      const parsed = StoredDecisions.safeParse(parseJsonOrNull(decisions));
      if (!parsed.success) continue;
      for (const [visitor, decisionId, at, slots] of parsed.data) {
        if (!wanted.has(visitor)) continue;
        for (const [slot, ruleId, experiment, variant] of slots) keep({ decisionId, slot, ruleId, experiment, variant, at });
      }
    }
    const list = names.map(() => "?").join(", ");
    const older = sql
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
      .toArray();
    for (const row of older)
      keep({
        decisionId: row.decision_id,
        slot: row.slot,
        ruleId: row.rule_id,
        experiment: row.experiment,
        variant: row.variant,
        at: row.at,
      });
    return [...found.values()].sort((a, b) => b.at - a.at).slice(0, MAX_RECALLED);
  }

  /**
   * Counts a lookup that read its whole row budget (`MAX_ROWS_PER_RECALL`) before reaching back to
   * the attribution window's start, so older exposures may have gone uncredited; logs the count at
   * most once a minute per shard, with how far back the lookup reached and nothing about visitors.
   */
  #noteShortLookup(now: number, reachedBack: number): void {
    this.#shortLookups++;
    if (now - this.#shortLookupsLoggedAt < SHORT_LOOKUP_LOG_MS) return;
    console.warn(
      JSON.stringify({
        message: "exposure lookups stopped at their row limit before the attribution window's start",
        lookups: this.#shortLookups,
        reachedBackMinutes: Math.floor((now - reachedBack) / 60_000),
        windowMinutes: Math.floor(attributionWindowMs(this.env) / 60_000),
      }),
    );
    this.#shortLookups = 0;
    this.#shortLookupsLoggedAt = now;
  }

  /**
   * Deletes everything remembered about the visitors: their decisions are taken out of every
   * bucket row that holds one (a row left empty is deleted), their rows of the older layouts deleted.
   */
  async forget(visitors: string[]): Promise<void> {
    const names = Visitors.parse(visitors);
    const list = names.map(() => "?").join(", ");
    const sql = this.#meter.sql;
    this.#storage.transactionSync(() => {
      sql.exec(
        // `instr` first: only the rows that mention a visitor are taken apart.
        `UPDATE batches SET decisions = (
           SELECT json_group_array(json(d.value)) FROM json_each(batches.decisions) AS d WHERE d.value ->> 0 NOT IN (${list})
         ) WHERE (${names.map(() => "instr(decisions, ?) > 0").join(" OR ")})
           AND EXISTS (SELECT 1 FROM json_each(batches.decisions) AS d WHERE d.value ->> 0 IN (${list}))`,
        ...names,
        ...names.map((name) => JSON.stringify(name)),
        ...names,
      );
      sql.exec("DELETE FROM batches WHERE json_array_length(decisions) = 0");
      const parts = [...new Set(names.map(partOf))];
      for (const part of parts)
        sql.exec(
          `UPDATE parts SET decisions = (
             SELECT json_group_array(json(d.value)) FROM json_each(parts.decisions) AS d WHERE d.value ->> 0 NOT IN (${list})
           ) WHERE part = ? AND (${names.map(() => "instr(decisions, ?) > 0").join(" OR ")})`,
          ...names,
          part,
          ...names.map((name) => JSON.stringify(name)),
        );
      sql.exec(`DELETE FROM parts WHERE part IN (${parts.map(() => "?").join(", ")}) AND json_array_length(decisions) = 0`, ...parts);
      this.#bucketRows = undefined;
      for (const { table } of PRUNED)
        if (table === "exposures" || table === "decisions") sql.exec(`DELETE FROM ${table} WHERE visitor IN (${list})`, ...names);
    });
  }
}

/** A decision as kept in a bucket row: [visitor, decision id, at (ms), [[slot, rule, experiment, variant], …]]. */
const StoredDecision = z.tuple([
  z.string(),
  z.string(),
  z.number(),
  z.array(z.tuple([z.string(), z.string(), z.nullable(z.string()), z.nullable(z.string())])),
]);
type StoredDecision = z.infer<typeof StoredDecision>;
const StoredDecisions = z.array(StoredDecision);

/** A bucket row's JSON, or null when it does not parse (then the row is skipped, not thrown on). */
function parseJsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * The decisions grouped into bucket rows: by the minute of their time (a time ahead of the
 * shard's clock counts as now, so no row outlives the window), each row's JSON below `MAX_ROW_BYTES`.
 */
function bucketRows(decisions: readonly RememberedDecision[], now: number): { bucket: number; decisions: string }[] {
  const buckets = new Map<number, string[]>();
  for (const { visitor, decisionId, at, assignments } of decisions) {
    const time = Date.parse(at);
    const stored: StoredDecision = [
      visitor,
      decisionId,
      time,
      assignments.map(({ slot, ruleId, experiment, variant }) => [slot, ruleId, experiment, variant]),
    ];
    const bucket = Math.floor(Math.min(time, now) / BUCKET_MS);
    const list = buckets.get(bucket) ?? [];
    list.push(JSON.stringify(stored));
    buckets.set(bucket, list);
  }
  return [...buckets].flatMap(([bucket, list]) => chunked(list).map((json) => ({ bucket, decisions: json })));
}

/** JSON arrays of the items (each already JSON), each below `MAX_ROW_BYTES`. */
function chunked(items: readonly string[]): string[] {
  const chunks: string[] = [];
  let chunk: string[] = [];
  let bytes = 2;
  for (const item of items) {
    // Sizes as UTF-16 length: names are mostly ASCII, and a bound that is off by a small factor still bounds.
    if (chunk.length > 0 && bytes + item.length + 1 > MAX_ROW_BYTES) {
      chunks.push(`[${chunk.join(",")}]`);
      chunk = [];
      bytes = 2;
    }
    chunk.push(item);
    bytes += item.length + 1;
  }
  if (chunk.length > 0) chunks.push(`[${chunk.join(",")}]`);
  return chunks;
}
