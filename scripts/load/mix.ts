/**
 * What `npm run load` sends, as pure functions of a seeded random source: shopping sessions of the
 * demo shop's visitors (pages, single-page-app navigations through `/v1/decide`, and the tracker's
 * beacons with the events a browser would batch), and what a visitor's homepage must show given
 * the events Tailor accepted from them. No I/O and no clock: `driver.ts` plays the sessions.
 *
 * The shape follows the cost model's shop (`scripts/cost/model.ts`): about five tracker events per
 * page view, sent in beacons of one to five events, most visitors coming back more than once.
 * @module
 */
import { CATEGORIES, type Category, PRODUCTS, productsIn } from "../../demo-shop/catalog.ts";
import demoRules from "../../demo-shop/rules.json" with { type: "json" };

/** A source of numbers in [0, 1); `seededRandom` in `scripts/simulate/model.ts` gives a repeatable one. */
export type Random = () => number;

/** The requests the load sends, reported separately. */
export const REQUEST_KINDS = ["home", "category", "product", "decide", "beacon"] as const;
/** What a request is, for the report: a page (by kind), a decide call, or a tracker beacon. */
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** One tracker call, as the tracker queues it (Segment Spec `page` or `track`). */
export interface TrackerEvent {
  type: "page" | "track";
  event?: string;
  properties: Record<string, unknown>;
}

/**
 * What the visitor does after a navigation: a click on one of the page's personalized slots (the
 * tracker's `Promotion Clicked`, which Tailor credits to the decision that showed the slot).
 */
export type Interaction = "none" | "click-slot";

/** One navigation: the request, then the beacons the tracker sends from that page, in order. */
export interface Step {
  kind: Exclude<RequestKind, "beacon">;
  path: string;
  /** Events per beacon; the first is sent when the page has loaded, the rest as the visitor acts. */
  beacons: TrackerEvent[][];
  /** Added to the last beacon once the page is seen (it needs the slots the page carried). */
  interaction: Interaction;
}

/** The most events the load puts into one beacon (the tracker itself flushes at 20). */
export const MAX_EVENTS_PER_BEACON = 5;

const ENGAGEMENT_EVENTS = ["Product List Filtered", "Products Searched", "Promotion Viewed", "Product Clicked"] as const;

function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[Math.min(items.length - 1, Math.floor(random() * items.length))];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
}

function productProperties(productId: string): Record<string, unknown> {
  const product = PRODUCTS.find((candidate) => candidate.id === productId);
  return product === undefined ? { product_id: productId } : { product_id: product.id, category: product.category, price: product.price };
}

/** Splits `events` into beacons of at most `MAX_EVENTS_PER_BEACON`, in order. */
export function intoBeacons(events: readonly TrackerEvent[]): TrackerEvent[][] {
  const beacons: TrackerEvent[][] = [];
  for (let start = 0; start < events.length; start += MAX_EVENTS_PER_BEACON)
    beacons.push(events.slice(start, start + MAX_EVENTS_PER_BEACON));
  return beacons;
}

/** The engagement a visitor shows on a page before leaving it: 1 to 4 events (mean 2.5). */
function engagement(random: Random, category: Category): TrackerEvent[] {
  const count = 1 + Math.floor(random() * 4);
  return Array.from({ length: count }, () => {
    const event = pick(random, ENGAGEMENT_EVENTS);
    const product = pick(random, productsIn(category));
    return { type: "track" as const, event, properties: event === "Product Clicked" ? productProperties(product.id) : { category } };
  });
}

/** A navigation to `path` with the events its page gives rise to, as the tracker would batch them. */
function navigation(random: Random, kind: Step["kind"], path: string, cart: string[]): Step {
  const onLoad: TrackerEvent[] = [{ type: "page", properties: { path } }];
  let category: Category = pick(random, CATEGORIES);
  if (kind === "product") {
    const productId = path.slice("/p/".length);
    const product = PRODUCTS.find((candidate) => candidate.id === productId);
    if (product !== undefined) category = product.category;
    onLoad.push({ type: "track", event: "Product Viewed", properties: productProperties(productId) });
  } else if (kind === "category") {
    category = path.slice("/c/".length) as Category;
    onLoad.push({ type: "track", event: "Product List Viewed", properties: { category } });
  }
  const later = engagement(random, category);
  if (kind === "product" && random() < 0.25) {
    later.push({ type: "track", event: "Product Added", properties: { ...productProperties(path.slice(3)), quantity: 1 } });
    cart.push(path.slice(3));
  }
  const interaction: Interaction = (kind === "home" || kind === "decide") && random() < 0.3 ? "click-slot" : "none";
  return { kind, path, beacons: [onLoad, ...intoBeacons(later)], interaction };
}

function productPath(random: Random): string {
  return `/p/${pick(random, PRODUCTS).id}`;
}

function nextStep(random: Random, cart: string[], landing: boolean): Step {
  const draw = random();
  if (landing) {
    if (draw < 0.5) return navigation(random, "home", "/", cart);
    if (draw < 0.8) return navigation(random, "product", productPath(random), cart);
    return navigation(random, "category", `/c/${pick(random, CATEGORIES)}`, cart);
  }
  if (draw < 0.4) return navigation(random, "product", productPath(random), cart);
  if (draw < 0.6) return navigation(random, "category", `/c/${pick(random, CATEGORIES)}`, cart);
  if (draw < 0.9) return navigation(random, "home", "/", cart);
  // A single-page-app navigation back to the homepage: the tracker asks /v1/decide.
  return navigation(random, "decide", "/", cart);
}

