/**
 * `npm run train` learns from an event export: co-viewed products become related, and basket
 * adds raise the intent score.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readEvents, trainIntent, trainItemToItem } from "../../scripts/train/train.ts";
import type { EventMessage } from "../../shared/feedback/messages.ts";
import { compileLogistic } from "../../shared/models/logistic.ts";
import { Model } from "../../shared/rules/document.ts";

let clock = Date.parse("2026-11-01T00:00:00Z");

function event(visitor: string, name: string | null, productId: string | null = null): EventMessage {
  clock += 1_000;
  return {
    v: 1,
    kind: "event",
    id: `e-${clock}`,
    visitor,
    type: name === null ? "page" : "track",
    event: name,
    category: productId === null ? null : productId.startsWith("el") ? "electronics" : "outdoor",
    productId,
    path: "/",
    receivedAt: new Date(clock).toISOString(),
    clientTime: null,
    properties: productId === null ? {} : { product_id: productId, name: `Product ${productId}`, price: 10 },
  };
}

function shoppers(): EventMessage[] {
  const events: EventMessage[] = [];
  for (let index = 0; index < 60; index++) {
    const visitor = `visitor-pseudonym-${String(index).padStart(6, "0")}`;
    const buyer = index % 3 === 0;
    events.push(event(visitor, null));
    events.push(event(visitor, "Product Viewed", "el-01"), event(visitor, "Product Viewed", index % 2 === 0 ? "el-02" : "el-03"));
    if (index % 5 === 0) events.push(event(visitor, "Product Viewed", "od-01"));
    if (buyer)
      events.push(event(visitor, "Product Added", "el-02"), event(visitor, "Product Added", "el-01"), event(visitor, "Order Completed"));
  }
  return events;
}

describe("train", () => {
  it("reads bare events and Kafka records from NDJSON, skipping anything else", () => {
    const sample = event("visitor-pseudonym-000001", "Product Viewed", "el-01");
    const { events, skipped } = readEvents([
      JSON.stringify(sample),
      JSON.stringify({ topic: "t", value: sample }),
      "not json",
      JSON.stringify({ kind: "exposure" }),
      "",
    ]);
    expect(events).toHaveLength(2);
    expect(skipped).toBe(2);
  });

  it("relates products viewed together, most often first", () => {
    const model = trainItemToItem(shoppers());
    expect(Model.safeParse(model).success).toBe(true);
    expect(model.related["el-01"]?.slice(0, 2).sort()).toEqual(["el-02", "el-03"]);
    expect(model.related["od-01"]).toContain("el-01");
    expect(model.fallback[0]).toBe("el-01");
    expect(model.items["el-02"]).toEqual({ name: "Product el-02", url: "/p/el-02", price: 10, category: "electronics" });
  });

  it("learns that basket adds signal an order", () => {
    const model = trainIntent(shoppers());
    expect(Model.safeParse(model).success).toBe(true);
    expect(model.weights["behavior.adds_all.total"]).toBeGreaterThan(0);
    const score = compileLogistic(model);
    const adder = score({ behavior: { pages_all: { total: 1 }, views_all: { total: 2 }, adds_all: { total: 2 } } });
    const browser = score({ behavior: { pages_all: { total: 1 }, views_all: { total: 2 }, adds_all: { total: 0 } } });
    expect(adder).toBeGreaterThan(browser);
    expect(adder).toBeGreaterThan(0.5);
    expect(browser).toBeLessThan(0.5);
  });

  describe("on the events the demo shop's tracker sends", () => {
    // Recorded with `npx tsx scripts/train/record-demo-events.ts`: six visitors in headless Chromium
    // browsing the demo shop through the built Worker; the events topic as the Kafka REST double got it.
    const recorded = readEvents(readFileSync("test/scripts/fixtures/demo-shop-events.ndjson", "utf8").split("\n"));
    const viewedIds = (events: readonly EventMessage[]) =>
      [...new Set(events.filter((event) => event.event === "Product Viewed").map((event) => event.productId ?? ""))].sort();

    it("reads every record and relates every viewed product, co-viewed ones first", () => {
      expect(recorded.skipped).toBe(0);
      const model = trainItemToItem(recorded.events);
      expect(Model.safeParse(model).success).toBe(true);
      expect(Object.keys(model.related).sort()).toEqual(viewedIds(recorded.events));
      expect(model.related["el-01"]?.slice(0, 2).sort()).toEqual(["el-02", "el-03"]);
      expect(model.items["el-01"]).toMatchObject({ url: "/p/el-01", category: "electronics" });
    });

    it.each([
      [
        "the first product view of each visitor",
        (events: EventMessage[]) =>
          events.filter(
            (event, index) =>
              event.event === "Product Viewed" &&
              events.findIndex((other) => other.visitor === event.visitor && other.event === "Product Viewed") === index,
          ),
      ],
      [
        "one visit with a single product view, per product",
        (events: EventMessage[]) =>
          events
            .filter((event) => event.event === "Product Viewed")
            .map((event, index) => ({ ...event, visitor: `single-view-visitor-${String(index).padStart(4, "0")}` })),
      ],
    ])("still recommends from %s, within each product's category", (_name, pick) => {
      const events = pick(recorded.events);
      const model = trainItemToItem(events);
      expect(Object.keys(model.related).length).toBeGreaterThan(0);
      expect(Object.keys(model.related).sort()).toEqual(
        viewedIds(events).filter((id) => viewedIds(events).some((other) => other !== id && other.slice(0, 2) === id.slice(0, 2))),
      );
      for (const [id, list] of Object.entries(model.related)) for (const other of list) expect(other.slice(0, 2)).toBe(id.slice(0, 2));
    });
  });
});
