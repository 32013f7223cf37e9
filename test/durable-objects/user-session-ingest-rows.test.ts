/**
 * What a visitor's object writes per accepted event, counted by the object itself (every
 * statement's `rowsWritten`, plus one row for each row still held, which retention or erasure will
 * delete), and that the fewer rows lose nothing: what was stored reads back after a restart, the
 * outbox still sends what the queue refused, retention and erasure still delete, and objects stored
 * in the previous layout keep their data (docs/decisions/0021).
 */
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrate } from "../../durable-objects/sql-migrations.ts";
import { USER_SESSION_MIGRATIONS } from "../../durable-objects/user-session.migrations.ts";
import type { RecordedEvent } from "../../shared/events/recorded.ts";
import type { ProfileExport } from "../../shared/profile/export.ts";
import { forwarded } from "../support/worker/user-session.ts";

const MINUTE = 60_000;
const DAY = 1_440 * MINUTE;
const VISITOR = "ingestRowsVisitorPseudonym000000";
const CATEGORIES = ["electronics", "outdoor", "home"];

function view(receivedAt: number, index: number): RecordedEvent {
  const category = CATEGORIES[index % CATEGORIES.length] ?? "home";
  return {
    messageId: crypto.randomUUID(),
    type: "track",
    event: "Product Viewed",
    category,
    productId: `${category}-${index % 4}`,
    path: `/p/${category}`,
    receivedAt,
    clientTime: null,
    properties: { category, price: 10 + index },
    consent: null,
  };
}

function beacon(receivedAt: number, size: number): RecordedEvent[] {
  return Array.from({ length: size }, (_, index) => view(receivedAt, index));
}

function session(name: string = crypto.randomUUID()) {
  return env.USER_SESSION.getByName(name);
}

/** Evicts every object from memory (their storage stays) and returns a new stub for `name`. */
async function restarted(name: string) {
  await abortAllDurableObjects();
  return session(name);
}

