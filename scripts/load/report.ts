/**
 * The arithmetic of `npm run load`'s report, pure so it can be tested: latency percentiles and rates
 * per request kind, the progress line, what reached the back end against what was sent, and the
 * per-unit counts measured in the run next to the ones the cost model uses.
 * @module
 */
import { percentile } from "../bench/stats.ts";
import type { Counts } from "../cost/model.ts";
import type { RequestKind } from "./mix.ts";

/** What the driver saw of one request kind. */
export interface KindLog {
  /** Milliseconds from sending the request to reading the whole answer. */
  latencies: number[];
  /** Answers by status code; `error` for requests that got no answer. */
  statuses: Record<string, number>;
}

/** One request kind over the run, as the report prints it. */
export interface KindSummary {
  requests: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
  /** Answers that were not the expected status (200 for pages and decide, 202 for beacons), failures included. */
  unexpected: number;
}

/** The status a kind of request should get. */
export function expectedStatus(kind: RequestKind): number {
  return kind === "beacon" ? 202 : 200;
}

/** Count, rate, p50/p99 and statuses of one request kind over a run of `seconds`. */
export function summarizeKind(kind: RequestKind, log: KindLog, seconds: number): KindSummary {
  const sorted = [...log.latencies].sort((a, b) => a - b);
  const requests = Object.values(log.statuses).reduce((sum, count) => sum + count, 0);
  const expected = String(expectedStatus(kind));
  return {
    requests,
    perSecond: seconds > 0 ? requests / seconds : 0,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    statuses: { ...log.statuses },
    unexpected: requests - (log.statuses[expected] ?? 0),
  };
}

