/**
 * What a million page views and a million events cost, from the same counts and unit prices as the
 * monthly bill (`model.ts`), before the plan's included allowances and subscription: the marginal
 * price of traffic, which is what grows from 1 to 10,000 page views a second. The model is linear in
 * page views and events, so each is priced alone (one a second, the other none) and scaled to a
 * million. The rules pointer's KV reads do not grow with traffic (they follow warm isolates) and
 * are left out.
 * @module
 */
import { type Counts, type Line, monthlyBill, type Product, SECONDS_PER_MONTH, type Traffic } from "./model.ts";

export interface PerMillion {
  /** US dollars per million page views alone: decisions, profile reads, exposures, their queue messages and points, new visitors' objects. */
  pageViewsUsd: number;
  /** US dollars per million tracker events: beacons, rows written, events messages, attributed feedback. */
  eventsUsd: number;
  /** Per million page views with the events that come with them at the traffic's ratio. */
  pageViewsWithEventsUsd: number;
  eventsPerPageView: number;
  /** The page views' and events' cost per product, per million. */
  byProduct: Record<Product, { pageViewsUsd: number; eventsUsd: number }>;
}

/** US dollars per million of whatever one unit a second uses: usage per month ÷ seconds, times the unit price. */
function perMillionOfUnit(lines: readonly Line[]): { total: number; byProduct: Partial<Record<Product, number>> } {
  const byProduct: Partial<Record<Product, number>> = {};
  let total = 0;
  for (const line of lines) {
    if (line.unit === "reads" && line.product === "Workers KV") continue;
    const usd = (line.perMonth / SECONDS_PER_MONTH) * line.usdPerMillion;
    byProduct[line.product] = (byProduct[line.product] ?? 0) + usd;
    total += usd;
  }
  return { total, byProduct };
}

/** The marginal cost per million page views and per million events for the shop's shape (`traffic`'s returning share, slots, events per beacon). */
export function costPerMillion(traffic: Traffic, counts: Counts): PerMillion {
  // New visitors come with page views (a share of them start a visit), not with events.
  const newVisitorsPerPage = traffic.pages > 0 ? traffic.newVisitors / traffic.pages : 0;
  const pages = perMillionOfUnit(monthlyBill({ ...traffic, pages: 1, events: 0, newVisitors: newVisitorsPerPage }, counts).lines);
  const events = perMillionOfUnit(monthlyBill({ ...traffic, pages: 0, events: 1, newVisitors: 0 }, counts).lines);
  const eventsPerPageView = traffic.pages > 0 ? traffic.events / traffic.pages : 0;
  const products: Product[] = ["Workers", "Durable Objects", "Queues", "Workers KV", "Analytics Engine"];
  return {
    pageViewsUsd: pages.total,
    eventsUsd: events.total,
    pageViewsWithEventsUsd: pages.total + eventsPerPageView * events.total,
    eventsPerPageView,
    byProduct: Object.fromEntries(
      products.map((product) => [product, { pageViewsUsd: pages.byProduct[product] ?? 0, eventsUsd: events.byProduct[product] ?? 0 }]),
    ) as Record<Product, { pageViewsUsd: number; eventsUsd: number }>,
  };
}
