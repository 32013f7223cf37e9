/**
 * One visitor's rolling state, in a SQLite-backed Durable Object named by the visitor's pseudonym.
 *
 * Events are recorded once per `messageId` (a retried batch counts as duplicates, not applied
 * twice) and fold, as they arrive, into per-minute counters and a small profile state (sessions,
 * recency, cart, traits, consent) held in memory. A profile read for the page path is therefore a
 * few indexed sums over only the attributes the live rules use, never a scan of the event log.
 *
 * The events table doubles as the outbox for the events queue: an event is sent to the queue just
 * after it is stored (after the caller has its answer), and one the queue did not take is sent
 * again by the alarm, so no accepted event is lost. The same alarm deletes everything once the visitor has been idle for
 * `RETENTION_DAYS`.
 *
 * After a proven `identify` (the Worker checks the site's identity proof), an anonymous visitor's
 * object hands its state to the known user's object and becomes an alias of it: calls that reach
 * the alias are passed on to the user's object, except erasure, which reaches the user's object
 * only with a proof for that user.
 * @module
 */

import { DurableObject } from "cloudflare:workers";
import { RecordedEvent } from "../shared/events/recorded.ts";
import { CONVERSION_EVENTS, type FeedbackMessage, feedbackFor, type RememberedExposure } from "../shared/feedback/attribution.ts";
import { toEventBatches, toEventMessage } from "../shared/feedback/event-message.ts";
import { ClickClaimMessage, ClickMessage, ConversionMessage, Pseudonym } from "../shared/feedback/messages.ts";
import {
  countersFor,
  firstMinuteOf,
  LONGEST_WINDOW_MINUTES,
  MINUTE_MS,
  measureOf,
  metricOf,
  minuteOf,
  parseBehaviorPath,
} from "../shared/profile/behavior.ts";
import type { CounterRow, ProfileExport, TotalRow } from "../shared/profile/export.ts";
import { applyEvent, emptyState, mergeStates, type StateValue, stateAttribute, VisitorState } from "../shared/profile/state.ts";
import * as z from "../shared/zod.ts";
import { settings } from "../workers/common/config.ts";
import { attributionWindowMs, forgetExposures, recallExposures } from "./exposure-memory.ts";
import { migrate, schemaVersion } from "./sql-migrations.ts";
import { USER_SESSION_MIGRATIONS } from "./user-session.migrations.ts";

/** Most events kept per visitor; counters keep the history beyond it. */
export const MAX_EVENTS = 1_000;
/** How long raw events are kept; as long as the longest window. */
export const EVENT_RETENTION_MS = LONGEST_WINDOW_MINUTES * MINUTE_MS;
/** When the events queue refused a send, the alarm tries again after this long. */
const FORWARD_RETRY_MS = 30_000;

export const RecordRequest = z.strictObject({
  visitor: Pseudonym,
  /** The pseudonyms of a user's linked visitors, whose exposures count for attribution too. */
  aliases: z.optional(z.array(Pseudonym).check(z.maxLength(8))),
  events: z.array(RecordedEvent).check(z.minLength(1), z.maxLength(100)),
});
export type RecordRequest = z.infer<typeof RecordRequest>;

export const ProfileRequest = z.strictObject({
  attributes: z.array(z.string().check(z.maxLength(256))).check(z.maxLength(500)),
  now: z.int().check(z.nonnegative()),
});
export type ProfileRequest = z.infer<typeof ProfileRequest>;

export interface RecordOutcome {
  accepted: number;
  duplicates: number;
}

/** What `linkToUser` did: linked an anonymous visitor, moved an alias to another user, or nothing. */
export type LinkOutcome = "linked" | "relinked" | "unchanged";

/** What `erase` deleted: the device's own data (and link), the user's too, or nothing at all. */
export type EraseOutcome = "device" | "user" | "not-linked-to-user";

/** Profile attributes by full name, e.g. `{"behavior.views_10m.category.electronics": 2, "cart.value": 80}`. */
export type ProfileValues = Record<string, StateValue>;

