/**
 * The monthly Cloudflare bill for a shop's traffic, per product, from per-request counts (what one
 * page view, one tracker beacon and one consumer batch cost in rows, queue operations, KV reads,
 * Analytics Engine points and Durable Object requests) and the published unit prices below. Pure:
 * `scripts/cost.ts` is the command line around it.
 * @module
 */

/** Seconds in the 30-day month the prices are quoted for. */
export const SECONDS_PER_MONTH = 30 * 24 * 3600;

/** One metered unit: what a month includes, the price per million beyond it, and where it was read. */
export interface UnitPrice {
  product: Product;
  unit: string;
  includedPerMonth: number;
  usdPerMillion: number;
}

export type Product = "Workers" | "Durable Objects" | "Queues" | "Workers KV" | "Analytics Engine";

/**
 * Published prices (Workers Paid plan), as stored in the search index on 2026-12-02 (no browsing
 * here; "read" means the stored copy of the page named). Re-check them before relying on a figure.
 */
export const PRICES_READ_ON = "2026-12-02 (stored copies of the pages below)";

export const PRICE_SOURCES: Record<Product, string> = {
  // Figures seen on the Workflows pricing page, which says they are identical to Workers Standard.
  Workers: "https://developers.cloudflare.com/workers/platform/pricing/",
  // Requests and duration from the stored page; SQLite rows as published for SQLite-backed objects
  // (the same unit prices as D1's; the stored excerpt showed D1's figures).
  "Durable Objects": "https://developers.cloudflare.com/durable-objects/platform/pricing/",
  // Billed per 64 KB written, read or deleted: one delivered message is 3 operations.
  Queues: "https://developers.cloudflare.com/queues/platform/pricing/",
  "Workers KV": "https://developers.cloudflare.com/kv/platform/pricing/",
  "Analytics Engine": "https://developers.cloudflare.com/analytics/analytics-engine/pricing/",
};

/** The Workers Paid plan's monthly subscription, which includes the allowances below. */
export const WORKERS_PAID_BASE_USD = 5;

export const PRICES = {
  workerRequests: { product: "Workers", unit: "requests", includedPerMonth: 10e6, usdPerMillion: 0.3 },
  workerCpuMs: { product: "Workers", unit: "CPU ms", includedPerMonth: 30e6, usdPerMillion: 0.02 },
  doRequests: { product: "Durable Objects", unit: "requests", includedPerMonth: 1e6, usdPerMillion: 0.15 },
  doGbSeconds: { product: "Durable Objects", unit: "GB-s", includedPerMonth: 400_000, usdPerMillion: 12.5 },
  doRowsRead: { product: "Durable Objects", unit: "rows read", includedPerMonth: 25e9, usdPerMillion: 0.001 },
  doRowsWritten: { product: "Durable Objects", unit: "rows written", includedPerMonth: 50e6, usdPerMillion: 1 },
  queueOperations: { product: "Queues", unit: "operations", includedPerMonth: 1e6, usdPerMillion: 0.4 },
  kvReads: { product: "Workers KV", unit: "reads", includedPerMonth: 10e6, usdPerMillion: 0.5 },
  analyticsPoints: { product: "Analytics Engine", unit: "data points", includedPerMonth: 10e6, usdPerMillion: 0.25 },
} as const satisfies Record<string, UnitPrice>;

/** The shop's traffic and shape. */
export interface Traffic {
  /** Page views a second. */
  pages: number;
  /** Tracker events a second. */
  events: number;
  /** Share of page views by visitors with state (only they read their Durable Object). */
  returning: number;
  /** Personalized slots per page (one exposure each). */
  slots: number;
  /** Events per tracker beacon (one request, one Durable Object call, one events message each). */
  eventsPerBeacon: number;
  /**
   * Visitors a second whose object is created (their first beacon): `newVisitorsOf` derives it from
   * page views when not given.
   */
  newVisitors: number;
}

/** Page views per visit, for the default count of new visitors (an assumption, printed with the bill). */
export const PAGES_PER_VISIT = 4;

