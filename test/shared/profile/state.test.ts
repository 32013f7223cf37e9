import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../../shared/events/recorded.ts";
import {
  applyEvent,
  emptyState,
  mergeStates,
  profileAttributeFor,
  SESSION_GAP_MS,
  STATE_ATTRIBUTES,
  stateAttribute,
  type VisitorState,
} from "../../../shared/profile/state.ts";

const MINUTE = 60_000;
const START = Date.UTC(2026, 10, 26, 9, 0, 0);

function event(receivedAt: number, overrides: Partial<RecordedEvent> = {}): RecordedEvent {
  return {
    messageId: `m-${receivedAt}-${Math.random()}`,
    type: "page",
    event: null,
    category: null,
    productId: null,
    path: "/",
    receivedAt,
    clientTime: null,
    properties: {},
    consent: null,
    ...overrides,
  };
}

function fold(events: RecordedEvent[], state: VisitorState = emptyState()): VisitorState {
  return events.reduce(applyEvent, state);
}

describe("sessions", () => {
  it("cuts a new session after 30 minutes without an event, not before", () => {
    const state = fold([
      event(START),
      event(START + 10 * MINUTE),
      event(START + 10 * MINUTE + SESSION_GAP_MS), // exactly 30 min later: same session
      event(START + 10 * MINUTE + 2 * SESSION_GAP_MS + 1), // 30 min and 1 ms: new session
    ]);
    expect(state.sessionCount).toBe(2);
    expect(state.sessionPages).toBe(1);
    expect(stateAttribute(state, "session.count", START + 80 * MINUTE)).toBe(2);
  });

  it("reports the current session's length and page views while it is active", () => {
    const state = fold([event(START), event(START + 5 * MINUTE), event(START + 12 * MINUTE)]);
    expect(stateAttribute(state, "session.minutes", START + 13 * MINUTE)).toBe(13);
    expect(stateAttribute(state, "session.page_views", START + 13 * MINUTE)).toBe(3);
    expect(stateAttribute(state, "session.active", START + 13 * MINUTE)).toBe(true);
    expect(stateAttribute(state, "session.active", START + 12 * MINUTE + SESSION_GAP_MS + 1)).toBe(false);
    expect(stateAttribute(state, "session.page_views", START + 12 * MINUTE + SESSION_GAP_MS + 1)).toBe(0);
  });

  it("keeps a late-arriving event inside the session it belongs to", () => {
    const state = fold([event(START), event(START + 20 * MINUTE), event(START + 19 * MINUTE)]);
    expect(state.sessionCount).toBe(1);
    expect(state.lastSeen).toBe(START + 20 * MINUTE);
  });
});

describe("recency", () => {
  it("remembers the last category and the recently viewed products, newest first and distinct", () => {
    const viewed = (at: number, productId: string, category: string) =>
      event(at, { type: "track", event: "Product Viewed", productId, category });
    const state = fold([
      viewed(START, "el-01", "electronics"),
      viewed(START + 1, "od-02", "outdoor"),
      viewed(START + 2, "el-01", "electronics"),
    ]);
    expect(stateAttribute(state, "recency.last_category", START)).toBe("electronics");
    expect(stateAttribute(state, "recency.last_products", START)).toEqual(["el-01", "od-02"]);
    expect(stateAttribute(state, "recency.minutes_since_last_seen", START + 2 + 7 * MINUTE)).toBe(7);
  });
});

describe("cart", () => {
  const track = (at: number, name: string, properties: Record<string, unknown>) => event(at, { type: "track", event: name, properties });

  it("adds, removes and clears on order", () => {
    let state = fold([
      track(START, "Product Added", { product_id: "el-01", price: 99.5, quantity: 2, category: "electronics" }),
      track(START + 1, "Product Added", { product_id: "hm-03", price: 20 }),
    ]);
    expect(stateAttribute(state, "cart.value", START)).toBe(219);
    expect(stateAttribute(state, "cart.items", START)).toBe(3);
    expect(stateAttribute(state, "cart.categories", START)).toEqual(["electronics"]);
    state = applyEvent(state, track(START + 2, "Product Removed", { product_id: "el-01" }));
    expect(stateAttribute(state, "cart.value", START)).toBe(119.5);
    state = applyEvent(state, track(START + 3, "Order Completed", { order_id: "o-1", total: 119.5 }));
    expect(stateAttribute(state, "cart.items", START)).toBe(0);
    expect(stateAttribute(state, "orders.count", START)).toBe(1);
  });

  it("ignores nonsense prices and quantities", () => {
    const state = fold([track(START, "Product Added", { product_id: "x-1", price: "free", quantity: -4 })]);
    expect(stateAttribute(state, "cart.value", START)).toBe(0);
    expect(stateAttribute(state, "cart.items", START)).toBe(1);
  });
});

describe("traits and consent", () => {
  it("keeps identify traits and ignores prototype-naming keys", () => {
    const traits = JSON.parse('{"plan":"gold","__proto__":{"polluted":true}}') as Record<string, unknown>;
    const state = fold([event(START, { type: "identify", properties: traits })]);
    expect(stateAttribute(state, "traits.plan", START)).toBe("gold");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(state.traits)).toBe(Object.prototype);
  });

  it("keeps the latest consent choices", () => {
    const state = fold([
      event(START, { consent: { personalization: false, analytics: true } }),
      event(START + 1, { consent: { personalization: true } }),
    ]);
    expect(stateAttribute(state, "consent.personalization", START)).toBe(true);
    expect(stateAttribute(state, "consent.analytics", START)).toBe(true);
    expect(stateAttribute(state, "consent.marketing", START)).toBeNull();
  });
});

describe("merge on identify", () => {
  it("adds counts, keeps the newer side's recency and the user's traits", () => {
    const user = fold([
      event(START, { type: "identify", properties: { plan: "gold", country: "DE" } }),
      event(START + 1, { type: "track", event: "Order Completed" }),
    ]);
    const visitor = fold([
      event(START + 60 * MINUTE, { type: "identify", properties: { plan: "basic", newsletter: true } }),
      event(START + 61 * MINUTE, { type: "track", event: "Product Viewed", productId: "od-01", category: "outdoor" }),
      event(START + 62 * MINUTE, { type: "track", event: "Product Added", properties: { product_id: "od-01", price: 50 } }),
    ]);
    const merged = mergeStates(user, visitor);
    expect(merged.sessionCount).toBe(2);
    expect(merged.orders).toBe(1);
    expect(merged.firstSeen).toBe(START);
    expect(merged.lastSeen).toBe(START + 62 * MINUTE);
    expect(merged.lastCategory).toBe("outdoor");
    expect(merged.traits).toEqual({ plan: "gold", country: "DE", newsletter: true });
    expect(stateAttribute(merged, "cart.value", START)).toBe(50);
  });
});

describe("profile attribute names", () => {
  it("maps every condition path to the attribute the Durable Object answers", () => {
    expect(profileAttributeFor("recency.last_products.0")).toBe("recency.last_products");
    expect(profileAttributeFor("traits.address.city")).toBe("traits.address");
    expect(profileAttributeFor("behavior.views_10m.category.electronics")).toBe("behavior.views_10m.category.electronics");
    expect(profileAttributeFor("behavior.views_3h.total")).toBeNull();
    expect(profileAttributeFor("geo.country")).toBeNull();
    for (const name of STATE_ATTRIBUTES) expect(stateAttribute(emptyState(), name, START)).not.toBeUndefined();
  });
});
