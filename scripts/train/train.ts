/**
 * Builds model documents from an NDJSON export of visitor events — the raw-events Kafka topic, or
 * the Kafka REST double's `.kafka-rest/tailor.events.ndjson` (each line an `EventMessage`, bare or
 * as a record's `value`):
 *
 * - an **item-to-item** model: products viewed close together by the same visitor are related,
 *   ranked by how often that happened, topped up with the category's most viewed products;
 * - a **logistic** "intent" model: which visitors went on to add to basket or order, from their
 *   lifetime counts of page views, product views and basket adds, fitted by gradient descent.
 *
 * Pure functions here; `main.ts` is the command line.
 * @module
 */
import { EventMessage } from "../../shared/feedback/messages.ts";
import { sigmoid } from "../../shared/models/logistic.ts";

export interface TrainingSummary {
  events: number;
  skipped: number;
  visitors: number;
  products: number;
}

/** Parses export lines into events; lines that are not events are counted and skipped. */
export function readEvents(lines: Iterable<string>): { events: EventMessage[]; skipped: number } {
  const events: EventMessage[] = [];
  let skipped = 0;
  for (const line of lines) {
    if (line.trim() === "") continue;
    try {
      const raw = JSON.parse(line) as { value?: unknown };
      const parsed = EventMessage.safeParse(raw !== null && typeof raw === "object" && "value" in raw ? raw.value : raw);
      if (parsed.success) events.push(parsed.data);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  return { events, skipped };
}

function byVisitor(events: readonly EventMessage[]): Map<string, EventMessage[]> {
  const visitors = new Map<string, EventMessage[]>();
  for (const event of events) {
    const list = visitors.get(event.visitor) ?? [];
    list.push(event);
    visitors.set(event.visitor, list);
  }
  for (const list of visitors.values()) list.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
  return visitors;
}

export interface ItemToItemOptions {
  /** How many following views count as "close together". */
  window?: number;
  /** Related products kept per product. */
  keep?: number;
}

export function trainItemToItem(events: readonly EventMessage[], options: ItemToItemOptions = {}) {
  const window = options.window ?? 5;
  const keep = options.keep ?? 10;
  const together = new Map<string, Map<string, number>>();
  const popularity = new Map<string, number>();
  const items: Record<string, { name: string; url: string; price?: number; category?: string }> = {};
  const bump = (from: string, to: string) => {
    const row = together.get(from) ?? new Map<string, number>();
    row.set(to, (row.get(to) ?? 0) + 1);
    together.set(from, row);
  };
  for (const list of byVisitor(events).values()) {
    const views = list.filter((event) => event.event === "Product Viewed" && event.productId !== null);
    views.forEach((event, index) => {
      const id = event.productId ?? "";
      popularity.set(id, (popularity.get(id) ?? 0) + 1);
      const name = typeof event.properties.name === "string" ? event.properties.name : id;
      const price = typeof event.properties.price === "number" ? event.properties.price : undefined;
      items[id] = {
        name: name.slice(0, 200),
        url: `/p/${id}`,
        ...(price === undefined ? {} : { price }),
        ...(event.category === null ? {} : { category: event.category }),
      };
      for (const other of views.slice(index + 1, index + 1 + window)) {
        const otherId = other.productId ?? "";
        if (otherId === id) continue;
        bump(id, otherId);
        bump(otherId, id);
      }
    });
  }
  const byPopularity = [...popularity.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([id]) => id);
  const related: Record<string, string[]> = {};
  // Every viewed product gets a list: products co-viewed with it first, most often first; then,
  // while the list is short, the most viewed products of its category. A demo session or a young
  // shop has many products seen by one visitor only, without co-views: they would otherwise get no
  // recommendations at all (a model "for 0 products" from a visitor who viewed one product each
  // visit).
  for (const id of byPopularity) {
    const coViewed = [...(together.get(id) ?? new Map<string, number>()).entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([other]) => other);
    const category = items[id]?.category;
    const sameCategory = byPopularity.filter(
      (other) => other !== id && category !== undefined && items[other]?.category === category && !coViewed.includes(other),
    );
    const list = [...coViewed, ...sameCategory].slice(0, keep);
    if (list.length > 0) related[id] = list;
  }
  const fallback = byPopularity.slice(0, keep);
  return {
    type: "itemToItem" as const,
    description: `Co-views within ${window} views, from ${events.length} events`,
    related,
    items,
    fallback,
  };
}

/** Features are lifetime counts under the attribute names rules use, so the model scores live profiles directly. */
export const INTENT_FEATURES = ["behavior.pages_all.total", "behavior.views_all.total", "behavior.adds_all.total"] as const;

export function trainIntent(events: readonly EventMessage[], options: { iterations?: number; learningRate?: number; l2?: number } = {}) {
  const iterations = options.iterations ?? 500;
  const learningRate = options.learningRate ?? 0.1;
  const l2 = options.l2 ?? 0.01;
  const rows: { x: number[]; y: number }[] = [];
  for (const list of byVisitor(events).values()) {
    // Count what happened before the first order; an order is the positive outcome.
    const counts = [0, 0, 0];
    let converted = 0;
    for (const event of list) {
      if (event.event === "Order Completed") {
        converted = 1;
        break;
      }
      if (event.type === "page") counts[0] = (counts[0] ?? 0) + 1;
      if (event.event === "Product Viewed") counts[1] = (counts[1] ?? 0) + 1;
      if (event.event === "Product Added") counts[2] = (counts[2] ?? 0) + 1;
    }
    rows.push({ x: counts, y: converted });
  }
  // Scale features for a stable fit, then fold the scale back into the weights.
  const scale = INTENT_FEATURES.map((_, feature) => Math.max(1, ...rows.map((row) => row.x[feature] ?? 0)));
  let intercept = 0;
  const weights = INTENT_FEATURES.map(() => 0);
  for (let iteration = 0; iteration < iterations && rows.length > 0; iteration++) {
    let gradientIntercept = 0;
    const gradients = weights.map(() => 0);
    for (const row of rows) {
      const z = intercept + weights.reduce((sum, weight, feature) => sum + weight * ((row.x[feature] ?? 0) / (scale[feature] ?? 1)), 0);
      const error = sigmoid(z) - row.y;
      gradientIntercept += error;
      weights.forEach((_, feature) => {
        gradients[feature] = (gradients[feature] ?? 0) + error * ((row.x[feature] ?? 0) / (scale[feature] ?? 1));
      });
    }
    intercept -= (learningRate * gradientIntercept) / rows.length;
    weights.forEach((weight, feature) => {
      weights[feature] = weight - learningRate * ((gradients[feature] ?? 0) / rows.length + l2 * weight);
    });
  }
  const positives = rows.filter((row) => row.y === 1).length;
  return {
    type: "logistic" as const,
    description: `Order within the visit, from ${rows.length} visitors (${positives} ordered)`,
    intercept,
    weights: Object.fromEntries(INTENT_FEATURES.map((name, feature) => [name, (weights[feature] ?? 0) / (scale[feature] ?? 1)])),
  };
}
