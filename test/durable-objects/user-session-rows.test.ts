/**
 * What the visitor's object costs in Durable Object SQLite rows (the unit storage is billed in), as
 * counted by the object itself from each statement's `rowsWritten`/`rowsRead`; and that visitors
 * stored in the layout before one row per batch read back the same after the migration.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrate } from "../../durable-objects/sql-migrations.ts";
import { USER_SESSION_MIGRATIONS } from "../../durable-objects/user-session.migrations.ts";
import type { RecordedEvent } from "../../shared/events/recorded.ts";
import type { ProfileExport } from "../../shared/profile/export.ts";
import { forwarded } from "../support/worker/user-session.ts";

const MINUTE = 60_000;
const CATEGORIES = ["electronics", "outdoor", "home"];
let sequence = 0;

function event(overrides: Partial<RecordedEvent>): RecordedEvent {
  sequence++;
  return {
    messageId: `rows-${sequence}`,
    type: "track",
    event: "Product Viewed",
    category: null,
    productId: null,
    path: "/p/x",
    receivedAt: Date.now(),
    clientTime: null,
    properties: {},
    consent: null,
    ...overrides,
  };
}

/** A typical tracker batch: views, a page call, an add to cart, over a few categories and products. */
function typicalBatch(receivedAt: number, size = 10): RecordedEvent[] {
  return Array.from({ length: size }, (_, index) => {
    const category = CATEGORIES[index % CATEGORIES.length] ?? "home";
    if (index === 0) return event({ type: "page", event: null, receivedAt });
    if (index === size - 1)
      return event({ event: "Product Added", category, productId: `${category}-1`, receivedAt, properties: { price: 20 } });
    return event({ category, productId: `${category}-${index % 4}`, receivedAt, properties: { category } });
  });
}

function session() {
  return env.USER_SESSION.getByName(crypto.randomUUID());
}

const ATTRIBUTES = [
  "behavior.views_10m.category.electronics",
  "behavior.views_24h.total",
  "behavior.views_all.product.home-1",
  "behavior.pages_1h.total",
  "session.count",
  "cart.value",
];

describe("UserSession rows written and read", () => {
  it.each([
    ["10 events over a few keys", 10],
    ["5 events", 5],
  ])("writes at most one row per accepted event for batches of %s, the first batch of a new visitor included", async (_, size) => {
    const stub = session();
    const now = Date.now();
    let accepted = 0;
    for (let batch = 0; batch < 6; batch++) {
      const outcome = await stub.record({
        visitor: "rowsVisitorPseudonym000000000000".slice(0, 32),
        events: typicalBatch(now + batch * 20_000, size),
      });
      accepted += outcome.accepted;
    }
    await forwarded(stub);
    const usage = await stub.usage();
    expect(usage.eventsAccepted).toBe(accepted);
    expect(usage.rowsWritten / accepted).toBeLessThanOrEqual(1);
  });

  it("writes no row for a retried batch", async () => {
    const stub = session();
    const batch = typicalBatch(Date.now());
    await stub.record({ visitor: "rowsVisitorPseudonym000000000001", events: batch });
    await forwarded(stub);
    const before = await stub.usage();
    expect(await stub.record({ visitor: "rowsVisitorPseudonym000000000001", events: batch })).toEqual({
      accepted: 0,
      duplicates: batch.length,
    });
    expect((await stub.usage()).rowsWritten).toBe(before.rowsWritten);
  });

  it("writes no row for a page decision's profile read, and reads storage at most once per load", async () => {
    const stub = session();
    const now = Date.now();
    for (let batch = 0; batch < 5; batch++)
      await stub.record({ visitor: "rowsVisitorPseudonym000000000002", events: typicalBatch(now - batch * 7 * MINUTE) });
    await forwarded(stub);
    const reads = 50;
    for (let read = 0; read < reads; read++) await stub.readProfile({ attributes: ATTRIBUTES, now: now + read * 30_000 });
    const usage = await stub.usage();
    expect(usage.profileReads.calls).toBe(reads);
    expect(usage.profileReads.rowsWritten).toBe(0);
    // After the object's first read, the page path is answered from memory.
    expect(usage.profileReads.rowsRead / reads).toBeLessThan(1);
  });

  it("writes nothing and creates nothing when a visitor without state is read", async () => {
    const stub = session();
    await stub.readProfile({ attributes: ATTRIBUTES, now: Date.now() });
    const usage = await stub.usage();
    expect(usage.rowsWritten).toBe(0);
  });
});

