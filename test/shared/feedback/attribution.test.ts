import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../../shared/events/recorded.ts";
import { feedbackFor, MAX_CONVERSION_VALUE, type RememberedExposure } from "../../../shared/feedback/attribution.ts";

const HOUR = 3_600_000;
const NOW = Date.parse("2026-11-26T12:00:00Z");
const VISITOR = "attributionVisitor00000000000000";

function event(name: string, properties: Record<string, unknown>): RecordedEvent {
  return {
    messageId: `m-${name}`,
    type: "track",
    event: name,
    category: null,
    productId: null,
    path: "/",
    receivedAt: NOW,
    clientTime: null,
    properties,
    consent: null,
  };
}

const exposures: RememberedExposure[] = [
  { decisionId: "d1", ruleId: "hero-test", slot: "hero", experiment: "hero_test", variant: "a", at: NOW - 3 * HOUR },
  { decisionId: "d2", ruleId: "hero-test", slot: "hero", experiment: "hero_test", variant: "b", at: NOW - HOUR },
  { decisionId: "d2", ruleId: "recs", slot: "recommendations", experiment: null, variant: null, at: NOW - HOUR },
  { decisionId: "d0", ruleId: "old", slot: "banner", experiment: null, variant: null, at: NOW - 30 * HOUR },
];