/**
 * One shopping session: a landing page and one to five more navigations, then (when something was
 * put in the basket) an order three times in ten, sent with the last page's beacons.
 */
export function planSession(random: Random): Step[] {
  const cart: string[] = [];
  const steps = [nextStep(random, cart, true)];
  const more = 1 + Math.floor(random() * 5);
  for (let index = 0; index < more; index++) steps.push(nextStep(random, cart, false));
  const last = steps.at(-1);
  if (last !== undefined && cart.length > 0 && random() < 0.3) {
    const revenue = cart.reduce((sum, id) => sum + Number(productProperties(id).price ?? 0), 0);
    const order: TrackerEvent = {
      type: "track",
      event: "Order Completed",
      properties: { order_id: `load-${Math.floor(random() * 1e9)}`, revenue: Math.round(revenue * 100) / 100, currency: "EUR" },
    };
    const lastBeacon = last.beacons.at(-1);
    if (lastBeacon !== undefined && lastBeacon.length < MAX_EVENTS_PER_BEACON) lastBeacon.push(order);
    else last.beacons.push([order]);
  }
  return steps;
}

/** The events Tailor has accepted from one visitor, as far as the homepage's rules care. */
export interface VisitorHistory {
  viewedElectronics: boolean;
  viewedAnyProduct: boolean;
}

/** A visitor Tailor has accepted nothing from yet. */
export const EMPTY_HISTORY: VisitorHistory = { viewedElectronics: false, viewedAnyProduct: false };

/** The history after a beacon Tailor accepted (answered 202 with every event accepted or a duplicate). */
export function afterBeacon(history: VisitorHistory, beacon: readonly TrackerEvent[]): VisitorHistory {
  let { viewedElectronics, viewedAnyProduct } = history;
  for (const event of beacon) {
    if (event.event !== "Product Viewed") continue;
    viewedAnyProduct = true;
    if (event.properties.category === "electronics") viewedElectronics = true;
  }
  return { viewedElectronics, viewedAnyProduct };
}

/**
 * The demo rules a homepage must carry for a visitor with this history (`demo-shop/rules.json`):
 * the electronics hero after an electronics product view in the last 10 minutes (a run is shorter),
 * the recommendations after any product view. Rules that depend on the model's score or the basket
 * are not checked: their inputs are not the load's to predict exactly.
 */
export function expectedRules(history: VisitorHistory): string[] {
  return [...(history.viewedElectronics ? ["electronics-hero"] : []), ...(history.viewedAnyProduct ? ["recently-viewed-recs"] : [])];
}

/** A personalized slot as the page (or `/v1/decide`) shows it. */
export interface PersonalizedSlot {
  rule: string;
  slot: string;
  experiment: string | null;
  variant: string | null;
}

/** Rules the page carries (`data-p13n-rule`, set by Tailor's rewriter on each personalized slot), with their slots. */
export function personalizedSlots(html: string): PersonalizedSlot[] {
  const slots: PersonalizedSlot[] = [];
  for (const match of html.matchAll(/<[a-z][^>]*\sdata-p13n-rule="([^"]+)"[^>]*>/g)) {
    const tag = match[0];
    const attribute = (name: string) => new RegExp(`\\s${name}="([^"]+)"`).exec(tag)?.[1] ?? null;
    slots.push({
      rule: match[1] ?? "",
      slot: attribute("data-p13n-slot") ?? attribute("data-slot") ?? "",
      experiment: attribute("data-p13n-experiment"),
      variant: attribute("data-p13n-variant"),
    });
  }
  return slots;
}

/** The tracker's `Promotion Clicked` for a personalized slot (`workers/ingest/tracker/tracker.ts`, `onClick`). */
export function promotionClicked(slot: PersonalizedSlot): TrackerEvent {
  return {
    type: "track",
    event: "Promotion Clicked",
    properties: {
      promotion_id: slot.rule,
      position: slot.slot,
      ...(slot.variant === null ? {} : { creative: slot.variant }),
      ...(slot.experiment === null ? {} : { experiment: slot.experiment }),
    },
  };
}

/** Pages a session is expected to make, on average, for a session arrival rate from a page rate. */
export const MEAN_STEPS_PER_SESSION = 4;

/** The experiment added to the demo rules for the run. */
export const LOAD_EXPERIMENT = "load-banner-copy";

/** The demo rules, plus a banner experiment every homepage visitor not matched by a stronger banner rule enters. */
export function loadRulesDocument(version: number) {
  const banner = (html: string) => ({ banner: { type: "setHtml", html } });
  return {
    ...demoRules,
    version,
    description: `${demoRules.description}, with a banner experiment for npm run load`,
    experiments: { [LOAD_EXPERIMENT]: { variants: ["control", "delivery"] } },
    rules: [
      ...demoRules.rules,
      {
        id: "load-banner-test",
        description: "Which banner copy gets more clicks (added by npm run load)",
        priority: 10,
        pages: ["/"],
        experiment: {
          id: LOAD_EXPERIMENT,
          variants: {
            control: banner("<p>New here? Sign up for our newsletter and get 10% off your first order.</p>"),
            delivery: banner("<p>Free next-day delivery on every order this week.</p>"),
          },
        },
      },
    ],
  };
}
