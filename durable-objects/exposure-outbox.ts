/**
 * Exposure batches the feedback queue would not take, kept until it does. The page path retries a
 * refused send a few times within its own `waitUntil` (workers/decide/exposure-log.ts); a batch
 * still refused after that is parked here, and this object's alarm sends it again, oldest first,
 * with a delay that doubles per failed round (up to `MAX_RETRY_DELAY_MS`), until the queue takes it.
 *
 * A batch keeps the id it was first sent under, so if an earlier send did reach the queue after
 * all, the consumer's experiment counts skip the second copy (they are applied once per queue
 * message id, `ExperimentStats`). One instance (`OUTBOX_NAME`) holds every parked batch, bounded by
 * `OUTBOX_LIMITS`: past them the oldest batches are dropped and counted, so a long queue outage
 * cannot fill the object's storage (sizing in docs/decisions/0007-batched-exposures-and-sharded-memory.md).
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import { DecisionBatchMessage } from "../shared/feedback/messages.ts";
import { type Migrations, migrate } from "./sql-migrations.ts";

/** The one instance every isolate parks its batches in. */
export const OUTBOX_NAME = "exposures";

/** How much the outbox keeps: a batch of one decision is about 1 KB, of 64 decisions up to 96 KB (sizing in decision 0007). */
export interface OutboxLimits {
  batches: number;
  /** Bytes of message JSON. */
  bytes: number;
}

export const OUTBOX_LIMITS: OutboxLimits = { batches: 1_000_000, bytes: 1024 ** 3 };

/** The first re-send comes this soon after a batch is parked; each failed round doubles the wait. */
export const FIRST_RETRY_DELAY_MS = 1_000;
export const MAX_RETRY_DELAY_MS = 5 * 60 * 1_000;
/** Batches sent per alarm; when more are waiting, the next alarm follows at once. */
const BATCHES_PER_ROUND = 100;

const MIGRATIONS: Migrations = [
  [
    `CREATE TABLE parked (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      body TEXT NOT NULL,
      parked_at INTEGER NOT NULL
    )`,
    // Running totals, so the bound is kept without counting rows; `failures` is the current run of failed rounds.
    "CREATE TABLE totals (id INTEGER PRIMARY KEY CHECK (id = 1), batches INTEGER NOT NULL, bytes INTEGER NOT NULL, dropped INTEGER NOT NULL, failures INTEGER NOT NULL)",
    "INSERT INTO totals VALUES (1, 0, 0, 0, 0)",
  ],
];

interface Totals {
  batches: number;
  bytes: number;
  dropped: number;
  failures: number;
}

/** What the outbox holds: batches waiting, their bytes, how many were dropped to stay in bounds, and the oldest one's age. */
export interface OutboxSummary extends Totals {
  oldestParkedAt: number | null;
}

export class ExposureOutbox extends DurableObject<Env> {
  readonly #storage: DurableObjectStorage;
  /** Not part of the RPC interface (fields are not); tests lower it to exercise the bound. */
  limits: OutboxLimits = OUTBOX_LIMITS;
  /** Where batches are re-sent; tests put a failing queue here. */
  queue: Queue | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#storage = ctx.storage;
    void ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage, MIGRATIONS);
    });
  }

  /** Keeps a batch until the queue takes it; a batch parked twice (same id) is kept once. */
  async park(input: DecisionBatchMessage): Promise<void> {
    const parsed = DecisionBatchMessage.safeParse(input);
    // The caller hears only that it was refused: the issues would quote pseudonyms and paths.
    if (!parsed.success) throw new TypeError("invalid decisions batch");
    const message = parsed.data;
    const body = JSON.stringify(message);
    const sql = this.#storage.sql;
    this.#storage.transactionSync(() => {
      const added = sql
        .exec(
          "INSERT INTO parked (id, body, parked_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING seq",
          message.id,
          body,
          Date.now(),
        )
        .toArray().length;
      if (added === 0) return;
      sql.exec("UPDATE totals SET batches = batches + 1, bytes = bytes + ?", body.length);
      this.#trim();
    });
    // An alarm already set (a round in backoff) is left as it is: it re-sends this batch too.
    if ((await this.#storage.getAlarm()) === null) await this.#storage.setAlarm(Date.now() + FIRST_RETRY_DELAY_MS);
  }

  /** Drops the oldest batches until the totals are within the limits; counts them. */
  #trim(): void {
    const sql = this.#storage.sql;
    for (;;) {
      const totals = this.#totals();
      if (totals.batches <= this.limits.batches && totals.bytes <= this.limits.bytes) return;
      const removed = sql
        .exec<{ size: number }>("DELETE FROM parked WHERE seq = (SELECT MIN(seq) FROM parked) RETURNING LENGTH(body) AS size")
        .toArray();
      const size = removed[0]?.size;
      if (size === undefined) return;
      sql.exec("UPDATE totals SET batches = batches - 1, bytes = bytes - ?, dropped = dropped + 1", size);
    }
  }

  #totals(): Totals {
    return this.#storage.sql
      .exec<{ batches: number; bytes: number; dropped: number; failures: number }>("SELECT batches, bytes, dropped, failures FROM totals")
      .one();
  }

  /** The round of re-sends under way, if any. */
  #round: Promise<void> | null = null;

  /** Re-sends the oldest batches in order; stops at the first refusal and tries again later. */
  override alarm(): Promise<void> {
    // One round at a time: a second alarm call while one is sending (a test running the alarm as the
    // platform fires it) would send the same batches again.
    this.#round ??= this.#resend().finally(() => {
      this.#round = null;
    });
    return this.#round;
  }

  async #resend(): Promise<void> {
    const queue = this.queue ?? this.env.FEEDBACK_QUEUE;
    const sql = this.#storage.sql;
    const rows = sql.exec<{ seq: number; body: string }>("SELECT seq, body FROM parked ORDER BY seq LIMIT ?", BATCHES_PER_ROUND).toArray();
    for (const row of rows) {
      try {
        await queue.send(JSON.parse(row.body) as unknown, { contentType: "json" });
      } catch (error) {
        const failures = this.#totals().failures + 1;
        sql.exec("UPDATE totals SET failures = ?", failures);
        const delay = Math.min(FIRST_RETRY_DELAY_MS * 2 ** failures, MAX_RETRY_DELAY_MS);
        console.warn(
          JSON.stringify({
            message: "exposure outbox re-send failed",
            waiting: this.#totals().batches,
            retryInMs: delay,
            error: String(error),
          }),
        );
        await this.#storage.setAlarm(Date.now() + delay);
        return;
      }
      sql.exec(
        "UPDATE totals SET batches = batches - 1, bytes = bytes - (SELECT LENGTH(body) FROM parked WHERE seq = ?), failures = 0",
        row.seq,
      );
      sql.exec("DELETE FROM parked WHERE seq = ?", row.seq);
    }
    if (this.#totals().batches > 0) await this.#storage.setAlarm(Date.now());
  }

  /** How many batches wait, their size, how many were dropped, and when the oldest was parked. */
  async summary(): Promise<OutboxSummary> {
    const oldest = this.#storage.sql.exec<{ at: number | null }>("SELECT MIN(parked_at) AS at FROM parked").one().at;
    return { ...this.#totals(), oldestParkedAt: oldest };
  }
}
