/**
 * The digest `recordWithDigest` answers must give the page, at any later moment, exactly what
 * `readProfile` answers then: windows slide, sessions end, recency grows, and the page computes all
 * of that from the digest alone.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../shared/events/recorded.ts";
import { digestValues, type ProfileDigest } from "../../shared/profile/digest.ts";
import { STATE_ATTRIBUTES } from "../../shared/profile/state.ts";
import { armExperiment } from "../../shared/rules/sticky.ts";

const MINUTE = 60_000;
const VISITOR = "visitorPseudonymForDigests00000A";
let sequence = 0;

function event(receivedAt: number, overrides: Partial<RecordedEvent>): RecordedEvent {
  sequence++;
  return {
    messageId: `digest-${sequence}`,
    type: "track",
    event: "Product Viewed",
    category: null,
    productId: null,
    path: "/p/x",
    receivedAt,
    clientTime: null,
    properties: {},
    consent: null,
    ...overrides,
  };
}

const view = (at: number, category: string, product: string) =>
  event(at, { category, productId: product, properties: { category, product_id: product } });
const added = (at: number, product: string, price: number) =>
  event(at, {
    event: "Product Added",
    category: "electronics",
    productId: product,
    properties: { product_id: product, price, category: "electronics" },
  });

/** Every kind of attribute a rule can read: all state attributes, behaviour in every window, traits and consent, an arm. */
const ATTRIBUTES = [
  ...STATE_ATTRIBUTES,
  "behavior.views_5m.category.electronics",
  "behavior.views_10m.category.electronics",
  "behavior.views_1h.total",
  "behavior.views_24h.product.el-01",
  "behavior.views_7d.category.home",
  "behavior.views_all.total",
  "behavior.adds_24h.total",
  "behavior.pages_10m.total",
  "behavior.orders_7d.total",
  "traits.plan",
  "traits.missing",
  "consent.analytics",
  "assignments.hero_bandit",
];

const isArm = (path: string) => armExperiment(path) !== null;

describe("UserSession.recordWithDigest", () => {
  it("answers a digest from which every attribute reads as readProfile reads it, now and later", async () => {
    const stub = env.USER_SESSION.getByName(crypto.randomUUID());
    const now = Date.now();
    const events = [
      view(now - 3 * 60 * MINUTE, "home", "hm-01"),
      view(now - 50 * MINUTE, "electronics", "el-01"),
      view(now - 8 * MINUTE, "electronics", "el-02"),
      view(now - 2 * MINUTE, "electronics", "el-01"),
      added(now - 1 * MINUTE, "el-01", 99.5),
      event(now - MINUTE, { type: "page", event: null, properties: { path: "/" } }),
      event(now, { type: "identify", event: null, properties: { plan: "gold" }, consent: { analytics: true } }),
    ];
    const { outcome, digest } = await stub.recordWithDigest({ visitor: VISITOR, events }, { attributes: ATTRIBUTES });
    expect(outcome.accepted).toBe(events.length);
    if (digest === null) throw new Error("no digest");
    const parsed = JSON.parse(digest.json) as ProfileDigest;
    expect(digest.expires).toBeGreaterThan(now);
    // Not a trivial match: the read sees the events.
    expect(await stub.readProfile({ attributes: ["behavior.views_10m.category.electronics", "cart.items", "traits.plan"], now })).toEqual({
      "behavior.views_10m.category.electronics": 2,
      "cart.items": 1,
      "traits.plan": "gold",
    });

    for (const later of [0, 1, 4, 9, 12, 31, 61, 24 * 60 + 1, 8 * 24 * 60]) {
      const at = now + later * MINUTE;
      const attributes = ATTRIBUTES.filter((path) => !isArm(path));
      const read = await stub.readProfile({ attributes, now: at });
      expect(digestValues(parsed, attributes, at, isArm), `${later} minutes later`).toEqual(read);
    }
    // Arms are the page's own writes, after the digest: never answered from it.
    expect(digestValues(parsed, ATTRIBUTES, now, isArm)).toBeNull();
  });

  it("answers no digest for a browser linked to a user", async () => {
    const user = env.USER_SESSION.getByName("userPseudonymForDigests00000000A");
    const browser = env.USER_SESSION.getByName("browserPseudonymForDigests0000A");
    await browser.linkToUser("userPseudonymForDigests00000000A", "browserPseudonymForDigests0000A");
    const { digest } = await browser.recordWithDigest(
      { visitor: "browserPseudonymForDigests0000A", events: [view(Date.now(), "home", "hm-02")] },
      { attributes: ["behavior.views_10m.category.home"] },
    );
    expect(digest).toBeNull();
    expect(await user.readProfile({ attributes: ["behavior.views_10m.category.home"], now: Date.now() })).toEqual({
      "behavior.views_10m.category.home": 1,
    });
  });
});
