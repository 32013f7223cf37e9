/**
 * The non-counter part of a visitor's profile — sessions, recency, cart, traits, consent — as a
 * small value folded event by event. Pure: the Durable Object keeps one of these per visitor,
 * persists it as JSON, and answers attribute reads from it without touching storage.
 * @module
 */

import type { RecordedEvent } from "../events/recorded.ts";
import { normalizeKey } from "../keys.ts";
import * as z from "../zod.ts";
import { parseBehaviorPath } from "./behavior.ts";

/** A session ends after this long without an event. */
export const SESSION_GAP_MS = 30 * 60_000;
/** How many recently viewed products the profile remembers. */
const RECENT_PRODUCTS = 10;

export const CartLine = z.object({ quantity: z.number(), price: z.number(), category: z.nullable(z.string()) });
export type CartLine = z.infer<typeof CartLine>;

const moment = z.catch(z.nullable(z.number()), null);
const count = z.catch(z.number().check(z.int(), z.gte(0)), 0);

/**
 * The state as stored (JSON in the Durable Object). Parsed once when the object loads it: a field
 * that is missing or damaged (an older layout, a hand edit) falls back to its empty value and the
 * rest is kept, so one bad field never costs the visitor their profile or the page its decision.
 */
export const VisitorState = z.object({
  firstSeen: moment,
  lastSeen: moment,
  sessionCount: count,
  sessionStart: moment,
  sessionEvents: count,
  sessionPages: count,
  lastCategory: z.catch(z.nullable(z.string()), null),
  /** Most recent first, distinct. */
  recentProducts: z.catch(z.array(z.string()), () => []),
  cart: z.catch(z.record(z.string(), CartLine), () => ({})),
  orders: count,
  traits: z.catch(z.record(z.string(), z.unknown()), () => ({})),
  consent: z.catch(z.record(z.string(), z.boolean()), () => ({})),
});
export type VisitorState = z.infer<typeof VisitorState>;

export function emptyState(): VisitorState {
  return {
    firstSeen: null,
    lastSeen: null,
    sessionCount: 0,
    sessionStart: null,
    sessionEvents: 0,
    sessionPages: 0,
    lastCategory: null,
    recentProducts: [],
    cart: {},
    orders: 0,
    traits: {},
    consent: {},
  };
}

function finiteNumber(value: unknown, fallback: number): number {
  const number = typeof value === "string" ? Number(value) : value;
  return typeof number === "number" && Number.isFinite(number) ? number : fallback;
}

