/**
 * One visitor's rolling state, in a SQLite-backed Durable Object named by the visitor's pseudonym.
 *
 * Events are recorded once per `messageId` (a retried batch is counted as duplicates, not applied
 * twice) and fold into per-minute counters as they arrive, so a profile read for the page path is a
 * handful of indexed sums over the attributes the live rules use, never a scan of the event log.
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { RecordedEvent } from "../shared/events/recorded.ts";
import { countersFor, firstMinuteOf, measureOf, metricOf, minuteOf, parseBehaviorPath } from "../shared/profile/behavior.ts";
import { migrate } from "./sql-migrations.ts";
import { USER_SESSION_MIGRATIONS } from "./user-session.migrations.ts";

export const RecordRequest = z.array(RecordedEvent).min(1).max(100);

export const ProfileRequest = z.strictObject({
  attributes: z.array(z.string().max(256)).max(500),
  now: z.number().int().nonnegative(),
});
export type ProfileRequest = z.infer<typeof ProfileRequest>;

export interface RecordOutcome {
  accepted: number;
  duplicates: number;
}

/** Profile attributes by full attribute name, e.g. `{"behavior.views_10m.category.electronics": 2}`. */
export type ProfileValues = Record<string, number>;

export class UserSession extends DurableObject<Env> {
  readonly #storage: DurableObjectStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#storage = ctx.storage;
    void ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage, USER_SESSION_MIGRATIONS);
    });
  }

  /** Records a batch of accepted events; resolves once they are durably stored. */
  async record(input: RecordedEvent[]): Promise<RecordOutcome> {
    const events = RecordRequest.parse(input);
    const sql = this.#storage.sql;
    let accepted = 0;
    this.#storage.transactionSync(() => {
      for (const event of events) {
        const inserted = sql
          .exec(
            `INSERT INTO events (message_id, type, event, category, product_id, path, received_at, client_time, properties)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING RETURNING seq`,
            event.messageId,
            event.type,
            event.event,
            event.category,
            event.productId,
            event.path,
            event.receivedAt,
            event.clientTime,
            JSON.stringify(event.properties),
          )
          .toArray().length;
        if (inserted === 0) continue;
        accepted++;
        const measure = measureOf(event.type, event.event ?? undefined);
        if (measure === null) continue;
        const minute = minuteOf(event.receivedAt);
        for (const { metric, key } of countersFor(measure, event.category, event.productId)) {
          sql.exec(
            `INSERT INTO counters (metric, key, minute, count) VALUES (?, ?, ?, 1)
             ON CONFLICT (metric, key, minute) DO UPDATE SET count = count + 1`,
            metric,
            key,
            minute,
          );
          sql.exec(
            `INSERT INTO totals (metric, key, count) VALUES (?, ?, 1)
             ON CONFLICT (metric, key) DO UPDATE SET count = count + 1`,
            metric,
            key,
          );
        }
      }
    });
    return { accepted, duplicates: events.length - accepted };
  }

  /** Reads the requested profile attributes as of `now`; names that are not profile attributes are left out. */
  readProfile(input: ProfileRequest): ProfileValues {
    const { attributes, now } = ProfileRequest.parse(input);
    const sql = this.#storage.sql;
    const profile: ProfileValues = {};
    for (const path of attributes) {
      const parsed = parseBehaviorPath(path);
      if (!parsed.ok) continue;
      const { measure, dimension, key, window } = parsed.value;
      const metric = metricOf(measure, dimension);
      const firstMinute = firstMinuteOf(window, now);
      const count =
        firstMinute === null
          ? (sql.exec<{ count: number }>("SELECT count FROM totals WHERE metric = ? AND key = ?", metric, key ?? "").toArray()[0]?.count ??
            0)
          : sql
              .exec<{ count: number }>(
                "SELECT COALESCE(SUM(count), 0) AS count FROM counters WHERE metric = ? AND key = ? AND minute >= ?",
                metric,
                key ?? "",
                firstMinute,
              )
              .one().count;
      profile[path] = count;
    }
    return profile;
  }
}
