/**
 * The behavioural vocabulary of a visitor profile: which events count as which measure, the
 * sliding windows, and the attribute names marketers write in conditions, such as
 * `behavior.views_10m.category.electronics` ("electronics products viewed in the last 10 minutes").
 *
 * Counts are kept in per-minute buckets, so a window of N minutes counts every event of the last
 * N minutes and may also count events up to one minute older; it never misses a recent one.
 * @module
 */
import { FORBIDDEN_KEYS, normalizeKey } from "../keys.ts";
import { err, ok, type Result } from "../result.ts";

/** Window suffix → length in minutes; `all` is the visitor's lifetime. */
export const WINDOWS = { "5m": 5, "10m": 10, "1h": 60, "24h": 1_440, "7d": 10_080, all: null } as const;
export type WindowName = keyof typeof WINDOWS;

/** The longest finite window: per-minute buckets older than this can be dropped. */
export const LONGEST_WINDOW_MINUTES = 10_080;

/** Measure → the Segment event that feeds it (`page` calls feed `pages`). */
const MEASURES = {
  views: "Product Viewed",
  clicks: "Product Clicked",
  adds: "Product Added",
  orders: "Order Completed",
  pages: "page",
} as const;
export type Measure = keyof typeof MEASURES;

const DIMENSIONS = ["category", "product"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** A parsed `behavior.*` attribute: what to count, over which window, broken down how. */
export interface BehaviorQuery {
  path: string;
  measure: Measure;
  window: WindowName;
  /** `null` for the measure's total (`behavior.views_10m.total`). */
  dimension: Dimension | null;
  key: string | null;
}

/** The counter rows one event adds to: a total plus one per dimension it carries. */
export interface CounterKey {
  metric: string;
  key: string;
}

const PATH = /^behavior\.([a-z]+)_([a-z0-9]+)\.(?:(total)|(category|product)\.(.+))$/;

function isMeasure(value: string): value is Measure {
  return Object.hasOwn(MEASURES, value);
}

function isWindow(value: string): value is WindowName {
  return Object.hasOwn(WINDOWS, value);
}

/** Parses a `behavior.<measure>_<window>.(total | <dimension>.<key>)` attribute name. */
export function parseBehaviorPath(path: string): Result<BehaviorQuery, string> {
  const match = PATH.exec(path);
  if (match === null) return err(`"${path}" is not a behaviour attribute (behavior.<measure>_<window>.<dimension>.<key>)`);
  const [, measure = "", window = "", total, dimension, key] = match;
  if (!isMeasure(measure)) return err(`unknown measure "${measure}" in "${path}"`);
  if (!isWindow(window)) return err(`unknown window "${window}" in "${path}"`);
  if (total !== undefined) return ok({ path, measure, window, dimension: null, key: null });
  if (key === undefined || normalizeKey(key) !== key) return err(`"${key}" in "${path}" is not a normalized key`);
  return ok({ path, measure, window, dimension: dimension as Dimension, key });
}

/** The metric name a query reads, e.g. `views.category`. */
export function metricOf(measure: Measure, dimension: Dimension | null): string {
  return `${measure}.${dimension ?? "total"}`;
}

/** Which measure an event feeds, if any. */
export function measureOf(type: string, event: string | undefined): Measure | null {
  if (type === "page" || type === "screen") return "pages";
  if (type !== "track" || event === undefined) return null;
  for (const [measure, name] of Object.entries(MEASURES)) {
    if (name === event) return measure as Measure;
  }
  return null;
}

/** The counters an event increments. */
export function countersFor(measure: Measure, category: string | null, productId: string | null): CounterKey[] {
  const counters: CounterKey[] = [{ metric: metricOf(measure, null), key: "" }];
  if (category !== null) counters.push({ metric: metricOf(measure, "category"), key: category });
  if (productId !== null) counters.push({ metric: metricOf(measure, "product"), key: productId });
  return counters;
}

export const MINUTE_MS = 60_000;

export function minuteOf(time: number): number {
  return Math.floor(time / MINUTE_MS);
}

/** The first per-minute bucket inside a window ending at `now`; `null` means since the beginning. */
export function firstMinuteOf(window: WindowName, now: number): number | null {
  const minutes = WINDOWS[window];
  return minutes === null ? null : minuteOf(now - minutes * MINUTE_MS);
}

/** A nested attribute object, so dotted condition paths read flat profile values directly. */
export type AttributeTree = { [name: string]: unknown };

/**
 * Nests flat values (`{"behavior.views_10m.category.home": 1}`) into `tree`. A path with a part
 * that names a prototype is skipped, so even a hostile name cannot reach one.
 */
export function nestAttributes(tree: AttributeTree, values: Readonly<Record<string, unknown>>): AttributeTree {
  for (const [path, value] of Object.entries(values)) {
    const parts = path.split(".");
    let current = tree;
    for (let index = 0; index < parts.length; index++) {
      const part = parts[index] ?? "";
      if (FORBIDDEN_KEYS.has(part)) break;
      if (index === parts.length - 1) {
        current[part] = value;
        break;
      }
      const next = Object.hasOwn(current, part) ? current[part] : undefined;
      if (next !== null && typeof next === "object") {
        current = next as AttributeTree;
      } else {
        const created: AttributeTree = {};
        current[part] = created;
        current = created;
      }
    }
  }
  return tree;
}
