/**
 * The behaviour counters of `UserSession`: per-minute rows for the sliding windows and lifetime
 * totals (tables `counters` and `totals`, docs/storage.md). Recording adds to them, a profile read
 * sums them, and linking a visitor to a user adds one object's rows to another's.
 * @module
 */
import type { RecordedEvent } from "../shared/events/recorded.ts";
import { countersFor, measureOf, minuteOf } from "../shared/profile/behavior.ts";
import type { CounterRow, TotalRow } from "../shared/profile/export.ts";

/** The per-minute counter rows a batch of events adds to, one per distinct (metric, key, minute). */
export function counterIncrements(events: readonly RecordedEvent[]): CounterRow[] {
  const increments = new Map<string, CounterRow>();
  for (const event of events) {
    const measure = measureOf(event.type, event.event ?? undefined);
    if (measure === null) continue;
    const minute = minuteOf(event.receivedAt);
    for (const { metric, key } of countersFor(measure, event.category, event.productId)) {
      const id = `${metric}\u0000${key}\u0000${minute}`;
      const row = increments.get(id);
      if (row === undefined) increments.set(id, { metric, key, minute, count: 1 });
      else row.count++;
    }
  }
  return [...increments.values()];
}

/** Adds `counters` to the per-minute rows and `totals` to the lifetime totals, one upsert per row. */
export function addCounts(sql: SqlStorage, counters: readonly CounterRow[], totals: readonly TotalRow[]): void {
  for (const { metric, key, minute, count } of counters) {
    sql.exec(
      `INSERT INTO counters (metric, key, minute, count) VALUES (?, ?, ?, ?)
       ON CONFLICT (metric, key, minute) DO UPDATE SET count = count + excluded.count`,
      metric,
      key,
      minute,
      count,
    );
  }
  for (const { metric, key, count } of totals) {
    sql.exec(
      `INSERT INTO totals (metric, key, count) VALUES (?, ?, ?)
       ON CONFLICT (metric, key) DO UPDATE SET count = count + excluded.count`,
      metric,
      key,
      count,
    );
  }
}

/** One count: the lifetime total when `firstMinute` is null, else the sum of the minutes from it on. */
export function readCount(sql: SqlStorage, metric: string, key: string, firstMinute: number | null): number {
  if (firstMinute === null) {
    return sql.exec<{ count: number }>("SELECT count FROM totals WHERE metric = ? AND key = ?", metric, key).toArray()[0]?.count ?? 0;
  }
  return sql
    .exec<{ count: number }>(
      "SELECT COALESCE(SUM(count), 0) AS count FROM counters WHERE metric = ? AND key = ? AND minute >= ?",
      metric,
      key,
      firstMinute,
    )
    .one().count;
}