/** Rows held in the object's own tables now: each is one more row written when it is deleted. */
async function rowsHeld(stub: ReturnType<typeof session>): Promise<number> {
  return runInDurableObject(stub, (_, state) => {
    const sql = state.storage.sql;
    const tables = sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
      )
      .toArray();
    return tables.reduce((sum, { name }) => sum + sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM "${name}"`).one().n, 0);
  });
}

/** Rows written so far plus rows held (each deleted once later: one more row written). */
async function rowsWithDeletes(stub: ReturnType<typeof session>): Promise<{ rows: number; events: number }> {
  const usage = await stub.usage();
  return { rows: usage.rowsWritten + (await rowsHeld(stub)), events: usage.eventsAccepted };
}

/** Beacons `gapMs` apart; a gap of more than 30 minutes starts a new session (a prune runs then). */
interface Plan {
  size: number;
  beacons: number;
  gapMs: number;
  /** Beacons recorded before counting: the object exists already (a returning visitor). */
  warm: number;
  most: number;
}

const PLANS: [string, Plan][] = [
  ["new visitor, 10 beacons of 5 events", { size: 5, beacons: 10, gapMs: 20_000, warm: 0, most: 0.5 }],
  ["new visitor, 30 beacons of 5 events", { size: 5, beacons: 30, gapMs: 20_000, warm: 0, most: 0.5 }],
  [
    "returning visitor, 10 beacons of 5 events in 10 sessions of an afternoon",
    { size: 5, beacons: 10, gapMs: 40 * MINUTE, warm: 1, most: 0.5 },
  ],
  ["new visitor, 30 single-event beacons", { size: 1, beacons: 30, gapMs: 20_000, warm: 0, most: 1.5 }],
  ["returning visitor, 20 single-event beacons", { size: 1, beacons: 20, gapMs: 20_000, warm: 1, most: 1.5 }],
  ["returning visitor, 120 single-event beacons (rows fill up)", { size: 1, beacons: 120, gapMs: 5_000, warm: 1, most: 1.5 }],
  [
    "returning visitor, 10 single-event beacons in 10 sessions of an afternoon",
    { size: 1, beacons: 10, gapMs: 40 * MINUTE, warm: 1, most: 1.5 },
  ],
];

describe("UserSession rows written per accepted event, deletes included", () => {
  it.each(PLANS)("%s: at most the target", async (_, { size, beacons, gapMs, warm, most }) => {
    const stub = session();
    const start = Date.now() - (beacons + warm) * gapMs - MINUTE;
    let at = start;
    for (let index = 0; index < warm; index++, at += gapMs) await stub.record({ visitor: VISITOR, events: beacon(at, size) });
    if (warm > 0) await forwarded(stub);
    const before = warm > 0 ? await rowsWithDeletes(stub) : { rows: 0, events: 0 };
    for (let index = 0; index < beacons; index++, at += gapMs) await stub.record({ visitor: VISITOR, events: beacon(at, size) });
    await forwarded(stub);
    const after = await rowsWithDeletes(stub);
    expect(after.events - before.events).toBe(size * beacons);
    expect((after.rows - before.rows) / (size * beacons)).toBeLessThanOrEqual(most);
  });
});

/**
 * Rows a new visitor's first beacon costs beyond what the same beacon costs an existing object:
 * the object's creation (tables, schema version, names), deletes included. A beacon stored as a new
 * row costs two (the row and its delete), as the second visitor's first beacon below shows.
 */
describe("UserSession rows to create a visitor's object, deletes included", () => {
  const MOST = 3;

  it.each([
    ["one event", 1],
    ["five events", 5],
    ["a hundred events", 100],
  ])("a new visitor's first beacon of %s costs at most 3 rows more than a new row in an existing object", async (_, size) => {
    const now = Date.now();
    const created = session();
    await created.record({ visitor: VISITOR, events: beacon(now - 2 * DAY, size) });
    await forwarded(created);
    const first = await rowsWithDeletes(created);
    expect(first.events).toBe(size);
    // The same beacon two days later starts a new row (and a session) in the object that exists now.
    const before = first;
    await created.record({ visitor: VISITOR, events: beacon(now, size) });
    await forwarded(created);
    const after = await rowsWithDeletes(created);
    const newRow = after.rows - before.rows;
    expect(newRow).toBeLessThanOrEqual(2);
    expect(first.rows - newRow).toBeLessThanOrEqual(MOST);
  });

  it("a page's bandit arms, the first thing stored, cost at most two tables and their row", async () => {
    const stub = session();
    await stub.rememberAssignments({ "exp-1": "b" });
    const { rows } = await rowsWithDeletes(stub);
    // The schema's table and `meta` (two rows each to create), the arms' row and its delete.
    expect(rows).toBeLessThanOrEqual(6);
  });
});

const ATTRIBUTES = [
  "behavior.views_10m.category.electronics",
  "behavior.views_24h.total",
  "behavior.views_all.product.home-2",
  "behavior.views_all.total",
  "session.count",
  "recency.last_category",
];

/** Everything a reader can see of the object: profile attributes, and the full export without its timestamps of export. */
async function visible(stub: ReturnType<typeof session>, now: number) {
  const exported = JSON.parse(await stub.exportProfile()) as ProfileExport;
  return {
    profile: await stub.readProfile({ attributes: ATTRIBUTES, now }),
    events: exported.events.map((stored) => stored.messageId),
    counts: exported.counts,
    minuteCounts: exported.minuteCounts,
    state: exported.profile,
  };
}

describe("UserSession after a restart", () => {
  it.each([
    ["one session of single-event beacons", 1, 12, 20_000],
    ["beacons of 5 over several sessions", 5, 8, 40 * MINUTE],
    ["more events than one row takes", 7, 20, 10_000],
  ])("%s: reads back the same, knows retries and appends on", async (_, size, beacons, gapMs) => {
    const name = crypto.randomUUID();
    let stub = session(name);
    const now = Date.now();
    const sent: RecordedEvent[][] = [];
    for (let index = 0; index < beacons; index++) {
      const batch = beacon(now - (beacons - index) * gapMs, size);
      sent.push(batch);
      await stub.record({ visitor: VISITOR, events: batch });
    }
    await forwarded(stub);
    const before = await visible(stub, now);
    expect(before.events).toEqual(sent.flat().map((event) => event.messageId));
    expect(before.profile["behavior.views_all.total"]).toBe(size * beacons);

    stub = await restarted(name);
    expect(await visible(stub, now)).toEqual(before);
    const retry = sent.at(-1) ?? [];
    expect(await stub.record({ visitor: VISITOR, events: retry })).toEqual({ accepted: 0, duplicates: retry.length });
    await stub.record({ visitor: VISITOR, events: beacon(now, size) });
    stub = await restarted(name);
    const after = await visible(stub, now);
    expect(after.profile["behavior.views_all.total"]).toBe(size * (beacons + 1));
    expect(after.events).toHaveLength(size * (beacons + 1));
  });
});

/** Makes the object's events queue refuse (or take again) every send. */
async function queueRefuses(stub: ReturnType<typeof session>, refuses: boolean): Promise<void> {
  await runInDurableObject(stub, (instance) => {
    const target = instance as unknown as { env: Env };
    const queue = env.EVENTS_QUEUE;
    target.env = {
      ...target.env,
      EVENTS_QUEUE: refuses
        ? ({ ...queue, sendBatch: () => Promise.reject(new Error("queue unavailable")) } as unknown as Env["EVENTS_QUEUE"])
        : queue,
    };
  });
}

async function waiting(stub: ReturnType<typeof session>): Promise<number> {
  return runInDurableObject(
    stub,
    (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COALESCE(SUM(size - sent), 0) AS n FROM batches").one().n,
  );
}

describe("UserSession outbox", () => {
  it.each([
    ["the first beacon", [false, true, true]],
    ["a beacon appended to a sent row", [true, false, true]],
    ["every beacon", [false, false, false]],
  ])("keeps what the queue refused for %s, answers, and the alarm sends it", async (_, takes) => {
    const stub = session();
    const now = Date.now();
    // The object must exist for its queue to be replaced; a page read creates nothing.
    await stub.readProfile({ attributes: [], now });
    let refused = 0;
    for (const [index, take] of takes.entries()) {
      await queueRefuses(stub, !take);
      const outcome = await stub.record({ visitor: VISITOR, events: beacon(now - (takes.length - index) * 1_000, 2) });
      expect(outcome.accepted).toBe(2);
      if (!take) refused += 2;
    }
    // A refused send leaves the row's later events waiting too (they are sent again: same ids).
    expect(await waiting(stub)).toBeGreaterThanOrEqual(refused);
    await queueRefuses(stub, false);
    await runDurableObjectAlarm(stub);
    expect(await waiting(stub)).toBe(0);
    const exported = JSON.parse(await stub.exportProfile()) as ProfileExport;
    expect(exported.events).toHaveLength(2 * takes.length);
  });
});

describe("UserSession retention and erasure with rows of several beacons", () => {
  it("drops raw events older than a week when a new session starts, and keeps counting them", async () => {
    const stub = session();
    const now = Date.now();
    const old = now - 8 * DAY;
    for (let index = 0; index < 6; index++) await stub.record({ visitor: VISITOR, events: beacon(old + index * 20_000, 3) });
    for (let index = 0; index < 4; index++) await stub.record({ visitor: VISITOR, events: beacon(now - 3 * DAY + index * 20_000, 3) });
    await forwarded(stub);
    // A new session: the prune runs and takes the week-old rows.
    const fresh = beacon(now, 2);
    await stub.record({ visitor: VISITOR, events: fresh });
    const exported = JSON.parse(await stub.exportProfile()) as ProfileExport;
    expect(exported.events.every((event) => Date.parse(event.receivedAt) > now - 7 * DAY)).toBe(true);
    expect(exported.events).toHaveLength(14);
    expect(await stub.readProfile({ attributes: ["behavior.views_all.total", "session.count"], now })).toEqual({
      "behavior.views_all.total": 32,
      "session.count": 3,
    });
  });

  it("empties the newest row once it is older than a week, keeps the state, and erases all once idle past retention", async () => {
    const stub = session();
    const now = Date.now();
    const old = now - 9 * DAY;
    for (let index = 0; index < 5; index++) await stub.record({ visitor: VISITOR, events: beacon(old + index * 20_000, 2) });
    await forwarded(stub);
    // The alarm comes before the end of retention: it prunes, keeping the profile state.
    await runInDurableObject(stub, (_, state) => state.storage.setAlarm(Date.now()));
    await runDurableObjectAlarm(stub);
    let exported = JSON.parse(await stub.exportProfile()) as ProfileExport;
    expect(exported.events).toEqual([]);
    expect(await stub.readProfile({ attributes: ["behavior.views_all.total", "session.count", "recency.last_category"], now })).toEqual({
      "behavior.views_all.total": 10,
      "session.count": 1,
      "recency.last_category": "outdoor",
    });

    // Past the retention period, the alarm deletes everything.
    await runInDurableObject(stub, (instance) => {
      (instance as unknown as { env: Env }).env = { ...env, RETENTION_DAYS: "5" };
    });
    await runDurableObjectAlarm(stub);
    exported = JSON.parse(await stub.exportProfile()) as ProfileExport;
    expect(exported.events).toEqual([]);
    expect(exported.counts).toEqual([]);
    expect(
      await runInDurableObject(stub, (_, state) =>
        state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'batches'").toArray(),
      ),
    ).toEqual([]);
  });

  it("erases rows of several beacons, state and alarm on request", async () => {
    const stub = session();
    const now = Date.now();
    for (let index = 0; index < 8; index++) await stub.record({ visitor: VISITOR, events: beacon(now - index * 10_000, 1) });
    await stub.erase();
    const left = await runInDurableObject(stub, async (_, state) => ({
      tables: state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name IN ('batches', 'meta', 'minutes')").toArray(),
      alarm: await state.storage.getAlarm(),
    }));
    expect(left).toEqual({ tables: [], alarm: null });
    expect(await stub.readProfile({ attributes: ["behavior.views_all.total", "session.count"], now })).toEqual({
      "behavior.views_all.total": 0,
      "session.count": 0,
    });
  });
});

describe("UserSession storage from one row per batch (migration 5)", () => {
  it("reads events, counts, state and the outbox stored in the previous layout the same, and records on", async () => {
    const name = crypto.randomUUID();
    let stub = session(name);
    const now = Date.now();
    const minute = Math.floor(now / MINUTE);
    const first = beacon(now - 3 * MINUTE, 3);
    const second = beacon(now - 2 * MINUTE, 2);
    const third = beacon(now - MINUTE, 1);
    const state = { firstSeen: now - 3 * DAY, lastSeen: now - MINUTE, sessionCount: 2, lastCategory: "electronics", orders: 2 };
    const counts = (at: number, batch: RecordedEvent[]) => {
      const bucket: Record<string, number> = { "views.total|": batch.length };
      for (const event of batch) {
        bucket[`views.category|${event.category}`] = (bucket[`views.category|${event.category}`] ?? 0) + 1;
        bucket[`views.product|${event.productId}`] = (bucket[`views.product|${event.productId}`] ?? 0) + 1;
      }
      return JSON.stringify({ [Math.floor(at / MINUTE)]: bucket });
    };
    await runInDurableObject(stub, (_, storage) => {
      migrate(storage.storage, USER_SESSION_MIGRATIONS.slice(0, 4));
      const sql = storage.storage.sql;
      const items = (batch: RecordedEvent[]) => JSON.stringify(batch.map((event) => ({ event, feedback: [] })));
      // Two batches sent (one of several events), the last one still in the outbox.
      for (const [batch, forwardedFlag] of [
        [first, 1],
        [second, 1],
        [third, 0],
      ] as const) {
        sql.exec(
          "INSERT INTO batches (received_at, size, events, counts, forwarded) VALUES (?, ?, ?, ?, ?)",
          batch[0]?.receivedAt ?? now,
          batch.length,
          items(batch),
          counts(batch[0]?.receivedAt ?? now, batch),
          forwardedFlag,
        );
      }
      sql.exec("INSERT INTO minutes (minute, counts) VALUES (?, ?)", minute - 3 * 1_440, JSON.stringify({ "views.total|": 4 }));
      sql.exec("INSERT INTO meta (name, value) VALUES ('state', ?), ('visitor', ?)", JSON.stringify(state), VISITOR);
      return storage.storage.setAlarm(Date.now() + DAY);
    });

    expect(
      await stub.readProfile({
        attributes: ["behavior.views_all.total", "behavior.views_10m.total", "session.count", "orders.count"],
        now,
      }),
    ).toEqual({ "behavior.views_all.total": 10, "behavior.views_10m.total": 6, "session.count": 2, "orders.count": 2 });
    const exported = JSON.parse(await stub.exportProfile()) as ProfileExport;
    expect(exported.events.map((event) => event.messageId)).toEqual([...first, ...second, ...third].map((event) => event.messageId));
    expect(exported.profile.lastCategory).toBe("electronics");
    // Only the unsent batch waits; the alarm sends it.
    expect(await waiting(stub)).toBe(1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await waiting(stub)).toBe(0);

    expect(await stub.record({ visitor: VISITOR, events: first })).toEqual({ accepted: 0, duplicates: 3 });
    expect(await stub.record({ visitor: VISITOR, events: beacon(now, 2) })).toEqual({ accepted: 2, duplicates: 0 });
    stub = await restarted(name);
    expect(
      await stub.readProfile({ attributes: ["behavior.views_all.total", "session.count", "orders.count", "recency.last_category"], now }),
    ).toEqual({ "behavior.views_all.total": 12, "session.count": 2, "orders.count": 2, "recency.last_category": "outdoor" });
  });
});
