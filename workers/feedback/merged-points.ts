/**
 * Analytics Engine accepts at most 250 data points per Worker invocation
 * (https://developers.cloudflare.com/analytics/analytics-engine/limits/, read 2026-12-02 as stored;
 * the page was last updated 2026-04-23), and a consumer batch of 100 messages can stand for
 * thousands of exposures. The consumer therefore writes through `MergedPoints`: points with the same
 * index and blobs become one point whose doubles are summed (every kind the consumer writes has
 * additive doubles: counts, revenue, messages), and the dashboard's and alerts' queries weigh rows by
 * `double1`. When a batch has more distinct points than fit, the detail past the rule, slot,
 * experiment and variant (blob6 onwards: holdout flag, path, event name) is merged into
 * `(merged)`; past that, points are dropped and counted in one `delivery` point with outcome
 * `analytics-dropped`. A batch never writes more than the limit.
 * @module
 */

/** The platform's limit on `writeDataPoint` calls per invocation. */
export const ANALYTICS_POINTS_PER_INVOCATION = 250;

/** Written in place of the blobs a merged point no longer tells apart. */
export const MERGED_BLOB = "(merged)";

/** Blobs kept when a point is merged: kind, rule, slot, experiment, variant (lined up across kinds). */
const KEPT_BLOBS = 5;

interface Point {
  indexes: string[];
  blobs: string[];
  doubles: number[];
}

function text(values: readonly (ArrayBuffer | string | null)[] | undefined): string[] {
  return (values ?? []).map((value) => (typeof value === "string" ? value : ""));
}

/** Collects one invocation's data points, merged, and writes them at the end with `flush`. */
export class MergedPoints {
  readonly #points = new Map<string, Point>();
  #dropped = 0;
  /** Distinct points kept as written; the rest of the budget is for merged ones and the drop count. */
  readonly #detailed: number;
  readonly #total: number;

  constructor(limit = ANALYTICS_POINTS_PER_INVOCATION) {
    // One point is kept back for the count of dropped points.
    this.#total = limit - 1;
    this.#detailed = Math.floor(this.#total * 0.8);
  }

  writeDataPoint(input?: AnalyticsEngineDataPoint): void {
    const point: Point = { indexes: text(input?.indexes), blobs: text(input?.blobs), doubles: [...(input?.doubles ?? [])] };
    if (this.#merge(point, this.#detailed)) return;
    const coarse = {
      ...point,
      blobs: point.blobs.map((blob, index) => (index < KEPT_BLOBS ? blob : MERGED_BLOB)),
    };
    if (this.#merge(coarse, this.#total)) return;
    this.#dropped += point.doubles[0] ?? 1;
  }

  /** Adds the point to an equal one, or keeps it if fewer than `room` points are kept; false if neither. */
  #merge(point: Point, room: number): boolean {
    const key = JSON.stringify([point.indexes, point.blobs]);
    const existing = this.#points.get(key);
    if (existing !== undefined) {
      point.doubles.forEach((value, index) => {
        existing.doubles[index] = (existing.doubles[index] ?? 0) + value;
      });
      return true;
    }
    if (this.#points.size >= room) return false;
    this.#points.set(key, point);
    return true;
  }

  /** Writes what was collected (at most the limit) and forgets it; returns how many points were written. */
  flush(dataset: Pick<AnalyticsEngineDataset, "writeDataPoint">, queue = ""): number {
    let written = 0;
    for (const point of this.#points.values()) {
      dataset.writeDataPoint(point);
      written++;
    }
    if (this.#dropped > 0) {
      dataset.writeDataPoint({ indexes: ["delivery"], blobs: ["delivery", "analytics-dropped", queue], doubles: [this.#dropped] });
      written++;
    }
    this.#points.clear();
    this.#dropped = 0;
    return written;
  }
}