/**
 * New visitors a second when the shop does not say: the page views of visitors without state
 * (`1 − returning`), one new visitor per `PAGES_PER_VISIT` of them. An upper bound in that every one
 * is assumed to send a beacon (a visitor who never does costs no object).
 */
export function newVisitorsOf(pages: number, returning: number, pagesPerVisit: number = PAGES_PER_VISIT): number {
  return (pages * (1 - returning)) / Math.max(1, pagesPerVisit);
}

/**
 * What one unit of work costs. Rows come from `scripts/cost/measured-counts.json` when present
 * (`npm run bench:ingest` writes it), else from reading the code; every other count is derived from
 * the code, where `COUNT_SOURCES` says.
 */
export interface Counts {
  /**
   * Rows written per accepted beacon by a visitor whose object exists, the later deletes included
   * (the visitor object appends a beacon to its newest row: about one row per beacon, whatever its
   * events; docs/decisions/0021).
   */
  rowsWrittenPerBeacon: number;
  /**
   * Rows written to create a new visitor's object, beyond what its first beacon costs as any beacon
   * does: schema, names and their later deletes.
   */
  rowsToCreateVisitor: number;
  rowsReadPerPageDecision: number;
  rowsWrittenPerPageDecision: number;
  /**
   * Rows written per exposure once delivered, the later expiry deletes included: the ExposureMemory
   * bucket row a consumer batch writes per shard and minute, shared by the batch's decisions, and its
   * deletion (and a busy shard's part rows); the experiments' delivery ids, count upserts and id
   * expiry, shared by a queue message's decisions.
   */
  rowsWrittenPerExposure: number;
  /** Decisions per feedback queue message (decisions within `EXPOSURE_BATCH_MS` in one isolate share one). */
  decisionsPerFeedbackMessage: number;
  /** Feedback messages (attributed clicks and conversions) per event. */
  feedbackMessagesPerEvent: number;
  /** Queue operations per delivered message (write, read, delete; messages under 64 KB). */
  queueOperationsPerMessage: number;
  /** Durable Object calls per consumer batch of the feedback queue (ExposureMemory shards, ExperimentStats). */
  doRequestsPerFeedbackBatch: number;
  /** Messages per consumer invocation (`max_batch_size`). */
  messagesPerBatch: number;
  /** Analytics Engine points per page view besides exposures: the decision, and fallbacks now and then. */
  analyticsPointsPerPage: number;
  /** Analytics Engine points per exposure: one per rule, slot, variant and holdout flag per consumer invocation. */
  analyticsPointsPerExposure: number;
  /** Analytics Engine points per consumer invocation (delivery outcomes). */
  analyticsPointsPerBatch: number;
  /** KV reads a second for the whole shop: each warm isolate re-reads the live rules pointer every `RULES_REFRESH_MS`. */
  kvReadsPerSecond: number;
  cpuMsPerPage: number;
  cpuMsPerBeacon: number;
  cpuMsPerBatch: number;
  /** Durable Object wall time per request while active, in GB-s (128 MB × seconds). */
  gbSecondsPerDoRequest: number;
}

