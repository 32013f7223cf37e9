/**
 * The behaviour counters of `UserSession`, kept without a row write of their own per batch: each
 * batch row carries the per-minute counts of its events (column `counts`), and only when a batch
 * row is pruned do its counts move into one row per minute bucket (table `minutes`, docs/storage.md)
 * or, past the longest window, into the lifetime totals kept aside (`meta.totals_before`). Counts
 * are derived on read: the object sums batch counts and minute rows into buckets in memory once
 * per load and keeps them in step with every write; a profile read sums buckets in memory.
 * @module
 */
import type { RecordedEvent } from "../shared/events/recorded.ts";
import { countersFor, measureOf, minuteOf } from "../shared/profile/behavior.ts";
import type { CounterRow, TotalRow } from "../shared/profile/export.ts";
import * as z from "../shared/zod.ts";

/** Counts by `metric|key` (metric names and normalized keys never hold `|`). */
export type Counts = Map<string, number>;
/** Counts by minute bucket. */
export type Buckets = Map<number, Counts>;

const StoredCounts = z.record(z.string(), z.int());
const StoredBuckets = z.record(z.string(), StoredCounts);

/** The counts key of a metric and key, e.g. `views.category|electronics`. */
export function countKey(metric: string, key: string): string {
  return `${metric}|${key}`;
}

function splitKey(id: string): { metric: string; key: string } {
  const at = id.indexOf("|");
  return { metric: id.slice(0, at), key: id.slice(at + 1) };
}

/** Stored JSON counts, parsed; what no longer parses counts as nothing (and is logged). */
export function parseCounts(text: string): Counts {
  try {
    const parsed = StoredCounts.safeParse(JSON.parse(text));
    if (parsed.success) return new Map(Object.entries(parsed.data));
  } catch {
    // Logged below, like a value of the wrong shape.
  }
  console.error(JSON.stringify({ message: "stored counts unreadable; counted as none" }));
  return new Map();
}

export function countsJson(counts: Counts): string {
  return JSON.stringify(Object.fromEntries(counts));
}

/** Buckets as stored with a batch: `{"<minute>": {"<metric|key>": n}}`. */
export function bucketsJson(buckets: Buckets): string {
  return JSON.stringify(Object.fromEntries([...buckets].map(([minute, counts]) => [minute, Object.fromEntries(counts)])));
}

/** A batch's stored buckets, parsed; what no longer parses counts as nothing (and is logged). */
export function parseBuckets(text: string): Buckets {
  try {
    const parsed = StoredBuckets.safeParse(JSON.parse(text));
    if (parsed.success) {
      return new Map(Object.entries(parsed.data).map(([minute, counts]) => [Number(minute), new Map(Object.entries(counts))]));
    }
  } catch {
    // Logged below, like a value of the wrong shape.
  }
  console.error(JSON.stringify({ message: "stored batch counts unreadable; counted as none" }));
  return new Map();
}

/** `added` folded into `buckets` (changed in place). */
export function addBuckets(buckets: Buckets, added: Buckets): void {
  for (const [minute, counts] of added) buckets.set(minute, addTo(buckets.get(minute), counts));
}