describe("UserSession storage from before one row per batch (migration 4)", () => {
  const OLD_VERSION = 3;
  const VISITOR = "oldLayoutVisitorPseudonym0000000";

  it("reads counts, windows, totals, state and events stored in the old layout the same, and still recognizes old retries", async () => {
    const stub = session();
    const now = Date.UTC(2026, 10, 30, 12, 0, 30);
    const minute = Math.floor(now / MINUTE);
    const state = { firstSeen: now - 9 * 86_400_000, lastSeen: now - MINUTE, sessionCount: 4, lastCategory: "home", orders: 1 };
    await runInDurableObject(stub, (_, storage) => {
      migrate(storage.storage, USER_SESSION_MIGRATIONS.slice(0, OLD_VERSION));
      const sql = storage.storage.sql;
      sql.exec(
        `INSERT INTO events (message_id, type, event, category, product_id, path, received_at, client_time, properties, forwarded, feedback)
         VALUES ('old-1', 'track', 'Product Viewed', 'home', 'ho-1', '/p/ho-1', ?, NULL, '{"category":"home"}', 1, NULL),
                ('old-2', 'track', 'Product Viewed', 'electronics', 'el-1', '/p/el-1', ?, NULL, '{"price":9}', 0, '[]')`,
        now - 2 * MINUTE,
        now - MINUTE,
      );
      const counters: [string, string, number, number][] = [
        ["views.total", "", minute - 2, 1],
        ["views.category", "home", minute - 2, 1],
        ["views.product", "ho-1", minute - 2, 1],
        ["views.total", "", minute - 1, 1],
        ["views.category", "electronics", minute - 1, 1],
        ["views.product", "el-1", minute - 1, 1],
        ["views.category", "electronics", minute - 3 * 1_440, 2],
      ];
      for (const row of counters) sql.exec("INSERT INTO counters (metric, key, minute, count) VALUES (?, ?, ?, ?)", ...row);
      // Totals hold more than the live minutes: buckets older than a week were pruned already.
      const totals: [string, string, number][] = [
        ["views.total", "", 12],
        ["views.category", "home", 6],
        ["views.category", "electronics", 5],
        ["views.product", "ho-1", 1],
        ["views.product", "el-1", 1],
      ];
      for (const row of totals) sql.exec("INSERT INTO totals (metric, key, count) VALUES (?, ?, ?)", ...row);
      sql.exec("INSERT INTO meta (name, value) VALUES ('state', ?), ('visitor', ?)", JSON.stringify(state), VISITOR);
    });

    const profile = await stub.readProfile({
      attributes: [
        "behavior.views_5m.total",
        "behavior.views_5m.category.home",
        "behavior.views_7d.category.electronics",
        "behavior.views_all.category.electronics",
        "behavior.views_all.category.home",
        "behavior.views_all.total",
        "behavior.views_all.product.el-1",
        "recency.last_category",
        "orders.count",
      ],
      now,
    });
    expect(profile).toEqual({
      "behavior.views_5m.total": 2,
      "behavior.views_5m.category.home": 1,
      "behavior.views_7d.category.electronics": 3,
      "behavior.views_all.category.electronics": 5,
      "behavior.views_all.category.home": 6,
      "behavior.views_all.total": 12,
      "behavior.views_all.product.el-1": 1,
      "recency.last_category": "home",
      "orders.count": 1,
    });

    const exported = JSON.parse(await stub.exportProfile()) as ProfileExport;
    expect(exported.events.map((stored) => [stored.messageId, stored.category, stored.properties])).toEqual([
      ["old-1", "home", { category: "home" }],
      ["old-2", "electronics", { price: 9 }],
    ]);
    expect(exported.counts).toEqual(
      expect.arrayContaining([
        { metric: "views.total", key: "", count: 12 },
        { metric: "views.category", key: "home", count: 6 },
      ]),
    );
    const tables = await runInDurableObject(stub, (_, storage) =>
      storage.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('events', 'counters', 'totals')")
        .toArray(),
    );
    expect(tables).toEqual([]);

    // A retry of an event stored before the migration is still a duplicate; a new one counts on.
    const retry = { ...event({ category: "home", productId: "ho-1", receivedAt: now }), messageId: "old-1" };
    expect(await stub.record({ visitor: VISITOR, events: [retry, event({ category: "home", receivedAt: now })] })).toEqual({
      accepted: 1,
      duplicates: 1,
    });
    expect(await stub.readProfile({ attributes: ["behavior.views_all.category.home", "behavior.views_all.total"], now })).toEqual({
      "behavior.views_all.category.home": 7,
      "behavior.views_all.total": 13,
    });
  });
});