function format(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

/** The line printed every few seconds while the load runs. */
export function progressLine(
  elapsedSeconds: number,
  durationSeconds: number,
  logs: Readonly<Record<RequestKind, KindLog>>,
  sessions: { started: number; inFlight: number },
): string {
  const all = Object.values(logs);
  const latencies = all.flatMap((log) => log.latencies).sort((a, b) => a - b);
  const requests = all.reduce((sum, log) => sum + Object.values(log.statuses).reduce((total, count) => total + count, 0), 0);
  const errors = (Object.entries(logs) as [RequestKind, KindLog][]).reduce(
    (sum, [kind, log]) =>
      sum +
      Object.entries(log.statuses)
        .filter(([status]) => status !== String(expectedStatus(kind)))
        .reduce((total, [, count]) => total + count, 0),
    0,
  );
  return [
    `load: ${format(elapsedSeconds, 0)}/${durationSeconds} s`,
    `requests ${requests} (${format(elapsedSeconds > 0 ? requests / elapsedSeconds : 0, 0)}/s)`,
    `errors ${errors}`,
    `p50 ${format(percentile(latencies, 0.5), 1)} ms`,
    `p99 ${format(percentile(latencies, 0.99), 1)} ms`,
    `sessions ${sessions.started} (${sessions.inFlight} in flight)`,
  ].join("  ");
}

/** Whether a Server-Timing header names a fallback (`fallback;desc="profile"`: the decision went on without that stage). */
export function isFallback(serverTiming: string | null): boolean {
  return serverTiming !== null && /(^|,)\s*fallback\s*;/.test(serverTiming);
}

/** What the run sent that should reach the back end, and what did after the drain. */
export interface Delivery {
  eventsAccepted: number;
  eventsDelivered: number;
  /** Page decisions the load saw personalized (a slot carried a rule) and decisions delivered as exposures. */
  decisionsSeenPersonalized: number;
  decisionsDelivered: number;
  exposuresDelivered: number;
  /** Exposures of the load's experiment delivered upstream, and the trials its report counts. */
  experimentExposuresDelivered: number;
  experimentTrialsReported: number;
  deadLetters: number;
}

/** What is still missing after the drain: accepted but undelivered events, personalized decisions never delivered, uncounted exposures. */
export function backlog(delivery: Delivery): { events: number; decisions: number; experimentExposures: number } {
  return {
    events: Math.max(0, delivery.eventsAccepted - delivery.eventsDelivered),
    decisions: Math.max(0, delivery.decisionsSeenPersonalized - delivery.decisionsDelivered),
    experimentExposures: Math.max(0, delivery.experimentExposuresDelivered - delivery.experimentTrialsReported),
  };
}

/** The totals per-unit counts are worked out from. */
export interface Totals {
  /** Page views (homepage, category, product) and `/v1/decide` calls. */
  pages: number;
  /** Pages on paths the rules target (decisions made): the homepage and decide calls. */
  decisions: number;
  beacons: number;
  eventsAccepted: number;
  /**
   * Counted by the visitors' objects whose counts cover the whole run (`usage`; an object evicted
   * meanwhile starts again from zero), with those visitors' own page views and targeted pages.
   */
  objects: {
    events: number;
    rowsWritten: number;
    profileReads: number;
    profileRowsRead: number;
    profileRowsWritten: number;
    pages: number;
    decisions: number;
  };
  /** Exposures delivered and the rows the exposure memory and experiment objects wrote for them (expiry included). */
  exposures: number;
  exposureRowsWritten: number;
  /** Produce requests the Kafka REST double accepted, and the records in them. */
  kafkaRequests: number;
  kafkaRecords: number;
}

/** One per-unit count: measured in the run (null when not observable locally) and the cost model's (null when it has none). */
export interface UnitRow {
  name: string;
  measured: number | null;
  model: number | null;
  note: string;
}

function ratio(count: number, of: number): number | null {
  return of > 0 ? count / of : null;
}

/**
 * The per-unit counts of the run next to the cost model's (`counts`, what `npm run cost` uses, and
 * its reference traffic's events per page, events per beacon and share of returning visitors).
 */
export function unitRows(
  totals: Totals,
  counts: Counts,
  traffic: { events: number; pages: number; eventsPerBeacon: number; returning: number },
): UnitRow[] {
  return [
    {
      name: "events per page view",
      measured: ratio(totals.eventsAccepted, totals.pages),
      model: traffic.events / traffic.pages,
      note: "the load's mix against the cost model's shop",
    },
    {
      name: "events per beacon",
      measured: ratio(totals.eventsAccepted, totals.beacons),
      model: traffic.eventsPerBeacon,
      note: "one events-queue message and one visitor-object call per beacon",
    },
    {
      name: "visitor-object reads per page view",
      measured: ratio(totals.objects.profileReads, totals.objects.pages),
      model: traffic.returning,
      note: "the model reads for every returning visitor's page; only pages the rules target read",
    },
    {
      name: "visitor-object reads per targeted page",
      measured: ratio(totals.objects.profileReads, totals.objects.decisions),
      model: traffic.returning,
      note: "returning visitors' share of decisions",
    },
    {
      name: "rows written per event",
      measured: ratio(totals.objects.rowsWritten, totals.objects.events),
      model: counts.rowsWrittenPerBeacon / Math.max(1, traffic.eventsPerBeacon),
      note: "UserSession usage(), ingest only; the model's rows per beacon of an existing object over its events per beacon",
    },
    {
      name: "rows read per page decision",
      measured: ratio(totals.objects.profileRowsRead, totals.objects.profileReads),
      model: counts.rowsReadPerPageDecision,
      note: "UserSession usage(), profile reads",
    },
    {
      name: "rows written per page decision",
      measured: ratio(totals.objects.profileRowsWritten, totals.objects.profileReads),
      model: counts.rowsWrittenPerPageDecision,
      note: "UserSession usage(), profile reads",
    },
    {
      name: "rows written per exposure",
      measured: ratio(totals.exposureRowsWritten, totals.exposures),
      model: counts.rowsWrittenPerExposure,
      note: "ExposureMemory + ExperimentStats usage(), expiry deletes added by design",
    },
    {
      name: "exposures per targeted page",
      measured: ratio(totals.exposures, totals.decisions),
      model: null,
      note: "the cost model takes --slots (3) per page",
    },
    {
      name: "Kafka records per produce request",
      measured: ratio(totals.kafkaRecords, totals.kafkaRequests),
      model: null,
      note: `a consumer batch holds up to ${counts.messagesPerBatch} messages; at a low rate the 1 s batch timeout closes batches first`,
    },
    {
      name: "queue messages per beacon",
      measured: null,
      model: 1,
      note: "not observable on Miniflare (its queue broker keeps no counts); by code: one events message per beacon",
    },
    {
      name: "Analytics Engine points per page",
      measured: null,
      model: counts.analyticsPointsPerPage,
      note: "not observable on Miniflare (writeDataPoint is a no-op locally)",
    },
  ];
}

/** The unit table as text, measured next to the model. */
export function formatUnitRows(rows: readonly UnitRow[]): string[] {
  const cell = (value: number | null) => (value === null ? "—" : format(value, 3));
  return [
    `  ${"per unit".padEnd(40)} ${"measured".padStart(9)} ${"model".padStart(9)}   note`,
    ...rows.map((row) => `  ${row.name.padEnd(40)} ${cell(row.measured).padStart(9)} ${cell(row.model).padStart(9)}   ${row.note}`),
  ];
}

/** A visitor object's counts as its `usage()` answers them (`durable-objects/user-session.rpc.ts`, `StorageUsage`). */
export interface ObjectUsage {
  rowsRead: number;
  rowsWritten: number;
  eventsAccepted: number;
  profileReads: { calls: number; rowsRead: number; rowsWritten: number };
}

const NO_USAGE: ObjectUsage = { rowsRead: 0, rowsWritten: 0, eventsAccepted: 0, profileReads: { calls: 0, rowsRead: 0, rowsWritten: 0 } };

function addUsage(a: ObjectUsage, b: ObjectUsage): ObjectUsage {
  return {
    rowsRead: a.rowsRead + b.rowsRead,
    rowsWritten: a.rowsWritten + b.rowsWritten,
    eventsAccepted: a.eventsAccepted + b.eventsAccepted,
    profileReads: {
      calls: a.profileReads.calls + b.profileReads.calls,
      rowsRead: a.profileReads.rowsRead + b.profileReads.rowsRead,
      rowsWritten: a.profileReads.rowsWritten + b.profileReads.rowsWritten,
    },
  };
}

/**
 * One visitor object's counts over the run, from snapshots taken as its sessions start and end.
 * The counts live in the object's memory: an object evicted while its visitor is away starts again
 * from zero when it is next used, which shows as a snapshot lower than the one before; what the
 * earlier life counted is kept aside and added.
 */
export class UsageLedger {
  #banked: ObjectUsage = NO_USAGE;
  #last: ObjectUsage = NO_USAGE;

  record(snapshot: ObjectUsage): void {
    const reloaded =
      snapshot.eventsAccepted < this.#last.eventsAccepted ||
      snapshot.rowsWritten < this.#last.rowsWritten ||
      snapshot.rowsRead < this.#last.rowsRead ||
      snapshot.profileReads.calls < this.#last.profileReads.calls;
    if (reloaded) this.#banked = addUsage(this.#banked, this.#last);
    this.#last = snapshot;
  }

  total(): ObjectUsage {
    return addUsage(this.#banked, this.#last);
  }
}

/** What the driver prints on stdout, one JSON line each: sessions starting and ending (by visitor cookie id), then its result. */
export type DriverLine<Result> =
  | { type: "session-start"; visitor: string }
  | { type: "session-end"; visitor: string }
  | { type: "result"; result: Result };

/** Parses one line of the driver's stdout; null for anything else (a stray line is ignored). */
export function parseDriverLine<Result>(line: string): DriverLine<Result> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const { type, visitor, result } = parsed as { type?: unknown; visitor?: unknown; result?: unknown };
  if ((type === "session-start" || type === "session-end") && typeof visitor === "string") return { type, visitor };
  if (type === "result" && typeof result === "object" && result !== null) return { type, result: result as Result };
  return null;
}