/** Where each count comes from, printed with the figures. */
export const COUNT_SOURCES: Record<keyof Counts, string> = {
  rowsWrittenPerBeacon:
    "durable-objects/user-session*.ts: the beacon appended to the newest batches row (or a new row), with its share of prunes and retention deletes; measured by bench:ingest for an existing object",
  rowsToCreateVisitor:
    "durable-objects/user-session*.ts: a new visitor's first batch beyond a later one's rows (schema and names, deletes included); measured by bench:ingest",
  rowsReadPerPageDecision: "durable-objects/user-session*.ts: the profile's counters and totals read on a page (estimate)",
  rowsWrittenPerPageDecision: "durable-objects/user-session.ts: reading a profile writes nothing",
  rowsWrittenPerExposure:
    "exposure-memory.ts one bucket row per consumer batch, shard and minute + its deletion; experiment-stats.ts delivery id + variants upsert + id expiry per message (bench:ingest's small batches of the demo rules, which run no experiment, so its figure has no experiment rows; 0.013 for the memory at full batches of 100 messages, test/workers/feedback/exposure-rows.test.ts)",
  decisionsPerFeedbackMessage: "workers/decide/exposure-log.ts: decisions within EXPOSURE_BATCH_MS share a message (1: no sharing assumed)",
  feedbackMessagesPerEvent: "durable-objects/user-session.outbox.ts: attributed clicks and conversions (assumed 5% of events)",
  queueOperationsPerMessage: "Queues pricing: write + read + delete per 64 KB",
  doRequestsPerFeedbackBatch:
    "workers/feedback/consumer.ts: one ExposureMemory call per shard (4) + one ExperimentStats call per experiment (1)",
  messagesPerBatch: "wrangler.toml max_batch_size",
  analyticsPointsPerPage: "workers/decide/app.ts: recordDecision, plus recordFallback on about 1 page in 100",
  analyticsPointsPerExposure:
    "workers/common/analytics.ts + merged-points.ts: one point per rule, slot, variant and holdout flag per consumer batch (0.03 measured on 100 messages of 3 slots by test/workers/feedback/analytics-points.test.ts)",
  analyticsPointsPerBatch: "workers/feedback/consumer.ts: delivered / retried / dead-lettered outcomes",
  kvReadsPerSecond: "workers/common/rules-store.ts: pointer re-read every 5 s per warm isolate (assumed 300 isolates)",
  cpuMsPerPage: "BRIEF.md: 1.45 ms CPU per personalized page (December 2026)",
  cpuMsPerBeacon: "estimate: validation and one Durable Object call",
  cpuMsPerBatch: "estimate: parsing 100 messages and one produce request",
  gbSecondsPerDoRequest: "estimate: 128 MB for 10 ms per call",
};

export const DEFAULT_TRAFFIC: Traffic = {
  pages: 200,
  events: 1_000,
  returning: 0.6,
  slots: 3,
  eventsPerBeacon: 2,
  newVisitors: newVisitorsOf(200, 0.6),
};

export const DEFAULT_COUNTS: Counts = {
  rowsWrittenPerBeacon: 1.03,
  rowsToCreateVisitor: 3,
  rowsReadPerPageDecision: 20,
  rowsWrittenPerPageDecision: 0,
  rowsWrittenPerExposure: 0.18,
  decisionsPerFeedbackMessage: 1,
  feedbackMessagesPerEvent: 0.05,
  queueOperationsPerMessage: 3,
  doRequestsPerFeedbackBatch: 5,
  messagesPerBatch: 100,
  analyticsPointsPerPage: 1.01,
  analyticsPointsPerExposure: 0.03,
  analyticsPointsPerBatch: 2,
  kvReadsPerSecond: 60,
  cpuMsPerPage: 1.45,
  cpuMsPerBeacon: 0.5,
  cpuMsPerBatch: 20,
  gbSecondsPerDoRequest: 0.128 * 0.01,
};

/** Monthly usage of one metered unit and what it costs. */
export interface Line {
  product: Product;
  unit: string;
  perMonth: number;
  usd: number;
  usdPerMillion: number;
  includedPerMonth: number;
}

export interface Bill {
  lines: Line[];
  byProduct: Record<Product, number>;
  totalUsd: number;
}

function line(price: UnitPrice, perMonth: number): Line {
  const billable = Math.max(0, perMonth - price.includedPerMonth);
  return {
    product: price.product,
    unit: price.unit,
    perMonth,
    usd: (billable / 1e6) * price.usdPerMillion,
    usdPerMillion: price.usdPerMillion,
    includedPerMonth: price.includedPerMonth,
  };
}

