/**
 * The DeadLetters store stays within its bounds however many letters arrive: the oldest are dropped
 * and counted, the newest kept, and replay keeps the totals right.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeadLetter, DeadLetterLimits, DeadLetters } from "../../durable-objects/dead-letters.ts";

/** A letter whose body is a valid events message, so a replay in this test delivers it harmlessly. */
function letter(index: number, bodyBytes = 10): DeadLetter {
  const visitor = "boundsvisitorDDDDDDDDDDDDDDDDDDD";
  const event = {
    v: 1,
    kind: "event",
    id: `bounds-${index}`,
    visitor,
    type: "track",
    event: "Product Viewed",
    category: null,
    productId: null,
    path: "/",
    receivedAt: new Date().toISOString(),
    clientTime: null,
    properties: { padding: "x".repeat(bodyBytes) },
  };
  return {
    queue: "tailor-events",
    reason: "out-of-retries",
    detail: "the queue gave up after max_retries",
    attempts: 101,
    failedAt: 1_700_000_000_000 + index,
    body: { v: 1, kind: "events", id: `bounds-${index}`, visitor, events: [event] },
  };
}

async function fresh(limits: DeadLetterLimits) {
  const stub = env.DEAD_LETTERS.getByName(`bounds-${crypto.randomUUID()}`);
  await runInDurableObject(stub, (instance: DeadLetters) => {
    instance.limits = limits;
  });
  return stub;
}

describe("dead letters are bounded", () => {
  const cases = [
    { name: "by count, in one large delivery", limits: { letters: 50, bytes: 1e9 }, deliveries: [1_000], bodyBytes: 10 },
    { name: "by count, over many small deliveries", limits: { letters: 50, bytes: 1e9 }, deliveries: Array(30).fill(7), bodyBytes: 10 },
    { name: "by bytes, with large bodies", limits: { letters: 10_000, bytes: 40_000 }, deliveries: [100, 100], bodyBytes: 1_000 },
  ];

  it.each(cases)("$name: the newest kept, the oldest dropped and counted", async ({ limits, deliveries, bodyBytes }) => {
    const stub = await fresh(limits);
    let sent = 0;
    for (const size of deliveries) {
      await stub.add(Array.from({ length: size }, (_, offset) => letter(sent + offset, bodyBytes)));
      sent += size;
    }
    const summary = await stub.summary();
    expect(summary.total).toBeGreaterThan(0);
    expect(summary.total).toBeLessThanOrEqual(limits.letters);
    expect(summary.total * bodyBytes).toBeLessThanOrEqual(limits.bytes);
    expect(summary.total + summary.dropped).toBe(sent);
    // The oldest kept is the one right after the last dropped: the newest letters survive.
    expect(JSON.parse(summary.sample[0]?.body ?? "{}").id).toBe(`bounds-${summary.dropped}`);
    const stored = await runInDurableObject(stub, (_, state) =>
      state.storage.sql.exec<{ count: number }>("SELECT COUNT(*) AS count FROM letters").one(),
    );
    expect(stored.count).toBe(summary.total);
  });

  it("counts what replay sends back, so the bound keeps holding afterwards", async () => {
    const stub = await fresh({ letters: 20, bytes: 1e9 });
    await stub.add(Array.from({ length: 30 }, (_, index) => letter(index)));
    const replayed = await stub.replay(5);
    expect(replayed).toEqual({ replayed: 5, remaining: 15 });
    await stub.add(Array.from({ length: 10 }, (_, index) => letter(100 + index)));
    const summary = await stub.summary();
    expect(summary.total).toBe(20);
    expect(summary.dropped).toBe(15);
  });
});