/** Copies own string-keyed data into a fresh object, skipping keys that name a prototype. */
function safeAssign(target: Record<string, unknown>, source: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const result = { ...target };
  for (const [key, value] of Object.entries(source)) {
    if (key === "__proto__" || key === "constructor" || key === "prototype") continue;
    Object.defineProperty(result, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return result;
}

interface ProductLine {
  id: string;
  quantity: number;
  price: number;
  category: string | null;
}

function productLine(properties: Readonly<Record<string, unknown>>): ProductLine | null {
  const id = normalizeKey(properties.product_id ?? properties.sku);
  if (id === null) return null;
  return {
    id,
    quantity: Math.max(0, Math.round(finiteNumber(properties.quantity, 1))),
    price: Math.max(0, finiteNumber(properties.price, 0)),
    category: normalizeKey(properties.category),
  };
}

function productLines(properties: Readonly<Record<string, unknown>>): ProductLine[] {
  const products = properties.products;
  if (!Array.isArray(products)) return [];
  return products
    .filter((product): product is Record<string, unknown> => product !== null && typeof product === "object")
    .map(productLine)
    .filter((line): line is ProductLine => line !== null);
}

function applyCart(cart: Record<string, CartLine>, event: RecordedEvent): { cart: Record<string, CartLine>; ordered: boolean } {
  switch (event.event) {
    case "Product Added": {
      const line = productLine(event.properties);
      if (line === null) return { cart, ordered: false };
      const existing = cart[line.id];
      const quantity = (existing?.quantity ?? 0) + Math.max(1, line.quantity);
      return {
        cart: {
          ...cart,
          [line.id]: { quantity, price: line.price || existing?.price || 0, category: line.category ?? existing?.category ?? null },
        },
        ordered: false,
      };
    }
    case "Product Removed": {
      const line = productLine(event.properties);
      const existing = line === null ? undefined : cart[line.id];
      if (line === null || existing === undefined) return { cart, ordered: false };
      const quantity = existing.quantity - Math.max(1, line.quantity);
      const next = { ...cart };
      if (quantity > 0) next[line.id] = { ...existing, quantity };
      else delete next[line.id];
      return { cart: next, ordered: false };
    }
    case "Cart Viewed":
    case "Checkout Started": {
      const lines = productLines(event.properties);
      if (lines.length === 0) return { cart, ordered: false };
      return {
        cart: Object.fromEntries(lines.map((line) => [line.id, { quantity: line.quantity, price: line.price, category: line.category }])),
        ordered: false,
      };
    }
    case "Order Completed":
      return { cart: {}, ordered: true };
    default:
      return { cart, ordered: false };
  }
}

/** Folds one accepted event into the state. Events are applied in the server's receive order. */
export function applyEvent(state: VisitorState, event: RecordedEvent): VisitorState {
  const at = event.receivedAt;
  const newSession = state.lastSeen === null || at - state.lastSeen > SESSION_GAP_MS;
  const { cart, ordered } = event.type === "track" ? applyCart(state.cart, event) : { cart: state.cart, ordered: false };
  const viewed = event.type === "track" && event.event === "Product Viewed" ? event.productId : null;
  return {
    firstSeen: state.firstSeen === null ? at : Math.min(state.firstSeen, at),
    lastSeen: state.lastSeen === null ? at : Math.max(state.lastSeen, at),
    sessionCount: state.sessionCount + (newSession ? 1 : 0),
    sessionStart: newSession ? at : state.sessionStart,
    sessionEvents: (newSession ? 0 : state.sessionEvents) + 1,
    sessionPages: (newSession ? 0 : state.sessionPages) + (event.type === "page" || event.type === "screen" ? 1 : 0),
    lastCategory: event.category ?? state.lastCategory,
    recentProducts:
      viewed === null ? state.recentProducts : [viewed, ...state.recentProducts.filter((id) => id !== viewed)].slice(0, RECENT_PRODUCTS),
    cart,
    orders: state.orders + (ordered ? 1 : 0),
    traits: event.type === "identify" ? safeAssign(state.traits, event.properties) : state.traits,
    consent: event.consent === null ? state.consent : (safeAssign(state.consent, event.consent) as Record<string, boolean>),
  };
}

/**
 * Combines an anonymous visitor's state into a known user's (on `identify`). Counts add up,
 * the more recent side wins for "last" values, the user's traits win over the visitor's.
 */
export function mergeStates(user: VisitorState, visitor: VisitorState): VisitorState {
  const userIsNewer = (user.lastSeen ?? 0) >= (visitor.lastSeen ?? 0);
  const newer = userIsNewer ? user : visitor;
  const cart = { ...visitor.cart };
  for (const [id, line] of Object.entries(user.cart)) {
    const other = cart[id];
    cart[id] = other === undefined ? line : { ...line, quantity: line.quantity + other.quantity };
  }
  const earliest = [user.firstSeen, visitor.firstSeen].filter((time): time is number => time !== null);
  return {
    firstSeen: earliest.length === 0 ? null : Math.min(...earliest),
    lastSeen: newer.lastSeen,
    sessionCount: user.sessionCount + visitor.sessionCount,
    sessionStart: newer.sessionStart,
    sessionEvents: newer.sessionEvents,
    sessionPages: newer.sessionPages,
    lastCategory: newer.lastCategory ?? user.lastCategory ?? visitor.lastCategory,
    recentProducts: [...new Set([...newer.recentProducts, ...(userIsNewer ? visitor : user).recentProducts])].slice(0, RECENT_PRODUCTS),
    cart,
    orders: user.orders + visitor.orders,
    traits: safeAssign(visitor.traits, user.traits),
    consent: safeAssign(userIsNewer ? visitor.consent : user.consent, newer.consent) as Record<string, boolean>,
  };
}

export type StateValue = number | string | boolean | null | string[];

const MINUTE = 60_000;

/**
 * Reads one non-counter profile attribute, e.g. `cart.value` or `traits.plan`; `undefined`
 * when the name is not one of them. All times are relative to `now`.
 */
export function stateAttribute(state: VisitorState, path: string, now: number): StateValue | undefined {
  if (path.startsWith("traits.")) {
    const name = path.slice("traits.".length);
    const value = Object.hasOwn(state.traits, name) ? state.traits[name] : null;
    return typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? value : null;
  }
  if (path.startsWith("consent.")) {
    const name = path.slice("consent.".length);
    return Object.hasOwn(state.consent, name) ? (state.consent[name] ?? null) : null;
  }
  const sessionActive = state.lastSeen !== null && now - state.lastSeen <= SESSION_GAP_MS;
  const lines = Object.values(state.cart);
  switch (path) {
    case "session.count":
      return state.sessionCount;
    case "session.active":
      return sessionActive;
    case "session.minutes":
      return sessionActive && state.sessionStart !== null ? Math.floor((now - state.sessionStart) / MINUTE) : 0;
    case "session.page_views":
      return sessionActive ? state.sessionPages : 0;
    case "session.events":
      return sessionActive ? state.sessionEvents : 0;
    case "recency.minutes_since_last_seen":
      return state.lastSeen === null ? null : Math.floor((now - state.lastSeen) / MINUTE);
    case "recency.days_since_first_seen":
      return state.firstSeen === null ? null : Math.floor((now - state.firstSeen) / (24 * 60 * MINUTE));
    case "recency.last_category":
      return state.lastCategory;
    case "recency.last_products":
      return state.recentProducts;
    case "cart.value":
      return Math.round(lines.reduce((sum, line) => sum + line.price * line.quantity, 0) * 100) / 100;
    case "cart.items":
      return lines.reduce((sum, line) => sum + line.quantity, 0);
    case "cart.products":
      return Object.keys(state.cart);
    case "cart.categories":
      return [...new Set(lines.map((line) => line.category).filter((category): category is string => category !== null))];
    case "orders.count":
      return state.orders;
    default:
      return undefined;
  }
}

/** The non-counter attributes `stateAttribute` answers. */
export const STATE_ATTRIBUTES = [
  "session.count",
  "session.active",
  "session.minutes",
  "session.page_views",
  "session.events",
  "recency.minutes_since_last_seen",
  "recency.days_since_first_seen",
  "recency.last_category",
  "recency.last_products",
  "cart.value",
  "cart.items",
  "cart.products",
  "cart.categories",
  "orders.count",
];

/**
 * The profile attribute a condition path reads, e.g. `recency.last_products` for
 * `recency.last_products.0` or `traits.address` for `traits.address.city`; null when the path is
 * not answered by the visitor's Durable Object.
 */
export function profileAttributeFor(path: string): string | null {
  if (path.startsWith("behavior.")) return parseBehaviorPath(path).ok ? path : null;
  if (path.startsWith("traits.") || path.startsWith("consent.")) {
    const [prefix, name] = path.split(".");
    return name === undefined || name === "" ? null : `${prefix}.${name}`;
  }
  return STATE_ATTRIBUTES.find((name) => path === name || path.startsWith(`${name}.`)) ?? null;
}