describe("attribution", () => {
  it("credits a conversion to the latest exposure per rule and slot inside the window", () => {
    const conversions = feedbackFor(event("Order Completed", { revenue: 120.5 }), VISITOR, exposures, 24 * HOUR);
    expect(
      conversions.map((message) =>
        message.kind === "conversion" ? [message.kind, message.ruleId, message.variant, message.value] : [message.kind],
      ),
    ).toEqual([
      ["conversion", "hero-test", "b", 120.5],
      ["conversion", "recs", null, 120.5],
    ]);
    expect(conversions.map((message) => message.id)).toEqual(["d2:hero:order-completed", "d2:recommendations:order-completed"]);
  });

  it("gives every conversion after one exposure the same id, whatever the event's messageId and order", () => {
    const ids = Array.from({ length: 20 }, (_, index) => {
      const order = { ...event("Order Completed", { order_id: index % 2 === 0 ? "same-order" : `order-${index}`, revenue: 1e9 }) };
      return feedbackFor({ ...order, messageId: crypto.randomUUID() }, VISITOR, exposures, 24 * HOUR).map((message) => message.id);
    });
    expect(new Set(ids.flat())).toEqual(new Set(["d2:hero:order-completed", "d2:recommendations:order-completed"]));
  });

  // Values a browser can claim, and what one conversion is worth at most.
  const claimedValues: { name: string; properties: Record<string, unknown>; value: number | null }[] = [
    { name: "huge revenue", properties: { revenue: 1e9 }, value: MAX_CONVERSION_VALUE },
    { name: "huge revenue as text", properties: { revenue: "1e12" }, value: MAX_CONVERSION_VALUE },
    { name: "largest number", properties: { total: Number.MAX_VALUE }, value: MAX_CONVERSION_VALUE },
    { name: "infinite revenue as text", properties: { revenue: "Infinity" }, value: null },
    { name: "NaN revenue as text", properties: { revenue: "NaN" }, value: null },
    { name: "negative revenue", properties: { revenue: -500 }, value: null },
    { name: "negative revenue with a price", properties: { revenue: -500, price: 10 }, value: 10 },
    { name: "huge quantity", properties: { price: 20, quantity: 1e15 }, value: MAX_CONVERSION_VALUE },
    { name: "negative quantity", properties: { price: 20, quantity: -3 }, value: 20 },
    { name: "revenue as an object", properties: { revenue: { amount: 1e9 } }, value: null },
    { name: "revenue just under the cap", properties: { revenue: 99_999.5 }, value: 99_999.5 },
  ];

  it.each(claimedValues)("bounds the value of one conversion: $name", ({ properties, value }) => {
    const [conversion] = feedbackFor(event("Order Completed", properties), VISITOR, exposures, 24 * HOUR);
    expect(conversion?.kind === "conversion" ? conversion.value : "no conversion").toBe(value);
  });

  it("credits one conversion event to an experiment once, at its latest exposure, across rules and slots", () => {
    const experiment: RememberedExposure[] = [
      { decisionId: "d1", ruleId: "hero-test", slot: "hero", experiment: "hero_test", variant: "a", at: NOW - 3 * HOUR },
      { decisionId: "d1", ruleId: "hero-test", slot: "banner", experiment: "hero_test", variant: "a", at: NOW - 3 * HOUR },
      { decisionId: "d2", ruleId: "hero-footer", slot: "footer", experiment: "hero_test", variant: "a", at: NOW - 2 * HOUR },
      { decisionId: "d3", ruleId: "recs", slot: "recommendations", experiment: null, variant: null, at: NOW - HOUR },
      { decisionId: "d3", ruleId: "other", slot: "sidebar", experiment: "other_test", variant: "b", at: NOW - HOUR },
    ];
    const conversions = feedbackFor(event("Order Completed", { revenue: 10 }), VISITOR, experiment, 24 * HOUR);
    expect(conversions.map((message) => (message.kind === "conversion" ? [message.id, message.experiment] : []))).toEqual([
      ["d2:footer:order-completed", "hero_test"],
      ["d3:recommendations:order-completed", null],
      ["d3:sidebar:order-completed", "other_test"],
    ]);
  });

  it("values a basket add at price times quantity", () => {
    const [conversion] = feedbackFor(event("Product Added", { price: 20, quantity: 3 }), VISITOR, exposures, 24 * HOUR);
    expect(conversion?.kind === "conversion" ? conversion.value : null).toBe(60);
  });

  it("attributes a click to the exposure Tailor logged, with its experiment and variant", () => {
    const [click] = feedbackFor(event("Promotion Clicked", { promotion_id: "hero-test", position: "hero" }), VISITOR, exposures, 24 * HOUR);
    expect(click).toMatchObject({
      kind: "click",
      id: "d2:hero:click",
      ruleId: "hero-test",
      slot: "hero",
      experiment: "hero_test",
      variant: "b",
      decisionId: "d2",
      exposedAt: new Date(NOW - HOUR).toISOString(),
    });
  });

  // What a browser can put in a Promotion Clicked, against what Tailor recorded for the visitor.
  const forgedClicks: { name: string; properties: Record<string, unknown>; remembered: RememberedExposure[]; expected: unknown[] }[] = [
    {
      name: "never exposed, claims a variant and experiment",
      properties: { promotion_id: "hero-test", position: "hero", creative: "b", experiment: "hero_test" },
      remembered: [],
      expected: [],
    },
    {
      name: "never exposed, claims `variant` instead of `creative`",
      properties: { promotion_id: "hero-test", position: "hero", variant: "b", experiment: "hero_test" },
      remembered: [],
      expected: [],
    },
    {
      name: "exposed to another rule only",
      properties: { promotion_id: "hero-test", position: "hero", creative: "a", experiment: "hero_test" },
      remembered: exposures.filter((exposure) => exposure.ruleId !== "hero-test"),
      expected: [],
    },
    {
      name: "exposed to the rule in another slot",
      properties: { promotion_id: "recs", position: "hero", creative: "a", experiment: "hero_test" },
      remembered: exposures,
      expected: [],
    },
    {
      name: "exposed to variant b, claims variant a",
      properties: { promotion_id: "hero-test", position: "hero", creative: "a", experiment: "hero_test" },
      remembered: exposures,
      expected: [{ id: "d2:hero:click", experiment: "hero_test", variant: "b" }],
    },
    {
      name: "exposed outside any experiment, claims one",
      properties: { promotion_id: "recs", position: "recommendations", creative: "b", variant: "b", experiment: "hero_test" },
      remembered: exposures,
      expected: [{ id: "d2:recommendations:click", experiment: null, variant: null }],
    },
    {
      name: "exposed in an experiment, claims another experiment",
      properties: { promotion_id: "hero-test", position: "hero", creative: "x", experiment: "other_test" },
      remembered: exposures,
      expected: [{ id: "d2:hero:click", experiment: "hero_test", variant: "b" }],
    },
    {
      name: "exposed too long ago (outside the attribution window)",
      properties: { promotion_id: "old", position: "banner" },
      remembered: exposures,
      expected: [],
    },
    {
      name: "the exposure is logged after the click",
      properties: { promotion_id: "hero-test", position: "hero", creative: "b" },
      remembered: [{ decisionId: "d9", ruleId: "hero-test", slot: "hero", experiment: "hero_test", variant: "b", at: NOW + 1_000 }],
      expected: [],
    },
    {
      name: "rule and slot as non-strings",
      properties: { promotion_id: ["hero-test"], position: { slot: "hero" }, creative: "b" },
      remembered: exposures,
      expected: [],
    },
  ];

  it.each(forgedClicks)("credits a click only to a recorded exposure: $name", ({ properties, remembered, expected }) => {
    const messages = feedbackFor(event("Promotion Clicked", properties), VISITOR, remembered, 24 * HOUR);
    const clicks = messages.flatMap((message) => (message.kind === "click" ? [message] : []));
    expect(clicks.map((click) => ({ id: click.id, experiment: click.experiment, variant: click.variant }))).toEqual(expected);
    // Whatever is not credited now is at most a claim for the consumer, naming no experiment or variant.
    for (const message of messages.filter((one) => one.kind !== "click")) {
      expect(Object.keys(message).sort()).toEqual(["aliases", "at", "id", "kind", "ruleId", "slot", "v", "visitor"]);
    }
  });

  it("gives every click on one exposure the same id, whatever the event's messageId", () => {
    const ids = Array.from({ length: 50 }, (_, index) => {
      const click = { ...event("Promotion Clicked", { promotion_id: "hero-test", position: "hero" }), messageId: `forged-${index}` };
      return feedbackFor(click, VISITOR, exposures, 24 * HOUR).map((message) => `${message.kind} ${message.id}`);
    });
    expect(new Set(ids.flat())).toEqual(new Set(["click d2:hero:click"]));
  });

  it("ignores other events and clicks without a rule", () => {
    expect(feedbackFor(event("Product Viewed", {}), VISITOR, exposures, 24 * HOUR)).toEqual([]);
    expect(feedbackFor(event("Promotion Clicked", {}), VISITOR, exposures, 24 * HOUR)).toEqual([]);
  });
});
