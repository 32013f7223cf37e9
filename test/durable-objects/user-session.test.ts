/**
 * The visitor's Durable Object, called directly over RPC as the Worker calls it.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { schemaVersion } from "../../durable-objects/sql-migrations.ts";
import { USER_SESSION_MARK, USER_SESSION_MIGRATIONS } from "../../durable-objects/user-session.migrations.ts";
import type { RecordedEvent } from "../../shared/events/recorded.ts";
import type { ProfileExport } from "../../shared/profile/export.ts";

const MINUTE = 60_000;
const VISITOR = "visitorPseudonymForTests0000000A";
let sequence = 0;

function view(category: string, receivedAt: number, overrides: Partial<RecordedEvent> = {}): RecordedEvent {
  sequence++;
  return {
    messageId: `view-${sequence}`,
    type: "track",
    event: "Product Viewed",
    category,
    productId: `${category.slice(0, 2)}-${sequence}`,
    path: "/p/x",
    receivedAt,
    clientTime: null,
    properties: { category },
    consent: null,
    ...overrides,
  };
}

function session(name = crypto.randomUUID()) {
  return env.USER_SESSION.getByName(name);
}

describe("UserSession.record", () => {
  it("sends one click claim per rule and slot from a batch of clicks on an exposure it does not know yet", async () => {
    const stub = session();
    const now = Date.now();
    const clicks = (slot: string, count: number) =>
      Array.from({ length: count }, () =>
        view("none", now, {
          event: "Promotion Clicked",
          category: null,
          productId: null,
          properties: { promotion_id: "hero-test", position: slot },
        }),
      );
    expect(await stub.record({ visitor: VISITOR, events: [...clicks("hero", 60), ...clicks("banner", 40)] })).toEqual({
      accepted: 100,
      duplicates: 0,
    });
    const claims = await runInDurableObject(stub, (_, state) =>
      state.storage.sql
        .exec<{ events: string }>("SELECT events FROM batches")
        .toArray()
        .flatMap((row) => (JSON.parse(row.events) as { feedback: { kind: string; slot: string }[] }[]).flatMap((item) => item.feedback))
        .filter((message) => message.kind === "click-claim")
        .map((claim) => claim.slot)
        .sort(),
    );
    expect(claims).toEqual(["banner", "hero"]);
  });

  it("records each messageId once and counts retries as duplicates", async () => {
    const stub = session();
    const now = Date.now();
    const batch = [view("electronics", now), view("home", now)];
    expect(await stub.record({ visitor: VISITOR, events: batch })).toEqual({ accepted: 2, duplicates: 0 });
    expect(await stub.record({ visitor: VISITOR, events: batch })).toEqual({ accepted: 0, duplicates: 2 });
    const profile = await stub.readProfile({ attributes: ["behavior.views_all.total"], now });
    expect(profile["behavior.views_all.total"]).toBe(2);
  });

  it("rejects input that is not a list of recorded events", async () => {
    const stub = session();
    const outcome = await stub.record({ visitor: VISITOR, events: [{ messageId: "x" } as unknown as RecordedEvent] }).then(
      () => "recorded",
      (error: unknown) => String(error),
    );
    expect(outcome).toMatch(/ZodError|invalid/i);
    const profile = await stub.readProfile({ attributes: ["behavior.views_all.total"], now: Date.now() });
    expect(profile["behavior.views_all.total"]).toBe(0);
  });

  it("creates the current schema at once in a new object, its version kept in the batches table's definition", async () => {
    const stub = session();
    await stub.record({ visitor: VISITOR, events: [view("home", Date.now())] });
    const schema = await runInDurableObject(stub, (_, state) => ({
      version: schemaVersion(state.storage.sql, USER_SESSION_MARK),
      // No table of its own for the version: a new visitor costs fewer rows (docs/decisions/0021).
      tables: state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'")
        .toArray()
        .map((row) => row.name),
    }));
    expect(schema).toEqual({ version: USER_SESSION_MIGRATIONS.length, tables: ["batches"] });
  });
});

describe("UserSession.readProfile windows", () => {
  it("counts views per category over sliding windows", async () => {
    const stub = session();
    const now = Date.UTC(2026, 10, 26, 12, 30, 30);
    await stub.record({
      visitor: VISITOR,
      events: [
        view("electronics", now - 2 * MINUTE),
        view("electronics", now - 30 * MINUTE),
        view("electronics", now - 3 * 24 * 60 * MINUTE),
        view("outdoor", now - 1 * MINUTE),
      ],
    });
    const profile = await stub.readProfile({
      attributes: [
        "behavior.views_10m.category.electronics",
        "behavior.views_1h.category.electronics",
        "behavior.views_24h.category.electronics",
        "behavior.views_7d.category.electronics",
        "behavior.views_all.category.electronics",
        "behavior.views_10m.category.outdoor",
        "behavior.views_10m.total",
        "behavior.views_10m.category.fashion",
      ],
      now,
    });
    expect(profile).toEqual({
      "behavior.views_10m.category.electronics": 1,
      "behavior.views_1h.category.electronics": 2,
      "behavior.views_24h.category.electronics": 2,
      "behavior.views_7d.category.electronics": 3,
      "behavior.views_all.category.electronics": 3,
      "behavior.views_10m.category.outdoor": 1,
      "behavior.views_10m.total": 2,
      "behavior.views_10m.category.fashion": 0,
    });
  });

  it("never misses an event inside the window and drops it once a full minute past it", async () => {
    const stub = session();
    const viewedAt = Date.UTC(2026, 10, 26, 12, 0, 45);
    await stub.record({ visitor: VISITOR, events: [view("home", viewedAt)] });
    const read = (now: number) => stub.readProfile({ attributes: ["behavior.views_10m.category.home"], now });
    expect((await read(viewedAt + 10 * MINUTE))["behavior.views_10m.category.home"]).toBe(1);
    expect((await read(viewedAt + 10 * MINUTE + 14_000))["behavior.views_10m.category.home"]).toBe(1);
    expect((await read(viewedAt + 11 * MINUTE + 15_000))["behavior.views_10m.category.home"]).toBe(0);
  });

  it("places events by the server's receive time, not the client's clock", async () => {
    const stub = session();
    const now = Date.now();
    const skewed = view("fashion", now, { clientTime: now - 365 * 24 * 60 * MINUTE });
    await stub.record({ visitor: VISITOR, events: [skewed] });
    const profile = await stub.readProfile({ attributes: ["behavior.views_5m.category.fashion"], now });
    expect(profile["behavior.views_5m.category.fashion"]).toBe(1);
  });

  it("leaves out names that are not profile attributes", async () => {
    const stub = session();
    const profile = await stub.readProfile({
      attributes: ["geo.country", "behavior.views_3m.total", "behavior.views_10m.category.__proto__"],
      now: Date.now(),
    });
    expect(profile).toEqual({});
  });
});

describe("UserSession retention and erasure", () => {
  const DAY = 24 * 60 * MINUTE;

  async function tables(stub: DurableObjectStub<import("../../workers/index.ts").UserSession>) {
    return runInDurableObject(stub, async (_, state) => ({
      rows: state.storage.sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        )
        .toArray()
        .map((row) => row.name),
      alarm: await state.storage.getAlarm(),
    }));
  }

  it("deletes everything once the visitor has been idle longer than the retention period", async () => {
    const stub = session();
    const longAgo = Date.now() - 31 * DAY;
    await stub.record({ visitor: VISITOR, events: [view("home", longAgo), view("home", longAgo + MINUTE)] });
    await runDurableObjectAlarm(stub);
    const exported = JSON.parse(await stub.exportProfile()) as ProfileExport;
    expect(exported.events).toEqual([]);
    expect(exported.counts).toEqual([]);
    expect(await tables(stub)).toEqual({ rows: [], alarm: null });
  });

  it("keeps an active visitor and re-arms the alarm for the end of the retention period", async () => {
    const stub = session();
    const now = Date.now();
    await stub.record({ visitor: VISITOR, events: [view("home", now)] });
    await runDurableObjectAlarm(stub);
    const exported = JSON.parse(await stub.exportProfile()) as ProfileExport;
    expect(exported.events).toHaveLength(1);
    const { alarm } = await tables(stub);
    expect(alarm).toBeGreaterThan(now + 29 * DAY);
    expect(exported.retention.idleDays).toBe(30);
  });

  it("erases storage and alarm on request, and starts clean afterwards", async () => {
    const stub = session();
    const now = Date.now();
    await stub.record({ visitor: VISITOR, events: [view("electronics", now)] });
    await stub.erase();
    expect(await tables(stub)).toEqual({ rows: [], alarm: null });
    const profile = await stub.readProfile({ attributes: ["behavior.views_all.total", "session.count"], now });
    expect(profile).toEqual({ "behavior.views_all.total": 0, "session.count": 0 });
    expect(await stub.record({ visitor: VISITOR, events: [view("home", now)] })).toEqual({ accepted: 1, duplicates: 0 });
  });

  it("keeps at most MAX_EVENTS raw events while the counters keep counting", async () => {
    const stub = session();
    const now = Date.now();
    for (let batch = 0; batch < 11; batch++) {
      await stub.record({
        visitor: VISITOR,
        events: Array.from({ length: 100 }, (_, index) => view("home", now - (1_100 - batch * 100 - index) * 1_000)),
      });
    }
    const exported = JSON.parse(await stub.exportProfile()) as ProfileExport;
    expect(exported.events.length).toBeLessThanOrEqual(1_100);
    expect(exported.events.length).toBeGreaterThanOrEqual(1_000);
    const profile = await stub.readProfile({ attributes: ["behavior.views_all.category.home"], now });
    expect(profile["behavior.views_all.category.home"]).toBe(1_100);
  });
});

describe("UserSession identity merge", () => {
  it("hands an anonymous visitor's state to the user's object once, and forwards to it afterwards", async () => {
    const userName = `user${crypto.randomUUID().replaceAll("-", "")}`.slice(0, 32);
    const anonymousName = `anon${crypto.randomUUID().replaceAll("-", "")}`.slice(0, 32);
    const user = session(userName);
    const anonymous = session(anonymousName);
    const now = Date.now();
    await user.record({ visitor: userName, events: [view("electronics", now - 60 * MINUTE)] });
    await anonymous.record({ visitor: anonymousName, events: [view("electronics", now - 2 * MINUTE), view("outdoor", now - MINUTE)] });

    await anonymous.linkToUser(userName, anonymousName);
    await anonymous.linkToUser(userName, anonymousName);

    const attributes = [
      "behavior.views_all.category.electronics",
      "behavior.views_10m.category.electronics",
      "behavior.views_all.total",
      "recency.last_category",
    ];
    const expected = {
      "behavior.views_all.category.electronics": 2,
      "behavior.views_10m.category.electronics": 1,
      "behavior.views_all.total": 3,
      "recency.last_category": "outdoor",
    };
    expect(await user.readProfile({ attributes, now })).toEqual(expected);
    expect(await anonymous.readProfile({ attributes, now })).toEqual(expected);

    await anonymous.record({ visitor: anonymousName, events: [view("fashion", now)] });
    expect(await user.readProfile({ attributes: ["behavior.views_all.total"], now })).toEqual({ "behavior.views_all.total": 4 });
  });
});

describe("UserSession links (the Worker calls these only for a user proven by an identity proof)", () => {
  const name = (prefix: string) => `${prefix}${crypto.randomUUID().replaceAll("-", "")}`.slice(0, 32);

  it("points an alias at another user without moving the first user's data", async () => {
    const [firstName, secondName, deviceName] = [name("first"), name("second"), name("device")];
    const device = session(deviceName);
    const now = Date.now();
    await device.record({ visitor: deviceName, events: [view("electronics", now)] });
    expect(await device.linkToUser(firstName, deviceName)).toBe("linked");
    expect(await device.linkToUser(firstName, deviceName)).toBe("unchanged");
    expect(await device.linkToUser(secondName, deviceName)).toBe("relinked");
    await device.record({ visitor: deviceName, events: [view("home", now)] });

    const total = ["behavior.views_all.total"];
    expect(await session(firstName).readProfile({ attributes: total, now })).toEqual({ "behavior.views_all.total": 1 });
    expect(await session(secondName).readProfile({ attributes: total, now })).toEqual({ "behavior.views_all.total": 1 });
    expect(await device.readProfile({ attributes: ["recency.last_category"], now })).toEqual({ "recency.last_category": "home" });
  });

  it("erases an alias's link only, unless the caller names the very user it is linked to", async () => {
    const [userName, otherName, deviceName] = [name("user"), name("other"), name("device")];
    const device = session(deviceName);
    const now = Date.now();
    await device.record({ visitor: deviceName, events: [view("electronics", now)] });
    await device.linkToUser(userName, deviceName);
    const total = ["behavior.views_all.total"];

    expect(await device.erase([deviceName], otherName)).toBe("not-linked-to-user");
    expect(await device.readProfile({ attributes: total, now })).toEqual({ "behavior.views_all.total": 1 });

    expect(await device.erase([deviceName])).toBe("device");
    expect(await device.readProfile({ attributes: total, now })).toEqual({ "behavior.views_all.total": 0 });
    expect(await session(userName).readProfile({ attributes: total, now })).toEqual({ "behavior.views_all.total": 1 });

    await device.linkToUser(userName, deviceName);
    expect(await device.erase([deviceName], userName)).toBe("user");
    expect(await session(userName).readProfile({ attributes: total, now })).toEqual({ "behavior.views_all.total": 0 });
  });
});
