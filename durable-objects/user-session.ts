/**
 * One visitor's rolling state, in a SQLite-backed Durable Object named by the visitor's pseudonym.
 *
 * Events are recorded once per `messageId` (a retried batch counts as duplicates, not applied
 * twice) and fold, as they arrive, into per-minute counters and a small profile state (sessions,
 * recency, cart, traits, consent) held in memory. A profile read for the page path is therefore a
 * few indexed sums over only the attributes the live rules use, never a scan of the event log.
 *
 * Accepted events are stored in `batches` rows, about one row written per batch: a batch is put
 * on the queues first and then stored, already marked sent, in the same write that carries its
 * counts and the new profile state (appended to the newest row while it has room). The rows are the
 * outbox too: what the queues did not take in time is sent again by the alarm, so no accepted event
 * is lost. The same alarm deletes everything once the visitor has been idle for `RETENTION_DAYS`.
 * Why it is laid out so: docs/decisions/0014 and 0021.
 *
 * After a proven `identify` (the Worker checks the site's identity proof), an anonymous visitor's
 * object hands its state to the known user's object and becomes an alias of it: calls that reach
 * the alias are passed on to the user's object, except erasure, which reaches the user's object
 * only with a proof for that user.
 *
 * This file is the RPC surface and the storage it orchestrates; the pieces with one concern each sit
 * beside it: `user-session.rpc.ts` (arguments and results), `user-session.rows.ts` (reading rows
 * back), `user-session.counters.ts` (behaviour counters), `user-session.outbox.ts` (queue sends) and
 * `user-session.migrations.ts` (the SQLite schema).
 * @module
 */

import { DurableObject } from "cloudflare:workers";
import { CONVERSION_EVENTS, feedbackFor, type RememberedExposure } from "../shared/feedback/attribution.ts";
import { Pseudonym } from "../shared/feedback/messages.ts";
import { firstMinuteOf, LONGEST_WINDOW_MINUTES, MINUTE_MS, metricOf, minuteOf, parseBehaviorPath } from "../shared/profile/behavior.ts";
import { DIGEST_MAX_AGE_MS, makeDigest, type ProfileDigest } from "../shared/profile/digest.ts";
import type { ProfileExport } from "../shared/profile/export.ts";
import { applyEvent, emptyState, mergeStates, stateAttribute, type VisitorState } from "../shared/profile/state.ts";
import { armExperiment, RememberedArms, StoredArms, withNewestArms } from "../shared/rules/sticky.ts";
import * as z from "../shared/zod.ts";
import { settings } from "../workers/common/config.ts";
import { placed } from "../workers/common/placement.ts";
import { attributionWindowMs, forgetExposures, recallExposures } from "./exposure-memory.ts";
import { RowMeter } from "./row-meter.ts";
import { migrate, schemaVersion } from "./sql-migrations.ts";
import {
  addBuckets,
  addTo,
  addToMinuteRows,
  type Buckets,
  bucketIncrements,
  bucketsJson,
  type Counts,
  cappedCounts,
  counterRows,
  countKey,
  countsJson,
  keysOf,
  parseBuckets,
  parseCounts,
  readBuckets,
  rowsToBuckets,
  sumCount,
  totalRows,
  withinKeyLimits,
} from "./user-session.counters.ts";
import { USER_SESSION_MARK, USER_SESSION_MIGRATIONS, USER_SESSION_ON_DEMAND, USER_SESSION_SCHEMA } from "./user-session.migrations.ts";
import { FORWARD_RETRY_MS, type Outgoing, SEND_WAIT_MS, sendToQueues, sendWithin } from "./user-session.outbox.ts";
import { type BatchRow, itemsJson, storedItems, storedState } from "./user-session.rows.ts";
import {
  type DigestedRecordOutcome,
  DigestRequest,
  type EraseOutcome,
  type LinkOutcome,
  ProfileRequest,
  type ProfileValues,
  type RecordOutcome,
  RecordRequest,
  type SessionSnapshot,
  type StorageUsage,
} from "./user-session.rpc.ts";

/** Most events kept per visitor; counters keep the history beyond it. */
const MAX_EVENTS = 1_000;
/**
 * Events stored beyond `MAX_EVENTS` before a batch prunes within the session: the slack spreads
 * each prune's row writes over a quarter of `MAX_EVENTS` events.
 */
const PRUNE_SLACK = MAX_EVENTS / 4;
/**
 * Most events one row takes before the next batch starts a new one: rows are deleted whole, so a
 * row of many small batches is one delete, while a row rewritten on every append stays small.
 */
const ROW_EVENTS = 50;
/**
 * Longest time from a row's first event to the last one appended: rows are pruned by their newest
 * event, so a raw event is kept at most this much longer than `EVENT_RETENTION_MS`.
 */
