import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../../shared/events/recorded.ts";
import { feedbackFor, type RememberedExposure } from "../../../shared/feedback/attribution.ts";

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
    expect(conversions[0]?.id).toBe("m-Order Completed:hero-test:hero");
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
