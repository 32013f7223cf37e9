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
      conversions.map((message) => [message.kind, message.ruleId, message.variant, message.kind === "conversion" ? message.value : null]),
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

  it("attributes a click to the slot's rule, variant and experiment", () => {
    const [click] = feedbackFor(
      event("Promotion Clicked", { promotion_id: "hero-test", position: "hero", creative: "b", experiment: "hero_test" }),
      VISITOR,
      [],
      24 * HOUR,
    );
    expect(click).toMatchObject({ kind: "click", ruleId: "hero-test", slot: "hero", variant: "b", experiment: "hero_test" });
    const [remembered] = feedbackFor(
      event("Promotion Clicked", { promotion_id: "hero-test", position: "hero" }),
      VISITOR,
      exposures,
      24 * HOUR,
    );
    expect(remembered).toMatchObject({ experiment: "hero_test", variant: "b" });
  });

  it("ignores other events and clicks without a rule", () => {
    expect(feedbackFor(event("Product Viewed", {}), VISITOR, exposures, 24 * HOUR)).toEqual([]);
    expect(feedbackFor(event("Promotion Clicked", {}), VISITOR, exposures, 24 * HOUR)).toEqual([]);
  });
});
