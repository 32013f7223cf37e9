/**
 * Messages that could not be delivered upstream — refused by the proxy as they are, malformed, or
 * out of retries — kept until someone replays them (`npm run replay`, or the admin API) once the
 * cause is fixed. One instance (`"all"`) holds them all.
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
];

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
      for (const letter of letters) {
        sql.exec(
          "INSERT INTO letters (queue, reason, detail, attempts, failed_at, body) VALUES (?, ?, ?, ?, ?, ?)",
          letter.queue,
          letter.reason,
          letter.detail,
          letter.attempts,
          letter.failedAt,
          JSON.stringify(letter.body),
        );
      }
    });
  }

  /** How many are waiting, by queue and reason, and the oldest few as a sample (bodies as JSON text). */
  async summary(): Promise<{ total: number; byReason: { queue: string; reason: string; count: number }[]; sample: LetterSample[] }> {
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
    return { total: byReason.reduce((sum, row) => sum + row.count, 0), byReason, sample };
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
          for (const row of mine) sql.exec("DELETE FROM letters WHERE seq = ?", row.seq);
        });
        replayed += mine.length;
      }
    }
    const remaining = sql.exec<{ count: number }>("SELECT COUNT(*) AS count FROM letters").one().count;
    return { replayed, remaining };
  }
}