type EventRow = {
  seq: number;
  message_id: string;
  type: string;
  event: string | null;
  category: string | null;
  product_id: string | null;
  path: string | null;
  received_at: number;
  client_time: number | null;
  properties: string;
  forwarded: number;
  feedback: string | null;
};

/** Everything one object holds, as handed from a visitor's object to a user's on `identify`. */
export interface SessionSnapshot {
  state: VisitorState;
  events: RecordedEvent[];
  /** Message ids still waiting in the outbox for the events queue. */
  unforwarded: string[];
  counters: CounterRow[];
  totals: TotalRow[];
}

type FeedbackOut = FeedbackMessage;

/** An event on its way out, with the feedback it gave rise to. */
interface Outgoing {
  event: RecordedEvent;
  feedback: FeedbackOut[];
}

const NAMES = { state: "state", visitor: "visitor", linkedTo: "linked_to", merged: "merged:" } as const;

/** The stored state, parsed; state that is not a JSON object at all starts again from empty. */
function storedState(stored: string): VisitorState {
  const parsed = z.safeParse(VisitorState, parseJsonOrUndefined(stored));
  if (parsed.success) return parsed.data;
  console.error(JSON.stringify({ message: "stored visitor state unreadable; starting from empty" }));
  return emptyState();
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const StoredProperties = z.catch(z.record(z.string(), z.unknown()), () => ({}));
const StoredFeedback = z.array(z.union([ClickMessage, ClickClaimMessage, ConversionMessage]));

/** An outbox row's feedback; what no longer parses is dropped (and logged) rather than blocking the outbox. */
function storedFeedback(stored: string): FeedbackOut[] {
  const parsed = StoredFeedback.safeParse(parseJsonOrUndefined(stored));
  if (parsed.success) return parsed.data;
  console.error(JSON.stringify({ message: "stored feedback unreadable; dropped" }));
  return [];
}

function rowToEvent(row: EventRow): RecordedEvent {
  return {
    messageId: row.message_id,
    type: row.type as RecordedEvent["type"],
    event: row.event,
    category: row.category,
    productId: row.product_id,
    path: row.path,
    receivedAt: row.received_at,
    clientTime: row.client_time,
    properties: StoredProperties.parse(parseJsonOrUndefined(row.properties)),
    consent: null,
  };
}

export class UserSession extends DurableObject<Env> {
  readonly #storage: DurableObjectStorage;
  #schemaReady = false;
  #state: VisitorState | undefined;
  #linkedTo: string | null | undefined;
  /** Behaviour counts read in the current minute; cleared by any write. */
  #counts: { minute: number; values: Map<string, number> } = { minute: -1, values: new Map() };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#storage = ctx.storage;
  }

  /** Records a batch of accepted events; resolves once they are durably stored. */
  async record(input: RecordRequest): Promise<RecordOutcome> {
    const { visitor, events, aliases = [] } = RecordRequest.parse(input);
    const linked = this.#linkedUser();
    if (linked !== null) return this.env.USER_SESSION.getByName(linked).record({ visitor: linked, events, aliases: [visitor] });

    const attributable = events.some(
      (event) => event.type === "track" && (event.event === "Promotion Clicked" || CONVERSION_EVENTS.has(event.event ?? "")),
    );
    // Read before any state: other calls may run while this one waits for the memory.
    const exposures = attributable ? await this.#recall([visitor, ...aliases]) : [];
    const windowMs = attributionWindowMs(this.env);
    this.#sql();
    const before = this.#profileState();
    let state = before;
    const fresh: Outgoing[] = [];
    this.#storage.transactionSync(() => {
      for (const event of events) {
        const feedback = attributable ? feedbackFor(event, visitor, exposures, windowMs, aliases) : [];
        if (!this.#insertEvent(event, { forwarded: false, feedback })) continue;
        fresh.push({ event, feedback });
        state = applyEvent(state, event);
      }
      if (fresh.length === 0) return;
      if (before.lastSeen === null) this.#setName(NAMES.visitor, visitor);
      this.#count(fresh.map(({ event }) => event));
      this.#setName(NAMES.state, JSON.stringify(state));
      // Housekeeping once per session rather than on every batch.
      if (state.sessionCount !== before.sessionCount) this.#prune(state.lastSeen ?? Date.now());
    });
    this.#state = state;
    if (fresh.length > 0) this.#counts = { minute: -1, values: new Map() };
    // Stored means accepted: the queue send happens after the answer, and the outbox covers its failure.
    if (fresh.length > 0) this.ctx.waitUntil(this.#forward(visitor, fresh));
    return { accepted: fresh.length, duplicates: events.length - fresh.length };
  }

  /** Remembered exposures for attributing a click or conversion; none (and a log line) when the memory is unavailable. */
  async #recall(pseudonyms: readonly string[]): Promise<RememberedExposure[]> {
    try {
      return await recallExposures(this.env, pseudonyms);
    } catch (error) {
      console.error(JSON.stringify({ message: "exposure memory unavailable; events recorded without attribution", error: String(error) }));
      return [];
    }
  }

  /** Reads the requested attributes as of `now`; names that are not profile attributes are left out. */
  async readProfile(input: ProfileRequest): Promise<ProfileValues> {
    const { attributes, now } = ProfileRequest.parse(input);
    const linked = this.#linkedUser();
    if (linked !== null) return this.env.USER_SESSION.getByName(linked).readProfile({ attributes, now });
    const state = this.#profileState();
    const profile: ProfileValues = {};
    for (const path of attributes) {
      if (path.startsWith("behavior.")) {
        const count = this.#behaviourCount(path, now);
        if (count !== null) profile[path] = count;
      } else {
        const value = stateAttribute(state, path, now);
        if (value !== undefined) profile[path] = value;
      }
    }
    return profile;
  }

  /**
   * Everything kept about this visitor, for the visitor: a `ProfileExport` as JSON text. `pseudonyms`
   * are the names the visitor's remembered exposures are kept under (the caller's own first).
   */
  async exportProfile(pseudonyms: string[] = []): Promise<string> {
    const names = z.array(Pseudonym).check(z.maxLength(9)).parse(pseudonyms);
    const linked = this.#linkedUser();
    if (linked !== null) return this.env.USER_SESSION.getByName(linked).exportProfile([linked, ...names]);
    const exposures = names.length > 0 ? await recallExposures(this.env, names) : [];
    const snapshot = this.#snapshot();
    const days = this.#retentionDays();
    const lastSeen = snapshot.state.lastSeen;
    const exported: ProfileExport = {
      profile: snapshot.state,
      events: snapshot.events.map((event) => ({
        ...event,
        receivedAt: new Date(event.receivedAt).toISOString(),
        clientTime: event.clientTime === null ? null : new Date(event.clientTime).toISOString(),
      })),
      counts: snapshot.totals,
      minuteCounts: snapshot.counters,
      exposures: exposures.map((exposure) => ({ ...exposure, at: new Date(exposure.at).toISOString() })),
      retention: { idleDays: days, deleteAfter: lastSeen === null ? null : new Date(lastSeen + days * 86_400_000).toISOString() },
    };
    return JSON.stringify(exported);
  }

  /**
   * Deletes what this object holds, alarm included, and the exposures remembered under
   * `pseudonyms` (the caller's own first). For an alias that is only the link itself: the user's
   * object is erased too only when the caller names that very user in `user`, which the Worker does
   * only after checking an identity proof. A `user` this object is not linked to erases nothing.
   */
  async erase(pseudonyms: string[] = [], user: string | null = null): Promise<EraseOutcome> {
    const names = z.array(Pseudonym).check(z.maxLength(9)).parse(pseudonyms);
    const proven = z.nullable(Pseudonym).parse(user);
    const linked = this.#linkedUser();
    if (proven !== null && proven !== linked) return "not-linked-to-user";
    if (linked !== null && proven === linked) await this.env.USER_SESSION.getByName(linked).erase([linked]);
    if (names.length > 0) await forgetExposures(this.env, names);
    await this.#eraseOwn();
    return proven === null ? "device" : "user";
  }

  /**
   * Hands this anonymous visitor's state to the user's object and becomes an alias of it. An alias
   * of another user is pointed at the new one instead: it holds nothing of its own (everything went
   * to the first user), so the first user keeps their data and this browser stops reaching it.
   * The Worker calls this only for a user proven by the site's identity proof.
   */
  async linkToUser(user: string, self: string): Promise<LinkOutcome> {
    Pseudonym.parse(user);
    Pseudonym.parse(self);
    const linked = this.#linkedUser();
    if (linked === user) return "unchanged";
    if (linked !== null) {
      this.#storage.transactionSync(() => this.#setName(NAMES.linkedTo, user));
      this.#linkedTo = user;
      return "relinked";
    }
    await this.env.USER_SESSION.getByName(user).absorb(self, this.#snapshot());
    await this.#eraseOwn();
    this.#sql();
    this.#storage.transactionSync(() => {
      this.#setName(NAMES.linkedTo, user);
      this.#setName(NAMES.visitor, self);
    });
    this.#linkedTo = user;
    await this.#storage.setAlarm(Date.now() + this.#retentionDays() * 86_400_000);
    return "linked";
  }

  /** Folds another object's snapshot into this one, once per source (retries are no-ops). */
  async absorb(source: string, snapshot: SessionSnapshot): Promise<void> {
    Pseudonym.parse(source);
    const sql = this.#sql();
    if (this.#name(`${NAMES.merged}${source}`) !== null) return;
    const state = mergeStates(this.#profileState(), snapshot.state);
    const unforwarded = new Set(snapshot.unforwarded);
    this.#storage.transactionSync(() => {
      for (const event of snapshot.events) this.#insertEvent(event, { forwarded: !unforwarded.has(event.messageId), feedback: [] });
      for (const row of snapshot.counters) {
        sql.exec(
          `INSERT INTO counters (metric, key, minute, count) VALUES (?, ?, ?, ?)
           ON CONFLICT (metric, key, minute) DO UPDATE SET count = count + excluded.count`,
          row.metric,
          row.key,
          row.minute,
          row.count,
        );
      }
      for (const row of snapshot.totals) {
        sql.exec(
          `INSERT INTO totals (metric, key, count) VALUES (?, ?, ?)
           ON CONFLICT (metric, key) DO UPDATE SET count = count + excluded.count`,
          row.metric,
          row.key,
          row.count,
        );
      }
      this.#setName(NAMES.state, JSON.stringify(state));
      this.#setName(`${NAMES.merged}${source}`, String(Date.now()));
    });
    this.#state = state;
    this.#counts = { minute: -1, values: new Map() };
    if (unforwarded.size > 0) await this.#storage.setAlarm(Date.now() + FORWARD_RETRY_MS);
    else if ((await this.#storage.getAlarm()) === null) await this.#storage.setAlarm(this.#retentionDue(state));
  }

  /** Sends events the queue has not taken yet, then deletes everything if the visitor is gone. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    if (this.#linkedUser() !== null) {
      // An alias past its retention: forget the link only; the user's object has its own alarm.
      await this.#eraseOwn();
      return;
    }
    const sql = this.#readableSql();
    if (sql === null) {
      await this.#storage.deleteAlarm();
      return;
    }
    const visitor = this.#name(NAMES.visitor);
    const pending = sql.exec<EventRow>("SELECT * FROM events WHERE forwarded = 0 ORDER BY seq LIMIT 100").toArray();
    if (pending.length > 0 && visitor !== null) {
      const sent = await this.#forward(
        visitor,
        pending.map((row) => ({
          event: rowToEvent(row),
          feedback: row.feedback === null ? [] : storedFeedback(row.feedback),
        })),
      );
      if (!sent) return;
    }
    const state = this.#profileState();
    const due = this.#retentionDue(state);
    if (state.lastSeen === null || due <= now) {
      await this.#eraseOwn();
      return;
    }
    this.#storage.transactionSync(() => this.#prune(now));
    await this.#storage.setAlarm(due);
  }

  async #eraseOwn(): Promise<void> {
    await this.#storage.deleteAlarm();
    await this.#storage.deleteAll();
    this.#schemaReady = false;
    this.#state = undefined;
    this.#linkedTo = undefined;
    this.#counts = { minute: -1, values: new Map() };
  }

  /** Stores an event unless its `messageId` is known; true when it was new. */
  #insertEvent(event: RecordedEvent, { forwarded, feedback }: { forwarded: boolean; feedback: readonly FeedbackOut[] }): boolean {
    return (
      this.#storage.sql
        .exec(
          `INSERT INTO events (message_id, type, event, category, product_id, path, received_at, client_time, properties, forwarded, feedback)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING RETURNING seq`,
          event.messageId,
          event.type,
          event.event,
          event.category,
          event.productId,
          event.path,
          event.receivedAt,
          event.clientTime,
          JSON.stringify(event.properties),
          forwarded ? 1 : 0,
          feedback.length === 0 ? null : JSON.stringify(feedback),
        )
        .toArray().length > 0
    );
  }

  /**
   * One behaviour count as of `now`. Counts only change when events arrive or a minute passes, so
   * they are memoized per minute until the next write.
   */
  #behaviourCount(path: string, now: number): number | null {
    const minute = minuteOf(now);
    if (this.#counts.minute !== minute) this.#counts = { minute, values: new Map() };
    const known = this.#counts.values.get(path);
    if (known !== undefined) return known;
    const parsed = parseBehaviorPath(path);
    if (!parsed.ok) return null;
    const { measure, dimension, key, window } = parsed.value;
    const metric = metricOf(measure, dimension);
    const firstMinute = firstMinuteOf(window, now);
    const sql = this.#readableSql();
    const count =
      sql === null
        ? 0
        : firstMinute === null
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
    this.#counts.values.set(path, count);
    return count;
  }

  /** Storage for writing: creates or migrates the schema first. */
  #sql(): SqlStorage {
    if (!this.#schemaReady) {
      migrate(this.#storage, USER_SESSION_MIGRATIONS);
      this.#schemaReady = true;
    }
    return this.#storage.sql;
  }

  /** Storage for reading, or null for an object that holds nothing: reads never create tables. */
  #readableSql(): SqlStorage | null {
    if (this.#schemaReady) return this.#storage.sql;
    const version = schemaVersion(this.#storage.sql);
    if (version === 0) return null;
    // Current already: no need to run the migrations, which would read the version again.
    if (version === USER_SESSION_MIGRATIONS.length) this.#schemaReady = true;
    return this.#sql();
  }

  #name(name: string): string | null {
    return this.#readableSql()?.exec<{ value: string }>("SELECT value FROM meta WHERE name = ?", name).toArray()[0]?.value ?? null;
  }

  #setName(name: string, value: string): void {
    this.#sql().exec("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", name, value);
  }

  #linkedUser(): string | null {
    // Null (not linked) is an answer too: only undefined means "not read yet".
    if (this.#linkedTo === undefined) this.#linkedTo = this.#name(NAMES.linkedTo);
    return this.#linkedTo;
  }

  #profileState(): VisitorState {
    if (this.#state === undefined) {
      const stored = this.#name(NAMES.state);
      // Parsed once per load into memory, not per read: readProfile is on the page's path.
      this.#state = stored === null ? emptyState() : storedState(stored);
    }
    return this.#state;
  }

  #retentionDays(): number {
    return settings(this.env).RETENTION_DAYS;
  }

  #retentionDue(state: VisitorState): number {
    return (state.lastSeen ?? Date.now()) + this.#retentionDays() * 86_400_000;
  }

  /** Adds the events to the per-minute counters and lifetime totals, one upsert per distinct row. */
  #count(events: readonly RecordedEvent[]): void {
    const increments = new Map<string, { metric: string; key: string; minute: number; count: number }>();
    for (const event of events) {
      const measure = measureOf(event.type, event.event ?? undefined);
      if (measure === null) continue;
      const minute = minuteOf(event.receivedAt);
      for (const { metric, key } of countersFor(measure, event.category, event.productId)) {
        const id = `${metric}\u0000${key}\u0000${minute}`;
        const row = increments.get(id);
        if (row === undefined) increments.set(id, { metric, key, minute, count: 1 });
        else row.count++;
      }
    }
    const sql = this.#storage.sql;
    for (const { metric, key, minute, count } of increments.values()) {
      sql.exec(
        `INSERT INTO counters (metric, key, minute, count) VALUES (?, ?, ?, ?)
         ON CONFLICT (metric, key, minute) DO UPDATE SET count = count + excluded.count`,
        metric,
        key,
        minute,
        count,
      );
      sql.exec(
        `INSERT INTO totals (metric, key, count) VALUES (?, ?, ?)
         ON CONFLICT (metric, key) DO UPDATE SET count = count + excluded.count`,
        metric,
        key,
        count,
      );
    }
  }

  /** Drops forwarded events beyond the newest `MAX_EVENTS` or older than a week, and expired minute counters. */
  #prune(now: number): void {
    const sql = this.#storage.sql;
    sql.exec(
      `DELETE FROM events WHERE forwarded = 1 AND (received_at < ? OR seq <= (SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?))`,
      now - EVENT_RETENTION_MS,
      MAX_EVENTS,
    );
    sql.exec("DELETE FROM counters WHERE minute < ?", minuteOf(now - EVENT_RETENTION_MS) - 1);
  }

  /**
   * Puts events on the events queue and the clicks and conversions they stand for on the feedback
   * queue; on failure they stay in the outbox and the alarm retries (duplicates upstream carry the
   * same ids).
   */
  async #forward(visitor: string, items: readonly Outgoing[]): Promise<boolean> {
    const excluded = settings(this.env).EXCLUDED_PROPERTIES;
    const feedback = items.flatMap((item) => item.feedback);
    try {
      await this.env.EVENTS_QUEUE.sendBatch(
        toEventBatches(
          items.map(({ event }) => toEventMessage(event, visitor, excluded)),
          visitor,
        ).map((body) => ({ body, contentType: "json" })),
      );
      for (let start = 0; start < feedback.length; start += 100) {
        await this.env.FEEDBACK_QUEUE.sendBatch(feedback.slice(start, start + 100).map((body) => ({ body, contentType: "json" })));
      }
    } catch (error) {
      console.error(
        JSON.stringify({ message: "queue send failed; will retry from the outbox", count: items.length, error: String(error) }),
      );
      await this.#storage.setAlarm(Date.now() + FORWARD_RETRY_MS);
      return false;
    }
    const sql = this.#storage.sql;
    this.#storage.transactionSync(() => {
      for (const { event } of items) sql.exec("UPDATE events SET forwarded = 1 WHERE message_id = ?", event.messageId);
    });
    if ((await this.#storage.getAlarm()) === null) await this.#storage.setAlarm(this.#retentionDue(this.#profileState()));
    return true;
  }

  #snapshot(): SessionSnapshot {
    const sql = this.#readableSql();
    if (sql === null) return { state: emptyState(), events: [], unforwarded: [], counters: [], totals: [] };
    const rows = sql.exec<EventRow>("SELECT * FROM events ORDER BY seq").toArray();
    return {
      state: this.#profileState(),
      events: rows.map(rowToEvent),
      unforwarded: rows.filter((row) => row.forwarded === 0).map((row) => row.message_id),
      counters: sql.exec<CounterRow>("SELECT metric, key, minute, count FROM counters").toArray(),
      totals: sql.exec<TotalRow>("SELECT metric, key, count FROM totals").toArray(),
    };
  }
}