/** The month's usage per metered unit for the traffic, and its cost. */
export function monthlyBill(traffic: Traffic, counts: Counts): Bill {
  const month = (perSecond: number) => perSecond * SECONDS_PER_MONTH;
  const beacons = traffic.events / Math.max(1, traffic.eventsPerBeacon);
  const exposures = traffic.pages * traffic.slots;
  const feedbackMessages =
    traffic.pages / Math.max(1, counts.decisionsPerFeedbackMessage) + traffic.events * counts.feedbackMessagesPerEvent;
  const eventMessages = beacons;
  const batches = (feedbackMessages + eventMessages) / Math.max(1, counts.messagesPerBatch);
  const feedbackBatches = feedbackMessages / Math.max(1, counts.messagesPerBatch);
  const doRequests = traffic.pages * traffic.returning + beacons + feedbackBatches * counts.doRequestsPerFeedbackBatch;

  const lines = [
    line(PRICES.workerRequests, month(traffic.pages + beacons + batches)),
    line(PRICES.workerCpuMs, month(traffic.pages * counts.cpuMsPerPage + beacons * counts.cpuMsPerBeacon + batches * counts.cpuMsPerBatch)),
    line(PRICES.doRequests, month(doRequests)),
    line(PRICES.doGbSeconds, month(doRequests * counts.gbSecondsPerDoRequest)),
    line(PRICES.doRowsRead, month(traffic.pages * traffic.returning * counts.rowsReadPerPageDecision)),
    line(
      PRICES.doRowsWritten,
      month(
        beacons * counts.rowsWrittenPerBeacon +
          traffic.newVisitors * counts.rowsToCreateVisitor +
          traffic.pages * counts.rowsWrittenPerPageDecision +
          exposures * counts.rowsWrittenPerExposure,
      ),
    ),
    line(PRICES.queueOperations, month((feedbackMessages + eventMessages) * counts.queueOperationsPerMessage)),
    line(PRICES.kvReads, month(counts.kvReadsPerSecond)),
    line(
      PRICES.analyticsPoints,
      month(
        traffic.pages * counts.analyticsPointsPerPage +
          exposures * counts.analyticsPointsPerExposure +
          batches * counts.analyticsPointsPerBatch,
      ),
    ),
  ];
  const byProduct: Record<Product, number> = {
    Workers: WORKERS_PAID_BASE_USD,
    "Durable Objects": 0,
    Queues: 0,
    "Workers KV": 0,
    "Analytics Engine": 0,
  };
  for (const { product, usd } of lines) byProduct[product] += usd;
  return { lines, byProduct, totalUsd: Object.values(byProduct).reduce((sum, usd) => sum + usd, 0) };
}

/**
 * Counts as a file gives them, in either shape: rows per beacon and per new visitor (what
 * `npm run bench:ingest` writes now), or rows per event alone (`rowsWrittenPerEvent`, files from
 * before, whose figure already averaged the objects' creation in). The second is converted
 * explicitly: rows per beacon = rows per event × the traffic's events per beacon, nothing more per
 * new visitor, so it prices as it did. Other keys keep `base`'s values.
 */
export function countsFromFile(
  file: Partial<Record<keyof Counts | "rowsWrittenPerEvent", number>>,
  base: Counts,
  eventsPerBeacon: number,
): { counts: Counts; converted: string | null } {
  const counts = { ...base };
  for (const key of Object.keys(base) as (keyof Counts)[]) {
    const value = file[key];
    if (typeof value === "number") counts[key] = value;
  }
  const perEvent = file.rowsWrittenPerEvent;
  if (typeof perEvent !== "number" || typeof file.rowsWrittenPerBeacon === "number") return { counts, converted: null };
  const perBeacon = perEvent * Math.max(1, eventsPerBeacon);
  counts.rowsWrittenPerBeacon = perBeacon;
  counts.rowsToCreateVisitor = 0;
  return {
    counts,
    converted: `rows per event ${perEvent} × ${Math.max(1, eventsPerBeacon)} events a beacon = ${perBeacon} rows per beacon; creating an object already averaged in (0 more per new visitor)`,
  };
}
