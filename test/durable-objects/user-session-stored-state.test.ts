/**
 * The visitor's stored state is parsed when the object loads it, not cast: a damaged or older
 * layout never breaks the profile read the page waits for, nor the next event, and the fields that
 * are still good are kept.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrate } from "../../durable-objects/sql-migrations.ts";
import { USER_SESSION_MIGRATIONS } from "../../durable-objects/user-session.migrations.ts";

const VISITOR = "visitorPseudonymForTests0000000B";
const ATTRIBUTES = ["session.count", "recency.last_category", "cart.items"];

async function sessionWithStoredState(text: string) {
  const stub = env.USER_SESSION.getByName(crypto.randomUUID());
  await runInDurableObject(stub, (_, state) => {
    migrate(state.storage, USER_SESSION_MIGRATIONS);
    state.storage.sql.exec("INSERT INTO meta (name, value) VALUES ('state', ?)", text);
  });
  return stub;
}

function view(category: string, now: number) {
  return {
    messageId: crypto.randomUUID(),
    type: "track" as const,
    event: "Product Viewed",
    category,
    productId: "el-01",
    path: "/p/el-01",
    receivedAt: now,
    clientTime: null,
    properties: { category },
    consent: null,
  };
}

describe("UserSession stored state", () => {
  it.each([
    ["not JSON", "{not json"],
    ["JSON null", "null"],
    ["an array", "[]"],
    ["a number", "42"],
    ["every field of the wrong type", JSON.stringify({ sessionCount: "x", recentProducts: null, cart: [1], traits: "t", consent: 5 })],
    ["an older layout without most fields", JSON.stringify({ firstSeen: 1 })],
  ])("answers the profile and takes the next event when the stored state is %s", async (_, text) => {
    const stub = await sessionWithStoredState(text);
    const now = Date.now();
    const profile = await stub.readProfile({ attributes: ATTRIBUTES, now });
    expect(profile).toMatchObject({ "session.count": 0 });
    expect(await stub.record({ visitor: VISITOR, events: [view("home", now)] })).toEqual({ accepted: 1, duplicates: 0 });
    expect(await stub.readProfile({ attributes: ATTRIBUTES, now })).toMatchObject({ "session.count": 1, "recency.last_category": "home" });
  });

  it("keeps the good fields of a partly damaged state", async () => {
    const now = Date.now();
    const stub = await sessionWithStoredState(
      JSON.stringify({ sessionCount: 3, lastSeen: now, sessionStart: now, lastCategory: "garden", recentProducts: "oops", cart: null }),
    );
    expect(await stub.readProfile({ attributes: ATTRIBUTES, now })).toMatchObject({
      "session.count": 3,
      "recency.last_category": "garden",
    });
  });
});
