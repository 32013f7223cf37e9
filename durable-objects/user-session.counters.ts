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

/** Every count stored: the minute rows plus the counts each batch row carries. */
export function readBuckets(sql: SqlStorage): Buckets {
  const buckets: Buckets = new Map();
  for (const row of sql.exec<{ minute: number; counts: string }>("SELECT minute, counts FROM minutes")) {
    buckets.set(row.minute, addTo(buckets.get(row.minute), parseCounts(row.counts)));
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