/** The per-minute increments a batch of events adds: minute → counts. */
export function bucketIncrements(events: readonly RecordedEvent[]): Buckets {
  const buckets: Buckets = new Map();
  for (const event of events) {
    const measure = measureOf(event.type, event.event ?? undefined);
    if (measure === null) continue;
    const minute = minuteOf(event.receivedAt);
    let counts = buckets.get(minute);
    if (counts === undefined) {
      counts = new Map();
      buckets.set(minute, counts);
    }
    for (const { metric, key } of countersFor(measure, event.category, event.productId)) {
      const id = countKey(metric, key);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return buckets;
}

/** `base` plus `added`, as a new map (neither is changed). */
export function addTo(base: Counts | undefined, added: Counts): Counts {
  const sum = new Map(base);
  for (const [id, count] of added) sum.set(id, (sum.get(id) ?? 0) + count);
  return sum;
}

/** Every count stored: the minute rows (when the `minutes` table exists) plus the counts each batch row carries. */
export function readBuckets(sql: SqlStorage, withMinutes = true): Buckets {
  const buckets: Buckets = new Map();
  if (withMinutes) {
    for (const row of sql.exec<{ minute: number; counts: string }>("SELECT minute, counts FROM minutes")) {
      buckets.set(row.minute, addTo(buckets.get(row.minute), parseCounts(row.counts)));
    }
  }
  for (const row of sql.exec<{ counts: string }>("SELECT counts FROM batches")) addBuckets(buckets, parseBuckets(row.counts));
  return buckets;
}

/** Adds `added` to the stored minute rows: one row read and one written per minute. */
export function addToMinuteRows(sql: SqlStorage, added: Buckets): void {
  for (const [minute, counts] of added) {
    const stored = sql.exec<{ counts: string }>("SELECT counts FROM minutes WHERE minute = ?", minute).toArray()[0];
    const sum = addTo(stored === undefined ? undefined : parseCounts(stored.counts), counts);
    sql.exec(
      "INSERT INTO minutes (minute, counts) VALUES (?, ?) ON CONFLICT (minute) DO UPDATE SET counts = excluded.counts",
      minute,
      countsJson(sum),
    );
  }
}

/** One count: all time (`before` plus every bucket) when `firstMinute` is null, else the buckets from it on. */
export function sumCount(buckets: Buckets, before: Counts, id: string, firstMinute: number | null): number {
  let sum = firstMinute === null ? (before.get(id) ?? 0) : 0;
  for (const [minute, counts] of buckets) {
    if (firstMinute === null || minute >= firstMinute) sum += counts.get(id) ?? 0;
  }
  return sum;
}

/** The buckets as export rows. */
export function counterRows(buckets: Buckets): CounterRow[] {
  const rows: CounterRow[] = [];
  for (const [minute, counts] of buckets) {
    for (const [id, count] of counts) rows.push({ ...splitKey(id), minute, count });
  }
  return rows.sort((a, b) => a.minute - b.minute || a.metric.localeCompare(b.metric) || a.key.localeCompare(b.key));
}

/** Lifetime totals as export rows: `before` plus every bucket. */
export function totalRows(buckets: Buckets, before: Counts): TotalRow[] {
  let totals = new Map(before);
  for (const counts of buckets.values()) totals = addTo(totals, counts);
  return [...totals].filter(([, count]) => count !== 0).map(([id, count]) => ({ ...splitKey(id), count }));
}

/** Rows to buckets (a snapshot from another object). */
export function rowsToBuckets(rows: readonly CounterRow[]): Buckets {
  const buckets: Buckets = new Map();
  for (const { metric, key, minute, count } of rows) {
    const counts = buckets.get(minute) ?? new Map<string, number>();
    counts.set(countKey(metric, key), (counts.get(countKey(metric, key)) ?? 0) + count);
    buckets.set(minute, counts);
  }
  return buckets;
}

/**
 * Most distinct category and product counts one minute bucket holds: far above what a person views
 * in a minute, and low enough that a client inventing ids cannot grow an object's memory quickly.
 */
export const MAX_KEYS_PER_MINUTE = 200;
/** Most distinct category and product counts one object holds, in its buckets and in its lifetime totals each. */
export const MAX_KEYS = 2_000;

/** Totals (`views.total|`) are never capped: there are a handful of them, and rules rely on them. */
function isTotal(id: string): boolean {
  return id.endsWith(".total|");
}

/** The distinct counts keys of every bucket. */
export function keysOf(buckets: Buckets): Set<string> {
  const keys = new Set<string>();
  for (const counts of buckets.values()) for (const id of counts.keys()) keys.add(id);
  return keys;
}

/**
 * `added` without the category and product keys that would take a minute bucket past
 * `MAX_KEYS_PER_MINUTE` distinct keys or the object past `MAX_KEYS` (`keys`, the distinct keys of
 * `buckets`); those counts are dropped (docs/storage.md). Keys already counted keep counting.
 * `keys` gains the keys let through.
 */
export function withinKeyLimits(added: Buckets, buckets: Buckets, keys: Set<string>): Buckets {
  const kept: Buckets = new Map();
  for (const [minute, counts] of added) {
    const stored = buckets.get(minute);
    let distinct = stored?.size ?? 0;
    const keptCounts: Counts = new Map();
    for (const [id, count] of counts) {
      if (!isTotal(id) && stored?.has(id) !== true) {
        if (distinct >= MAX_KEYS_PER_MINUTE || (!keys.has(id) && keys.size >= MAX_KEYS)) continue;
        distinct++;
      }
      keys.add(id);
      keptCounts.set(id, count);
    }
    if (keptCounts.size > 0) kept.set(minute, keptCounts);
  }
  return kept;
}

/** Lifetime totals cut to `MAX_KEYS` category and product keys, keeping the largest counts (totals always). */
export function cappedCounts(counts: Counts): Counts {
  const keys = [...counts.keys()].filter((id) => !isTotal(id));
  if (keys.length <= MAX_KEYS) return counts;
  const dropped = keys.sort((a, b) => (counts.get(b) ?? 0) - (counts.get(a) ?? 0)).slice(MAX_KEYS);
  const capped = new Map(counts);
  for (const id of dropped) capped.delete(id);
  return capped;
}