const ROW_SPAN_MS = 86_400_000;
/** How long raw events are kept; as long as the longest window. */
const EVENT_RETENTION_MS = LONGEST_WINDOW_MINUTES * MINUTE_MS;

const NAMES = {
  state: "state",
  visitor: "visitor",
  linkedTo: "linked_to",
  merged: "merged:",
  totalsBefore: "totals_before",
  assignments: "assignments",
} as const;
/** Outbox batches the alarm sends at once (each holds at most 100 events). */
const FORWARD_BATCHES = 10;

function parseJsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** What memory keeps of the newest `batches` row, to append to it without reading it back. */
interface NewestRow {
  seq: number;
  size: number;
  sent: number;
  counts: Buckets;
  firstAt: number;
}

/** Which exposure a click claim asks for: its rule and slot. */
function claimKey(claim: { ruleId: string; slot: string }): string {
  return `${claim.ruleId}\u0000${claim.slot}`;
}

export class UserSession extends DurableObject<Env> {
  readonly #storage: DurableObjectStorage;
  readonly #meter: RowMeter;
  /** Page-path reads and the rows they cost (benchmarks and tests, through `usage`). */
  #profileReads = { calls: 0, rowsRead: 0, rowsWritten: 0 };
  #eventsAccepted = 0;
  #schemaReady = false;
  #state: VisitorState | undefined;
  #linkedTo: string | null | undefined;
  /** The minute buckets, loaded on first use and kept in step with every write. */
  #buckets: Buckets | undefined;
  /** Lifetime counts of buckets already pruned (`meta.totals_before`). */
  #before: Counts | undefined;
  /**
   * `messageId`s of the newest stored events (at most `MAX_EVENTS + PRUNE_SLACK`), loaded on first
   * record, so retries are recognized without an index; `stored` counts every stored event.
   */
  #known: { ids: Set<string>; stored: number } | undefined;
  /** The distinct counts keys of `#buckets` (`of`), for the key limits. */
  #keys: { of: Buckets; keys: Set<string> } | undefined;
  /** The newest batch row (null: none), loaded on first record and kept in step with every write. */
  #newest: NewestRow | null | undefined;
  /** `messageId`s of batches waiting for the queues before they are stored. */
  readonly #inFlight = new Set<string>();
  /** How many erasures this object has run since it started: a batch that waited through one is dropped. */
  #erasures = 0;
  /** Remembered bandit arms (`meta.assignments`), loaded on first use. */
  #arms: Record<string, string> | undefined;
  /** Which of the tables created on demand (`minutes`, `meta`) exist, read once per load. */
  #tables: Set<keyof typeof USER_SESSION_ON_DEMAND> | undefined;
  /** Behaviour counts read in the current minute; cleared by any write. */
  #counts: { minute: number; values: Map<string, number> } = { minute: -1, values: new Map() };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#storage = ctx.storage;
    this.#meter = new RowMeter(ctx.storage.sql);
  }

  /**
   * Rows this object read and wrote since it was loaded, with the events it accepted and the
   * profile reads it answered: what `npm run bench:ingest` and the tests measure storage by.
   */
  async usage(): Promise<StorageUsage> {
    return {
      ...this.#meter.settle(),
      eventsAccepted: this.#eventsAccepted,
      profileReads: { ...this.#profileReads },
      rowsStored: this.#rowsStored(),
    };
  }

  /**
   * Rows held now in this object's tables: each is a row written again when it is deleted (by a
   * prune, by retention or by erasure), so the benchmark counts them with the rows written. Read
   * past the meter: counting is not part of what the object costs.
   */
  #rowsStored(): number {
    const sql = this.#storage.sql;
    if (schemaVersion(sql, USER_SESSION_MARK) === 0) return 0;
    const tables = sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('batches', 'minutes', 'meta', 'schema_migrations')",
      )
      .toArray();
    return tables.reduce((sum, { name }) => sum + sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${name}`).one().n, 0);
  }

  /**
   * Records a batch of accepted events; resolves once they are durably stored. The batch goes to
   * the queues first, so it is stored already marked sent: one row written per batch, with no mark
   * to write after the answer (docs/decisions/0021).
   */
  async record(input: RecordRequest): Promise<RecordOutcome> {
    const { visitor, events, aliases = [] } = RecordRequest.parse(input);
    const erasures = this.#erasures;
    const linked = this.#linkedUser();
    if (linked !== null)
      return placed(this.env.USER_SESSION, this.env)
        .getByName(linked)
        .record({ visitor: linked, events, aliases: [visitor] });

    const attributable = events.some(
      (event) => event.type === "track" && (event.event === "Promotion Clicked" || CONVERSION_EVENTS.has(event.event ?? "")),
    );
    // Read before any state: other calls may run while this one waits for the memory.
    const exposures = attributable ? await this.#recall([visitor, ...aliases]) : [];
    const windowMs = attributionWindowMs(this.env);
    this.#sql();
    const known = this.#knownIds().ids;
    const fresh: Outgoing[] = [];
    const ids = new Set<string>();
    // Click claims already sent from this batch, by rule and slot: every event of a batch has the
    // same receive time, so further claims would resolve to the same exposure and count once anyway.
    const claimed = new Set<string>();
    for (const event of events) {
      if (known.has(event.messageId) || this.#inFlight.has(event.messageId) || ids.has(event.messageId)) continue;
      const feedback = attributable
        ? feedbackFor(event, visitor, exposures, windowMs, aliases).filter(
            (message) => message.kind !== "click-claim" || !claimed.has(claimKey(message)),
          )
        : [];
      for (const message of feedback) if (message.kind === "click-claim") claimed.add(claimKey(message));
      ids.add(event.messageId);
      fresh.push({ event, feedback });
    }
    if (fresh.length === 0) return { accepted: 0, duplicates: events.length };
    // Other calls run while this one waits for the queues: the ids are taken meanwhile, so a retry
    // arriving now is a duplicate, not a second copy.
    for (const id of ids) this.#inFlight.add(id);
    try {
      const sent = await sendWithin(this.env, visitor, fresh, SEND_WAIT_MS);
      // The visitor asked to be forgotten while this batch waited: it is not stored, and no state
      // comes back to life (what the queues already took is named in decision 0021).
      if (this.#erasures !== erasures) return { accepted: 0, duplicates: events.length - fresh.length };
      this.#store(visitor, fresh, sent);
      // Stored means accepted; a batch the queues did not take waits in the outbox for the alarm.
      if (!sent) await this.#storage.setAlarm(Date.now() + FORWARD_RETRY_MS);
      else if ((await this.#storage.getAlarm()) === null) await this.#storage.setAlarm(this.#retentionDue(this.#profileState()));
    } finally {
      for (const id of ids) this.#inFlight.delete(id);
    }
    return { accepted: fresh.length, duplicates: events.length - fresh.length };
  }

  /**
   * Stores new events in one transaction: appended to the newest row while it holds the same
   * session and has room, else as a new row; either way one row written, carrying the counts, the
   * state and whether the queues took the events. State and counts are read here, after the wait
   * for the queues, so calls that ran meanwhile are included.
   */
  #store(visitor: string, fresh: readonly Outgoing[], sent: boolean): void {
    // An erasure may have run during the wait: the schema is created again if so.
    this.#sql();
    const before = this.#profileState();
    let state = before;
    for (const { event } of fresh) state = applyEvent(state, event);
    const loadedIds = this.#knownIds();
    const loaded = this.#loadedBuckets();
    const keys = this.#keysOf(loaded);
    const increments = withinKeyLimits(bucketIncrements(fresh.map(({ event }) => event)), loaded, new Set(keys));
    const crowded = loadedIds.stored + fresh.length > MAX_EVENTS + PRUNE_SLACK;
    const newSession = state.sessionCount !== before.sessionCount;
    const newest = this.#newestRow();
    const latest = Math.max(...fresh.map(({ event }) => event.receivedAt));
    const append = newest !== null && newest.size + fresh.length <= ROW_EVENTS && latest - newest.firstAt <= ROW_SPAN_MS;
    let written: NewestRow | undefined;
    this.#transaction(() => {
      written = append ? this.#appendToNewest(newest, fresh, increments, sent, state) : this.#insertBatch(fresh, increments, sent, state);
      // Only the alarm's resend needs the visitor's name: it is stored with events left to send, so
      // a new visitor whose first beacon the queues took costs no row for it.
      if (written.sent < written.size) this.#setName(NAMES.visitor, visitor);
      // Housekeeping once per session, and whenever a long session has stored too many events.
      if (newSession || crowded) this.#prune(state.lastSeen ?? Date.now());
    });
    this.#state = state;
    this.#eventsAccepted += fresh.length;
    if (this.#known === loadedIds) {
      for (const { event } of fresh) loadedIds.ids.add(event.messageId);
      loadedIds.stored += fresh.length;
    }
    // A prune in the transaction reset what was loaded; otherwise the batch's counts join memory.
    if (this.#buckets === loaded) {
      addBuckets(loaded, increments);
      for (const counts of increments.values()) for (const id of counts.keys()) keys.add(id);
      this.#newest = written;
    }
    this.#counts = { minute: -1, values: new Map() };
  }

  /**
   * Records a batch as `record` does, and answers with the digest of what `attributes` read after it
   * (the ingest hands it to the browser as a signed cookie, so pages can decide without calling this
   * object). A browser linked to a user gets none: the user's other devices change that profile.
   */
  async recordWithDigest(input: RecordRequest, request: DigestRequest): Promise<DigestedRecordOutcome> {
    const { attributes } = DigestRequest.parse(request);
    const outcome = await this.record(input);
    if (this.#linkedUser() !== null) return { outcome, digest: null };
    const digest = this.#digest(attributes, Date.now());
    return { outcome, digest: { json: JSON.stringify(digest), expires: digest.e } };
  }

  #digest(attributes: readonly string[], now: number): ProfileDigest {
    const state = this.#profileState();
    return makeDigest(
      attributes,
      {
        state,
        counts: (path) => this.#countsInWindow(path, now),
        isArm: (path) => armExperiment(path) !== null,
      },
      Math.min(now + DIGEST_MAX_AGE_MS, this.#retentionDue(state)),
    );
  }

  /** The per-minute counts of a behaviour attribute inside its window as of `now` (a lifetime one as minute 0). */
  #countsInWindow(path: string, now: number): [number, number][] | null {
    const parsed = parseBehaviorPath(path);
    if (!parsed.ok) return null;
    const { measure, dimension, key, window } = parsed.value;
    const id = countKey(metricOf(measure, dimension), key ?? "");
    const first = firstMinuteOf(window, now);
    if (first === null) return [[0, sumCount(this.#loadedBuckets(), this.#totalsBefore(), id, null)]];
    const counts: [number, number][] = [];
    for (const [minute, bucket] of this.#loadedBuckets()) {
      const count = bucket.get(id) ?? 0;
      if (minute >= first && count > 0) counts.push([minute, count]);
    }
    return counts;
  }

  /**
   * Remembers bandit arms the page drew for this visitor (experiment id → variant), replacing any
   * remembered before for the same experiments; one row written, and none when nothing changes.
   * Called after the page is answered, so the page never waits for it.
   */
  async rememberAssignments(input: RememberedArms): Promise<void> {
    const arms = RememberedArms.parse(input);
    const linked = this.#linkedUser();
    if (linked !== null) return placed(this.env.USER_SESSION, this.env).getByName(linked).rememberAssignments(arms);
    const current = this.#rememberedArms();
    if (Object.entries(arms).every(([experiment, variant]) => current[experiment] === variant)) return;
    // The oldest arms give way past the limit, so the stored arms always read back.
    const next = withNewestArms(current, arms);
    const fresh = this.#readableSql() === null;
    this.#sql();
    this.#transaction(() => this.#setName(NAMES.assignments, JSON.stringify(next)));
    this.#arms = next;
    // An object the page created holds the arms until the retention period has passed.
    if (fresh && (await this.#storage.getAlarm()) === null) await this.#storage.setAlarm(this.#retentionDue(this.#profileState()));
  }

  #rememberedArms(): Record<string, string> {
    if (this.#arms === undefined) {
      const stored = this.#name(NAMES.assignments);
      const parsed = stored === null ? null : StoredArms.safeParse(parseJsonOrNull(stored));
      // More than the limit (stored before it was kept) reads as the newest, not as none.
      this.#arms = parsed?.success ? withNewestArms(parsed.data) : {};
    }
    return this.#arms;
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
    const before = this.#meter.settle();
    const profile = this.#readProfile(attributes, now);
    const after = this.#meter.settle();
    this.#profileReads.calls++;
    this.#profileReads.rowsRead += after.rowsRead - before.rowsRead;
    this.#profileReads.rowsWritten += after.rowsWritten - before.rowsWritten;
    return profile;
  }

  #readProfile(attributes: string[], now: number): ProfileValues | Promise<ProfileValues> {
    const linked = this.#linkedUser();
    if (linked !== null) return placed(this.env.USER_SESSION, this.env).getByName(linked).readProfile({ attributes, now });
    const state = this.#profileState();
    const profile: ProfileValues = {};
    for (const path of attributes) {
      const experiment = armExperiment(path);
      if (experiment !== null) {
        const arm = this.#rememberedArms()[experiment];
        if (arm !== undefined) profile[path] = arm;
      } else if (path.startsWith("behavior.")) {
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
    if (linked !== null)
      return placed(this.env.USER_SESSION, this.env)
        .getByName(linked)
        .exportProfile([linked, ...names]);
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
      assignments: this.#rememberedArms(),
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
    if (linked !== null && proven === linked) await placed(this.env.USER_SESSION, this.env).getByName(linked).erase([linked]);
    // A user's object: the browsers linked to it lose the link and their remembered exposures, so
    // none of them rebuilds the erased profile with its next event.
    const aliases = linked === null ? this.#aliases() : [];
    const self = names[0];
    if (self !== undefined && aliases.length > 0)
      await Promise.all(aliases.map((alias) => placed(this.env.USER_SESSION, this.env).getByName(alias).unlink(self)));
    // In steps of 9: the names one erase may pass, well within what a memory shard takes at once.
    const forgotten = [...names, ...aliases];
    for (let from = 0; from < forgotten.length; from += 9) await forgetExposures(this.env, forgotten.slice(from, from + 9));
    await this.#eraseOwn();
    return proven === null ? "device" : "user";
  }

  /**
   * Forgets this browser's link, and everything it holds, if it is linked to `user` (whose object is
   * being erased); a browser linked to someone else since is left alone.
   */
  async unlink(user: string): Promise<void> {
    Pseudonym.parse(user);
    if (this.#linkedUser() === user) await this.#eraseOwn();
  }

  /**
   * Notes that the browser `source` now links to this user (a browser relinked from another user
   * brings nothing to absorb), so that erasing this user reaches it.
   */
  async adoptAlias(source: string): Promise<void> {
    Pseudonym.parse(source);
    this.#sql();
    if (this.#name(`${NAMES.merged}${source}`) !== null) return;
    this.#transaction(() => this.#setName(`${NAMES.merged}${source}`, String(Date.now())));
    if ((await this.#storage.getAlarm()) === null) await this.#storage.setAlarm(this.#retentionDue(this.#profileState()));
  }

  /** The browsers linked to this user's object: every source it absorbed or adopted. */
  #aliases(): string[] {
    const sql = this.#readableSql();
    if (sql === null) return [];
    if (!this.#hasTable("meta")) return [];
    return sql
      .exec<{ name: string }>("SELECT name FROM meta WHERE name LIKE ?", `${NAMES.merged}%`)
      .toArray()
      .map((row) => row.name.slice(NAMES.merged.length));
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
      await placed(this.env.USER_SESSION, this.env).getByName(user).adoptAlias(self);
      this.#transaction(() => this.#setName(NAMES.linkedTo, user));
      this.#linkedTo = user;
      return "relinked";
    }
    await placed(this.env.USER_SESSION, this.env).getByName(user).absorb(self, this.#snapshot());
    await this.#eraseOwn();
    this.#sql();
    this.#transaction(() => {
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
    this.#sql();
    if (this.#name(`${NAMES.merged}${source}`) !== null) return;
    const state = mergeStates(this.#profileState(), snapshot.state);
    const known = this.#knownIds().ids;
    const unforwarded = new Set(snapshot.unforwarded);
    const events = snapshot.events.filter((event) => !known.has(event.messageId));
    const added = rowsToBuckets(snapshot.counters);
    // The user's own arms win; the device's fill in experiments the user had none for.
    const current = this.#rememberedArms();
    const incoming = StoredArms.safeParse(snapshot.assignments ?? {});
    const missing = incoming.success ? Object.entries(incoming.data).filter(([experiment]) => current[experiment] === undefined) : [];
    const arms = missing.length === 0 ? current : withNewestArms(Object.fromEntries(missing), current);
    // Totals beyond the snapshot's buckets (pruned there) carry over into this object's `before`.
    let before = this.#totalsBefore();
    for (const { metric, key, count } of snapshot.totals) {
      const id = countKey(metric, key);
      let inBuckets = 0;
      for (const counts of added.values()) inBuckets += counts.get(id) ?? 0;
      if (count !== inBuckets) before = addTo(before, new Map([[id, count - inBuckets]]));
    }
    this.#transaction(() => {
      const pending = events.filter((event) => unforwarded.has(event.messageId));
      const sent = events.filter((event) => !unforwarded.has(event.messageId));
      // The snapshot's counts arrive as minute rows, so its events are stored without counts of their own.
      if (pending.length > 0)
        this.#insertBatch(
          pending.map((event) => ({ event, feedback: [] })),
          new Map(),
          false,
          null,
        );
      if (sent.length > 0)
        this.#insertBatch(
          sent.map((event) => ({ event, feedback: [] })),
          new Map(),
          true,
          null,
        );
      this.#addToMinutes(added);
      if (before !== this.#before) this.#setName(NAMES.totalsBefore, countsJson(before));
      if (arms !== current) this.#setName(NAMES.assignments, JSON.stringify(arms));
      this.#storeState(state);
      this.#setName(`${NAMES.merged}${source}`, String(Date.now()));
    });
    this.#arms = arms;
    this.#state = state;
    this.#before = before;
    // Read again on the next record, with the events just stored counted.
    this.#known = undefined;
    this.#newest = undefined;
    this.#buckets = undefined;
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
    const pending = sql
      .exec<Pick<BatchRow, "seq" | "size" | "sent" | "events">>(
        "SELECT seq, size, sent, events FROM batches WHERE sent < size ORDER BY seq LIMIT ?",
        FORWARD_BATCHES,
      )
      .toArray();
    if (pending.length > 0 && visitor !== null) {
      const items = pending.flatMap((row) => storedItems(row.events).slice(row.sent));
      const sent = await this.#forward(visitor, items, pending);
      if (!sent) return;
      if (pending.length === FORWARD_BATCHES) {
        // More may wait: again at once, in steps of bounded size.
        await this.#storage.setAlarm(Date.now());
        return;
      }
    }
    const state = this.#profileState();
    const due = this.#retentionDue(state);
    if (state.lastSeen === null || due <= now) {
      await this.#eraseOwn();
      return;
    }
    this.#transaction(() => this.#prune(now));
    await this.#storage.setAlarm(due);
  }

  /** Runs `body` in a transaction; if it fails, what memory holds of storage is read again on next use. */
  #transaction(body: () => void): void {
    try {
      this.#storage.transactionSync(body);
    } catch (error) {
      this.#state = undefined;
      this.#forgetLoaded();
      throw error;
    }
  }

  #forgetLoaded(): void {
    this.#newest = undefined;
    this.#arms = undefined;
    this.#buckets = undefined;
    this.#before = undefined;
    this.#known = undefined;
    this.#keys = undefined;
    this.#tables = undefined;
    this.#counts = { minute: -1, values: new Map() };
  }

  async #eraseOwn(): Promise<void> {
    this.#erasures += 1;
    await this.#storage.deleteAlarm();
    await this.#storage.deleteAll();
    this.#schemaReady = false;
    this.#linkedTo = undefined;
    this.#state = undefined;
    this.#forgetLoaded();
  }

  /** Stores events as a new batch row (one row written however many events). */
  #insertBatch(items: readonly Outgoing[], counts: Buckets, sent: boolean, state: VisitorState | null): NewestRow {
    const receivedAt = Math.max(...items.map(({ event }) => event.receivedAt));
    const firstAt = Math.min(...items.map(({ event }) => event.receivedAt));
    const sentCount = sent ? items.length : 0;
    const { seq } = this.#meter.sql
      .exec<{ seq: number }>(
        "INSERT INTO batches (received_at, size, events, counts, sent, state, first_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        receivedAt,
        items.length,
        itemsJson(items),
        bucketsJson(counts),
        sentCount,
        state === null ? null : JSON.stringify(state),
        firstAt,
      )
      .one();
    return { seq, size: items.length, sent: sentCount, counts, firstAt };
  }

  /**
   * Appends events to the newest row: one row written. The events text is extended in SQL, so the
   * stored events are neither read back nor parsed; the row's counts come from memory. Events a
   * failed send left behind keep the row's `sent` where it was (the alarm sends from there on,
   * these included).
   */
  #appendToNewest(newest: NewestRow, items: readonly Outgoing[], added: Buckets, sent: boolean, state: VisitorState): NewestRow {
    const counts: Buckets = new Map(newest.counts);
    addBuckets(counts, added);
    const size = newest.size + items.length;
    const sentCount = sent && newest.sent === newest.size ? size : newest.sent;
    this.#meter.sql.exec(
      `UPDATE batches SET
         received_at = MAX(received_at, ?), size = ?, counts = ?, sent = ?, state = ?,
         events = CASE WHEN events = '[]' THEN ?6 ELSE substr(events, 1, length(events) - 1) || ',' || substr(?6, 2) END
       WHERE seq = ?`,
      Math.max(...items.map(({ event }) => event.receivedAt)),
      size,
      bucketsJson(counts),
      sentCount,
      JSON.stringify(state),
      itemsJson(items),
      newest.seq,
    );
    return { seq: newest.seq, size, sent: sentCount, counts, firstAt: newest.firstAt };
  }

  /** The newest batch row as memory keeps it, read once per load; null when there is none. */
  #newestRow(): NewestRow | null {
    if (this.#newest === undefined) {
      const row = this.#readableSql()
        ?.exec<Pick<BatchRow, "seq" | "size" | "sent" | "counts" | "received_at" | "first_at">>(
          "SELECT seq, size, sent, counts, received_at, first_at FROM batches ORDER BY seq DESC LIMIT 1",
        )
        .toArray()[0];
      this.#newest =
        row === undefined
          ? null
          : { seq: row.seq, size: row.size, sent: row.sent, counts: parseBuckets(row.counts), firstAt: row.first_at ?? row.received_at };
    }
    return this.#newest;
  }

  /** Stores the profile state where it is read from: the newest batch row, or `meta` when there is none. */
  #storeState(state: VisitorState): void {
    const text = JSON.stringify(state);
    const cursor = this.#meter.sql.exec("UPDATE batches SET state = ? WHERE seq = (SELECT MAX(seq) FROM batches)", text);
    cursor.toArray();
    if (cursor.rowsWritten === 0) this.#setName(NAMES.state, text);
  }

  /**
   * The `messageId`s of the newest stored events, at most `MAX_EVENTS + PRUNE_SLACK` (older ones are
   * about to be pruned anyway), and how many events are stored (read once per load).
   */
  #knownIds(): { ids: Set<string>; stored: number } {
    if (this.#known === undefined) {
      const known = { ids: new Set<string>(), stored: 0 };
      const sql = this.#readableSql();
      if (sql !== null) {
        for (const row of sql.exec<Pick<BatchRow, "size" | "events">>("SELECT size, events FROM batches ORDER BY seq DESC")) {
          if (known.stored < MAX_EVENTS + PRUNE_SLACK) for (const { event } of storedItems(row.events)) known.ids.add(event.messageId);
          known.stored += row.size;
        }
      }
      this.#known = known;
    }
    return this.#known;
  }

  /** The distinct counts keys of `buckets`, kept in memory alongside them. */
  #keysOf(buckets: Buckets): Set<string> {
    if (this.#keys?.of !== buckets) this.#keys = { of: buckets, keys: keysOf(buckets) };
    return this.#keys.keys;
  }

  #loadedBuckets(): Buckets {
    if (this.#buckets === undefined) {
      const sql = this.#readableSql();
      this.#buckets = sql === null ? new Map() : readBuckets(sql, this.#hasTable("minutes"));
    }
    return this.#buckets;
  }

  #totalsBefore(): Counts {
    if (this.#before === undefined) {
      const stored = this.#name(NAMES.totalsBefore);
      this.#before = stored === null ? new Map() : parseCounts(stored);
    }
    return this.#before;
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
    const firstMinute = firstMinuteOf(window, now);
    const count = sumCount(this.#loadedBuckets(), this.#totalsBefore(), countKey(metricOf(measure, dimension), key ?? ""), firstMinute);
    this.#counts.values.set(path, count);
    return count;
  }

  /** Storage for writing: creates or migrates the schema first. */
  #sql(): SqlStorage {
    if (!this.#schemaReady) {
      migrate(
        { sql: this.#meter.sql, transactionSync: (body) => this.#storage.transactionSync(body) },
        USER_SESSION_MIGRATIONS,
        USER_SESSION_SCHEMA,
        USER_SESSION_MARK,
      );
      this.#schemaReady = true;
    }
    return this.#meter.sql;
  }

  /** Storage for reading, or null for an object that holds nothing: reads never create tables. */
  #readableSql(): SqlStorage | null {
    if (this.#schemaReady) return this.#meter.sql;
    const version = schemaVersion(this.#meter.sql, USER_SESSION_MARK);
    if (version === 0) return null;
    // Current already: no need to run the migrations, which would read the version again.
    if (version === USER_SESSION_MIGRATIONS.length) this.#schemaReady = true;
    return this.#sql();
  }

  #name(name: string): string | null {
    const sql = this.#readableSql();
    if (sql === null || !this.#hasTable("meta")) return null;
    return sql.exec<{ value: string }>("SELECT value FROM meta WHERE name = ?", name).toArray()[0]?.value ?? null;
  }

  #setName(name: string, value: string): void {
    this.#sql();
    this.#createTable("meta");
    this.#meter.sql.exec(
      "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
      name,
      value,
    );
  }

  /** Whether a table created on demand exists (a fresh object has neither until it writes to it). */
  #hasTable(name: keyof typeof USER_SESSION_ON_DEMAND): boolean {
    if (this.#tables === undefined) {
      const tables = new Set<keyof typeof USER_SESSION_ON_DEMAND>();
      for (const row of this.#meter.sql.exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('minutes', 'meta')",
      ))
        if (row.name === "minutes" || row.name === "meta") tables.add(row.name);
      this.#tables = tables;
    }
    return this.#tables.has(name);
  }

  /** Creates a table of `USER_SESSION_ON_DEMAND` before its first write (in the caller's transaction). */
  #createTable(name: keyof typeof USER_SESSION_ON_DEMAND): void {
    if (this.#hasTable(name)) return;
    this.#meter.sql.exec(USER_SESSION_ON_DEMAND[name]);
    this.#tables?.add(name);
  }

  /** Adds counts to the minute rows, creating the `minutes` table on first use. */
  #addToMinutes(added: Buckets): void {
    if (added.size === 0) return;
    this.#createTable("minutes");
    addToMinuteRows(this.#meter.sql, added);
  }

  #linkedUser(): string | null {
    // Null (not linked) is an answer too: only undefined means "not read yet".
    if (this.#linkedTo === undefined) this.#linkedTo = this.#name(NAMES.linkedTo);
    return this.#linkedTo;
  }

  #profileState(): VisitorState {
    if (this.#state === undefined) {
      // The newest batch row carries the state; `meta` holds it only for an object without rows.
      const newest = this.#readableSql()?.exec<Pick<BatchRow, "state">>("SELECT state FROM batches ORDER BY seq DESC LIMIT 1").toArray()[0];
      const stored = newest?.state ?? this.#name(NAMES.state);
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

  /**
   * Drops sent batch rows older than a week or behind the newest `MAX_EVENTS` events, moving their
   * counts into the minute rows (or, past the longest window, into the lifetime totals kept aside),
   * and minute rows past the longest window into those totals. The newest row, which carries the
   * state, is emptied rather than deleted. Memory is read again afterwards.
   */
  #prune(now: number): void {
    const sql = this.#meter.sql;
    const oldest = minuteOf(now - EVENT_RETENTION_MS) - 1;
    const rows = sql
      .exec<Pick<BatchRow, "seq" | "received_at" | "size" | "sent" | "counts">>(
        "SELECT seq, received_at, size, sent, counts FROM batches ORDER BY seq DESC",
      )
      .toArray();
    const newestSeq = rows[0]?.seq;
    let before = this.#totalsBefore();
    const kept: Buckets = new Map();
    let newer = 0;
    let dropped = 0;
    for (const row of rows) {
      if (row.size > 0 && row.sent >= row.size && (newer >= MAX_EVENTS || row.received_at < now - EVENT_RETENTION_MS)) {
        for (const [minute, counts] of parseBuckets(row.counts)) {
          if (minute < oldest) before = addTo(before, counts);
          else kept.set(minute, addTo(kept.get(minute), counts));
        }
        if (row.seq === newestSeq) sql.exec("UPDATE batches SET size = 0, sent = 0, events = '[]', counts = '{}' WHERE seq = ?", row.seq);
        else sql.exec("DELETE FROM batches WHERE seq = ?", row.seq);
        dropped++;
      }
      newer += row.size;
    }
    if (this.#hasTable("minutes")) {
      for (const row of sql.exec<{ counts: string }>("SELECT counts FROM minutes WHERE minute < ?", oldest)) {
        before = addTo(before, parseCounts(row.counts));
      }
      sql.exec("DELETE FROM minutes WHERE minute < ?", oldest);
    }
    this.#addToMinutes(kept);
    // Lifetime counts would otherwise gain every key the visitor ever had.
    if (before !== this.#before) before = cappedCounts(before);
    if (before !== this.#before) this.#setName(NAMES.totalsBefore, countsJson(before));
    if (dropped > 0 || before !== this.#before) this.#forgetLoaded();
  }

  /**
   * Sends what the outbox rows `rows` hold beyond their `sent` count (the alarm's retry), then marks
   * those rows sent up to the size read (one row each); on failure they stay in the outbox and the
   * alarm retries (duplicates upstream carry the same ids).
   */
  async #forward(visitor: string, items: readonly Outgoing[], rows: readonly Pick<BatchRow, "seq" | "size">[]): Promise<boolean> {
    if (!(await sendToQueues(this.env, visitor, items))) {
      await this.#storage.setAlarm(Date.now() + FORWARD_RETRY_MS);
      return false;
    }
    const sql = this.#meter.sql;
    this.#transaction(() => {
      for (const { seq, size } of rows) sql.exec("UPDATE batches SET sent = MAX(sent, ?) WHERE seq = ?", size, seq);
    });
    // Memory's copy of the newest row may have changed meanwhile: read again on next use.
    this.#newest = undefined;
    if ((await this.#storage.getAlarm()) === null) await this.#storage.setAlarm(this.#retentionDue(this.#profileState()));
    return true;
  }

  #snapshot(): SessionSnapshot {
    const sql = this.#readableSql();
    if (sql === null) return { state: emptyState(), events: [], unforwarded: [], counters: [], totals: [], assignments: {} };
    const rows = sql.exec<Pick<BatchRow, "events" | "sent">>("SELECT events, sent FROM batches ORDER BY seq").toArray();
    const buckets = this.#loadedBuckets();
    const events = rows.flatMap((row) => storedItems(row.events).map(({ event }, index) => ({ event, forwarded: index < row.sent })));
    return {
      state: this.#profileState(),
      events: events.map(({ event }) => event),
      unforwarded: events.filter(({ forwarded }) => !forwarded).map(({ event }) => event.messageId),
      counters: counterRows(buckets),
      totals: totalRows(buckets, this.#totalsBefore()),
      assignments: this.#rememberedArms(),
    };
  }
}
