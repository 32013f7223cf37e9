/**
 * Messages that could not be delivered upstream — refused by the proxy as they are, malformed, or
 * out of retries — kept until someone replays them (`npm run replay`, or the admin API) once the
 * cause is fixed. One instance (`"all"`) holds them all, bounded: past `DEAD_LETTER_LIMITS` the oldest
 * letters are dropped and counted (`summary().dropped`), so a flood of letters (a long Kafka outage
 * running out of retries) cannot fill the object's storage and stop it keeping the newest.
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import * as z from "../shared/zod.ts";
import { type Migrations, migrate } from "./sql-migrations.ts";

const MIGRATIONS: Migrations = [
  [
    `CREATE TABLE letters (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      queue TEXT NOT NULL,
      reason TEXT NOT NULL,
      detail TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      failed_at INTEGER NOT NULL,
      body TEXT NOT NULL
    )`,
  ],
  [
    // What each letter takes, and running totals, so the bound is kept without counting every row.
    "ALTER TABLE letters ADD COLUMN size INTEGER NOT NULL DEFAULT 0",
    "UPDATE letters SET size = LENGTH(body) + LENGTH(detail) + LENGTH(reason)",
    "CREATE TABLE totals (id INTEGER PRIMARY KEY CHECK (id = 1), letters INTEGER NOT NULL, bytes INTEGER NOT NULL, dropped INTEGER NOT NULL)",
    "INSERT INTO totals SELECT 1, COUNT(*), COALESCE(SUM(size), 0), 0 FROM letters",
  ],
];

/** How much the object keeps: well under a Durable Object's storage limit (sizing in docs/scaling.md). */
export interface DeadLetterLimits {
  letters: number;
  /** Bytes of body, detail and reason text. */
  bytes: number;
}

export const DEAD_LETTER_LIMITS: DeadLetterLimits = { letters: 200_000, bytes: 1024 ** 3 };

export const DeadLetter = z.strictObject({
  /** The queue the message came from, where a replay sends it back. */
  queue: z.enum(["tailor-events", "tailor-feedback"]),
  reason: z.string().check(z.maxLength(200)),
  detail: z.string().check(z.maxLength(2_000)),
  attempts: z.int().check(z.gte(0)),
  failedAt: z.int(),
  body: z.unknown(),
});
export type DeadLetter = z.infer<typeof DeadLetter>;

export interface LetterSample {
  queue: string;
  reason: string;
  detail: string;
  attempts: number;
  failedAt: number;
  /** The message body as JSON text. */
  body: string;
}

export interface ReplayOutcome {
  replayed: number;
  remaining: number;
}