describe("UserSession remembered bandit arms", () => {
  it("remembers an arm with one row, writes nothing when it is known, reads it back on the page path and erases it", async () => {
    const stub = session();
    const now = Date.now();
    await stub.rememberAssignments({ hero_bandit: "bold" });
    const first = await stub.usage();
    await stub.rememberAssignments({ hero_bandit: "bold" });
    expect((await stub.usage()).rowsWritten).toBe(first.rowsWritten);
    await stub.rememberAssignments({ banner_bandit: "plain" });
    expect((await stub.usage()).rowsWritten).toBe(first.rowsWritten + 1);

    const attributes = ["assignments.hero_bandit", "assignments.banner_bandit", "assignments.unknown"];
    expect(await stub.readProfile({ attributes, now })).toEqual({
      "assignments.hero_bandit": "bold",
      "assignments.banner_bandit": "plain",
    });
    expect((JSON.parse(await stub.exportProfile()) as ProfileExport).assignments).toEqual({ hero_bandit: "bold", banner_bandit: "plain" });
    // An object only the page wrote to is deleted after the retention period like any other.
    const alarm = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
    expect(alarm).toBeGreaterThan(now + 29 * 86_400_000);

    await stub.erase();
    expect(await stub.readProfile({ attributes, now })).toEqual({});
  });

  it("hands a device's arms to the user's object on a proven link, the user's own arms winning", async () => {
    const name = (prefix: string) => `${prefix}${crypto.randomUUID().replaceAll("-", "")}`.slice(0, 32);
    const [userName, deviceName] = [name("user"), name("device")];
    const user = env.USER_SESSION.getByName(userName);
    const device = env.USER_SESSION.getByName(deviceName);
    await user.rememberAssignments({ hero_bandit: "plain" });
    await device.rememberAssignments({ hero_bandit: "bold", banner_bandit: "fancy" });
    expect(await device.linkToUser(userName, deviceName)).toBe("linked");
    const attributes = ["assignments.hero_bandit", "assignments.banner_bandit"];
    const expected = { "assignments.hero_bandit": "plain", "assignments.banner_bandit": "fancy" };
    expect(await user.readProfile({ attributes, now: Date.now() })).toEqual(expected);
    expect(await device.readProfile({ attributes, now: Date.now() })).toEqual(expected);
    // Remembering through the linked device reaches the user's object.
    await device.rememberAssignments({ footer_bandit: "calm" });
    expect(await user.readProfile({ attributes: ["assignments.footer_bandit"], now: Date.now() })).toEqual({
      "assignments.footer_bandit": "calm",
    });
  });

  it("rejects arms that are not experiment and variant names", async () => {
    const stub = session();
    const invalid: Record<string, string>[] = [{ _hero: "a" }, { hero: "" }, { hero: "x".repeat(65) }, { "Hero Bandit": "bold" }];
    for (const arms of invalid) {
      const outcome = await stub.rememberAssignments(arms).then(
        () => "remembered",
        (error: unknown) => String(error),
      );
      expect(outcome).not.toBe("remembered");
    }
    expect((await stub.usage()).rowsWritten).toBe(0);
  });
});
