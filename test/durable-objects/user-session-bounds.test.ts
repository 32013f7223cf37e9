/**
 * A visitor's object stays bounded within one long session: a client that keeps its session alive
 * and sends batch after batch of events with invented ids cannot grow the stored events, the
 * distinct behaviour counts or what a cold load reads without limit (storage costs, and the first
 * page read after a restart would miss its deadline).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../shared/events/recorded.ts";
import type { ProfileExport } from "../../shared/profile/export.ts";
import { forwarded } from "../support/worker/user-session.ts";

const MINUTE = 60_000;
/** `MAX_EVENTS` plus the slack a session may store before it prunes (user-session.ts). */
const MOST_EVENTS = 1_250;
/** `MAX_KEYS` and `MAX_KEYS_PER_MINUTE` of user-session.counters.ts. */
const MOST_KEYS = 2_000;
const MOST_KEYS_PER_MINUTE = 200;
const VISITOR = "boundsVisitorPseudonym0000000000";

function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function viewed(category: string, productId: string, receivedAt: number): RecordedEvent {
  return {
    messageId: crypto.randomUUID(),
    type: "track",
    event: "Product Viewed",
    category,
    productId,
    path: "/p/x",
    receivedAt,
    clientTime: null,
    properties: {},
    consent: null,
  };
}

/** Floods of 25 batches of 100 events in one session (a batch every 20 s or every minute). */
const FLOODS: [string, (batch: number, index: number, at: number) => RecordedEvent][] = [
  ["random product ids in one category", (_, __, at) => viewed("home", randomId(), at)],
  ["random categories and product ids", (_, __, at) => viewed(randomId(), randomId(), at)],
  ["a few products, many random categories", (_, index, at) => viewed(randomId(), `p-${index % 5}`, at)],
];

describe("UserSession bounds within one session", () => {
  it.each(FLOODS)("%s: events and distinct counts stay bounded, totals and known keys keep counting", async (_, make) => {
    const stub = env.USER_SESSION.getByName(crypto.randomUUID());
    const start = Date.now() - 30 * MINUTE;
    await stub.record({ visitor: VISITOR, events: [viewed("shoes", "known-1", start)] });
    let accepted = 1;
    for (let batch = 0; batch < 25; batch++) {
      const at = start + batch * 60_000;
      const outcome = await stub.record({ visitor: VISITOR, events: Array.from({ length: 100 }, (_, index) => make(batch, index, at)) });
      expect(outcome.accepted).toBe(100);
      accepted += 100;
      await forwarded(stub);
    }
    const now = Date.now();
    await stub.record({ visitor: VISITOR, events: [viewed("shoes", "known-1", now)] });
    accepted++;

    const stored = await runInDurableObject(
      stub,
      (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COALESCE(SUM(size), 0) AS n FROM batches").one().n,
    );
    expect(stored).toBeLessThanOrEqual(MOST_EVENTS);
    const exported = JSON.parse(await stub.exportProfile()) as ProfileExport;
    expect(exported.events.length).toBeLessThanOrEqual(MOST_EVENTS);
    const keys = new Set(exported.minuteCounts.map(({ metric, key }) => `${metric}|${key}`));
    expect(keys.size).toBeLessThanOrEqual(MOST_KEYS + 10);
    const perMinute = new Map<number, number>();
    for (const { minute } of exported.minuteCounts) perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1);
    expect(Math.max(...perMinute.values())).toBeLessThanOrEqual(MOST_KEYS_PER_MINUTE + 10);

    // What rules read still counts every event, and a product known before the flood keeps counting.
    expect(
      await stub.readProfile({ attributes: ["behavior.views_all.total", "behavior.views_all.product.known-1", "session.count"], now }),
    ).toEqual({ "behavior.views_all.total": accepted, "behavior.views_all.product.known-1": 2, "session.count": 1 });
    // Pruning within the session keeps the cost per accepted event at most one row written.
    const usage = await stub.usage();
    expect(usage.rowsWritten / usage.eventsAccepted).toBeLessThanOrEqual(1);
  });
});