export class DeadLetters extends DurableObject<Env> {
  readonly #storage: DurableObjectStorage;
  /** Not part of the RPC interface (fields are not); tests lower it to exercise the bound. */
  limits: DeadLetterLimits = DEAD_LETTER_LIMITS;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#storage = ctx.storage;
    void ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage, MIGRATIONS);
    });
  }

  async add(input: DeadLetter[]): Promise<void> {
    const letters = z.array(DeadLetter).check(z.maxLength(1_000)).parse(input);
    const sql = this.#storage.sql;
    this.#storage.transactionSync(() => {
      let count = 0;
      let bytes = 0;
      for (const letter of letters) {
        const body = JSON.stringify(letter.body) ?? "null";
        const size = body.length + letter.detail.length + letter.reason.length;
        sql.exec(
          "INSERT INTO letters (queue, reason, detail, attempts, failed_at, body, size) VALUES (?, ?, ?, ?, ?, ?, ?)",
          letter.queue,
          letter.reason,
          letter.detail,
          letter.attempts,
          letter.failedAt,
          body,
          size,
        );
        count++;
        bytes += size;
      }
      sql.exec("UPDATE totals SET letters = letters + ?, bytes = bytes + ?", count, bytes);
      this.#trim();
    });
  }

  /** Drops the oldest letters, in chunks, until the totals are within the limits; counts them. */
  #trim(): void {
    const sql = this.#storage.sql;
    for (;;) {
      const totals = this.#totals();
      const excess = totals.letters - this.limits.letters;
      if (excess <= 0 && totals.bytes <= this.limits.bytes) return;
      const removed = sql
        .exec<{ size: number }>(
          "DELETE FROM letters WHERE seq IN (SELECT seq FROM letters ORDER BY seq LIMIT ?) RETURNING size",
          // Over the count: exactly the excess. Over the bytes only: a few at a time, so little more
          // than needed goes.
          excess > 0 ? excess : Math.min(10, totals.letters),
        )
        .toArray();
      if (removed.length === 0) return;
      const bytes = removed.reduce((sum, row) => sum + row.size, 0);
      sql.exec("UPDATE totals SET letters = letters - ?, bytes = bytes - ?, dropped = dropped + ?", removed.length, bytes, removed.length);
    }
  }

  #totals(): { letters: number; bytes: number; dropped: number } {
    return this.#storage.sql.exec<{ letters: number; bytes: number; dropped: number }>("SELECT letters, bytes, dropped FROM totals").one();
  }

  /**
   * How many are waiting, by queue and reason, the oldest few as a sample (bodies as JSON text), and
   * how many were dropped, oldest first, to stay within the limits.
   */
  async summary(): Promise<{
    total: number;
    dropped: number;
    byReason: { queue: string; reason: string; count: number }[];
    sample: LetterSample[];
  }> {
    const sql = this.#storage.sql;
    const byReason = sql
      .exec<{ queue: string; reason: string; count: number }>("SELECT queue, reason, COUNT(*) AS count FROM letters GROUP BY queue, reason")
      .toArray();
    const sample = sql
      .exec<{ queue: string; reason: string; detail: string; attempts: number; failed_at: number; body: string }>(
        "SELECT * FROM letters ORDER BY seq LIMIT 5",
      )
      .toArray()
      .map((row) => ({
        queue: row.queue,
        reason: row.reason,
        detail: row.detail,
        attempts: row.attempts,
        failedAt: row.failed_at,
        body: row.body,
      }));
    return { total: byReason.reduce((sum, row) => sum + row.count, 0), dropped: this.#totals().dropped, byReason, sample };
  }

  /** Sends up to `limit` letters back to their queues, oldest first, and forgets the ones sent. */
  async replay(limit = 1_000): Promise<ReplayOutcome> {
    const sql = this.#storage.sql;
    const rows = sql
      .exec<{ seq: number; queue: string; body: string }>(
        "SELECT seq, queue, body FROM letters ORDER BY seq LIMIT ?",
        Math.min(Math.max(1, limit), 5_000),
      )
      .toArray();
    let replayed = 0;
    for (let start = 0; start < rows.length; start += 100) {
      const chunk = rows.slice(start, start + 100);
      for (const queue of ["tailor-events", "tailor-feedback"] as const) {
        const mine = chunk.filter((row) => row.queue === queue);
        if (mine.length === 0) continue;
        const producer = queue === "tailor-events" ? this.env.EVENTS_QUEUE : this.env.FEEDBACK_QUEUE;
        await producer.sendBatch(mine.map((row) => ({ body: JSON.parse(row.body) as unknown, contentType: "json" as const })));
        this.#storage.transactionSync(() => {
          let bytes = 0;
          let deleted = 0;
          for (const row of mine) {
            for (const gone of sql.exec<{ size: number }>("DELETE FROM letters WHERE seq = ? RETURNING size", row.seq)) {
              bytes += gone.size;
              deleted++;
            }
          }
          sql.exec("UPDATE totals SET letters = letters - ?, bytes = bytes - ?", deleted, bytes);
        });
        replayed += mine.length;
      }
    }
    return { replayed, remaining: this.#totals().letters };
  }
}
