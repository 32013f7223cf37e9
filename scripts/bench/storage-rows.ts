/**
 * Storage rows the benchmark's visitors cost: each visitor's `UserSession` counts the SQLite rows
 * its statements read and wrote (`usage`, an RPC method no route reaches), and this adds them up
 * over the visitors the benchmark used, asking the objects through Miniflare directly.
 * @module
 */
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { Miniflare } from "miniflare";
import type { StorageUsage } from "../../durable-objects/user-session.rpc.ts";

/** The secret `startLocalTailor` keys pseudonyms with. */
const SECRET = "local-visitor-id-secret-for-tests-and-benchmarks";

export interface RowTotals {
  events: number;
  rowsWritten: number;
  rowsRead: number;
  /** Rows the objects hold at the end: each is written once more when retention or erasure deletes it. */
  rowsStored: number;
  /** The same for each visitor's first batch alone (it creates the object: schema and names). */
  first: { events: number; rowsWritten: number; rowsStored: number };
  pageDecisions: number;
  pageRowsRead: number;
  pageRowsWritten: number;
}

/** The object name of a cookie id, as `workers/common/visitor.ts` derives it (HMAC-SHA-256, base64url, 32 characters). */
export function pseudonymOf(id: string): string {
  return createHmac("sha256", SECRET).update(id).digest("base64url").slice(0, 32);
}

/** Runs `work` for every item, a few at a time (a hundred connections at once get reset locally). */
async function inGroups<T>(items: readonly T[], work: (item: T, index: number) => Promise<void>): Promise<void> {
  const GROUP = 8;
  for (let start = 0; start < items.length; start += GROUP) {
    await Promise.all(items.slice(start, start + GROUP).map((item, offset) => work(item, start + offset)));
  }
}

const CATEGORIES = ["electronics", "outdoor", "home", "fashion"];

/**
 * Sends `batches` batches of `eventsPerBatch` product views for each of `visitors` new visitors,
 * then asks for the homepage `pages` times each, and sums what their objects counted. Counts live
 * in the objects' memory, so they are read right after (an idle object may be evicted). Visitors
 * are named after the plan, so plans measured in one run never share an object.
 */
export async function measureRows(
  url: string,
  miniflare: Miniflare,
  plan: { visitors: number; batches: number; eventsPerBatch: number; pages: number },
): Promise<{ ingest: RowTotals; pages: RowTotals }> {
  const prefix = `r${plan.eventsPerBatch}x${plan.batches}`;
  const namespace = await miniflare.getDurableObjectNamespace("USER_SESSION");
  const usageOf = async (id: string): Promise<StorageUsage> => {
    const stub = namespace.get(namespace.idFromName(pseudonymOf(id))) as unknown as { usage(): Promise<StorageUsage> };
    const usage = await stub.usage();
    return JSON.parse(JSON.stringify(usage)) as StorageUsage;
  };
  const ingest = emptyTotals();
  const pages = emptyTotals();
  const run = process.pid;
  await inGroups(
    Array.from({ length: plan.visitors }, (_, index) => `${prefix}-${String(index).padStart(6, "0")}${"r".repeat(22)}`.slice(0, 22)),
    async (id, visitor) => {
      const headers = {
        "content-type": "application/json",
        cookie: `tailor_vid=${id}`,
        "cf-connecting-ip": `10.210.${visitor >> 8}.${visitor & 255}`,
      };
      for (let batch = 0; batch < plan.batches; batch++) {
        const events = Array.from({ length: plan.eventsPerBatch }, (_, index) => {
          const category = CATEGORIES[(batch + index) % CATEGORIES.length] ?? "home";
          const product = `${category.slice(0, 2)}-${String(((batch + index) % 16) + 1).padStart(2, "0")}`;
          return {
            type: "track",
            event: "Product Viewed",
            messageId: `rows-${run}-${prefix}-${visitor}-${batch}-${index}`,
            properties: { product_id: product, category, price: 49.99 },
          };
        });
        const response = await fetch(`${url}/v1/events`, { method: "POST", headers, body: JSON.stringify({ batch: events }) });
        await response.arrayBuffer();
        if (response.status !== 202) throw new Error(`ingest answered ${response.status}`);
        if (batch === 0) {
          const first = await usageOf(id);
          ingest.first.events += first.eventsAccepted;
          ingest.first.rowsWritten += first.rowsWritten;
          ingest.first.rowsStored += first.rowsStored;
        }
      }
      // Anything written after the 202 (there should be nothing: a batch is stored already sent) is counted too.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const recorded = await usageOf(id);
      for (let page = 0; page < plan.pages; page++)
        await (await fetch(`${url}/`, { headers: { cookie: `tailor_vid=${id}` } })).arrayBuffer();
      const served = await usageOf(id);
      ingest.events += recorded.eventsAccepted;
      ingest.rowsWritten += recorded.rowsWritten - recorded.profileReads.rowsWritten;
      ingest.rowsRead += recorded.rowsRead - recorded.profileReads.rowsRead;
      ingest.rowsStored += served.rowsStored;
      pages.pageDecisions += served.profileReads.calls - recorded.profileReads.calls;
      pages.pageRowsRead += served.profileReads.rowsRead - recorded.profileReads.rowsRead;
      pages.pageRowsWritten += served.profileReads.rowsWritten - recorded.profileReads.rowsWritten;
    },
  );
  return { ingest, pages };
}

/** Rows the feedback consumer's objects wrote for delivered exposures (`ExposureMemory`, `ExperimentStats`). */
export interface ExposureRowTotals {
  exposures: number;
  decisions: number;
  /** Rows written at delivery, counted by the objects (the exposure memory's shards, then the experiments'). */
  memoryRowsWritten: number;
  statsRowsWritten: number;
  /**
   * All of it plus the expiry deletes to come, counted by design as one row per deleted row (what
   * the objects' meters show when the prunes run: `test/workers/feedback/exposure-rows.test.ts`):
   * each bucket row of the exposure memory (one per consumer batch, shard and minute; deleted once,
   * by the prune or by a busy shard's compaction, whose part rows add about an eighth more at the
   * shop's scale: docs/scaling.md), and each remembered delivery id in the experiments'
   * objects, which is written as two rows (the id and its expiry index entry). Counting every
   * experiment row written as half an id makes that part an upper bound (the count upserts are
   * never deleted).
   */
  rowsWrittenWithExpiry: number;
}

/** What `usage` answers on those objects (`durable-objects/row-meter.ts`, not importable here: it uses the Workers types). */
type RowCounts = { rowsRead: number; rowsWritten: number };
type Metered = { usage(): Promise<RowCounts> };

/** The rows written so far by the exposure memory's shards and by the named experiments' objects. */
async function exposureObjectsWritten(miniflare: Miniflare, experiments: readonly string[]): Promise<{ memory: number; stats: number }> {
  const bindings = await miniflare.getBindings<{ EXPOSURE_MEMORY_SHARDS?: string; EXPERIMENT_STATS_SHARDS?: string }>();
  const shards = Number(bindings.EXPOSURE_MEMORY_SHARDS ?? "4");
  // Each experiment's counts are spread over its shards: `<experiment>`, then `<experiment>#1` …
  // (workers/common/experiment-shards.ts); an experiment's layout never exceeds the setting.
  const statsShards = Number(bindings.EXPERIMENT_STATS_SHARDS ?? "1");
  const statsNames = experiments.flatMap((name) =>
    Array.from({ length: statsShards }, (_, shard) => (shard === 0 ? name : `${name}#${shard}`)),
  );
  const memory = await miniflare.getDurableObjectNamespace("EXPOSURE_MEMORY");
  const stats = await miniflare.getDurableObjectNamespace("EXPERIMENT_STATS");
  const written = async (stubs: Metered[]) => {
    const usages = await Promise.all(stubs.map(async (stub) => (JSON.parse(JSON.stringify(await stub.usage())) as RowCounts).rowsWritten));
    return usages.reduce((sum, rows) => sum + rows, 0);
  };
  return {
    memory: await written(
      Array.from({ length: shards }, (_, index) => memory.get(memory.idFromName(`shard-${index}`))) as unknown as Metered[],
    ),
    stats: await written(statsNames.map((name) => stats.get(stats.idFromName(name))) as unknown as Metered[]),
  };
}

/**
 * Runs `work` (which asks for pages) and waits until the consumer has delivered what it queued
 * (`drained`); then counts the exposure records Kafka received meanwhile and the rows the
 * consumer's objects wrote for them. The objects' meters count from when they were loaded: those
 * known before `work` are asked first, so only the difference is counted.
 */
export async function measureExposureRows(
  miniflare: Miniflare,
  records: () => readonly { value: unknown }[],
  drained: () => Promise<void>,
  work: () => Promise<void>,
): Promise<ExposureRowTotals> {
  const exposureRecords = () =>
    records()
      .map(({ value }) => value as { kind?: string; decisionId?: string; experiment?: string | null })
      .filter((value) => value.kind === "exposure");
  const experimentsOf = (list: ReturnType<typeof exposureRecords>) => [
    ...new Set(list.flatMap(({ experiment }) => (typeof experiment === "string" ? [experiment] : []))),
  ];
  await drained();
  const seen = exposureRecords().length;
  const earlier = experimentsOf(exposureRecords());
  const before = await exposureObjectsWritten(miniflare, earlier);
  await work();
  await drained();
  const delivered = exposureRecords().slice(seen);
  // Experiments first met during `work` were loaded by it: their meters hold only its rows.
  const experiments = [...new Set([...earlier, ...experimentsOf(delivered)])];
  const after = await exposureObjectsWritten(miniflare, experiments);
  const decisions = new Set(delivered.map(({ decisionId }) => decisionId)).size;
  const memoryRowsWritten = after.memory - before.memory;
  const statsRowsWritten = after.stats - before.stats;
  return {
    exposures: delivered.length,
    decisions,
    memoryRowsWritten,
    statsRowsWritten,
    rowsWrittenWithExpiry: memoryRowsWritten * 2 + statsRowsWritten * 1.5,
  };
}

function emptyTotals(): RowTotals {
  return {
    events: 0,
    rowsWritten: 0,
    rowsRead: 0,
    rowsStored: 0,
    first: { events: 0, rowsWritten: 0, rowsStored: 0 },
    pageDecisions: 0,
    pageRowsRead: 0,
    pageRowsWritten: 0,
  };
}
/**
 * What `npm run cost` reads: rows per accepted beacon of a visitor whose object exists and rows to
 * create a new visitor's object (beyond its first beacon's share as a beacon), measured on
 * `beacons` (beacons of the cost model's size); rows per event (in beacons of several events, and
 * in single-event beacons), per page decision and per delivered exposure, as measured here. Every
 * figure includes the deletes to come (one per row held).
 */
export function writeMeasuredCounts(
  path: string,
  ingest: RowTotals,
  single: RowTotals,
  pages: RowTotals,
  exposures: ExposureRowTotals,
  beacons: { totals: RowTotals; visitors: number; batches: number; eventsPerBatch: number },
): void {
  const per = (rows: number, count: number) => (count === 0 ? 0 : Math.round((rows / count) * 1_000) / 1_000);
  const perBeacon = beaconRows(beacons);
  const measured = {
    measuredAt: new Date().toISOString(),
    command: "npm run bench:ingest",
    rowsWrittenPerBeacon: perBeacon.later,
    rowsToCreateVisitor: Math.round((perBeacon.first - perBeacon.later) * 1_000) / 1_000,
    eventsPerBeaconMeasured: beacons.eventsPerBatch,
    rowsWrittenPerEvent: per(ingest.rowsWritten + ingest.rowsStored, ingest.events),
    rowsWrittenPerEventSingle: per(single.rowsWritten + single.rowsStored, single.events),
    rowsWrittenPerEventSingleReturning: per(
      single.rowsWritten - single.first.rowsWritten + single.rowsStored - single.first.rowsStored,
      single.events - single.first.events,
    ),
    rowsReadPerPageDecision: per(pages.pageRowsRead, pages.pageDecisions),
    rowsWrittenPerPageDecision: per(pages.pageRowsWritten, pages.pageDecisions),
    rowsWrittenPerExposure: per(exposures.rowsWrittenWithExpiry, exposures.exposures),
  };
  writeFileSync(path, `${JSON.stringify(measured, null, 2)}\n`);
}

/** Rows (deletes included) of a visitor's first beacon, and per later beacon, averaged over the visitors. */
export function beaconRows({ totals, visitors, batches }: { totals: RowTotals; visitors: number; batches: number }): {
  first: number;
  later: number;
} {
  const round = (value: number) => Math.round(value * 1_000) / 1_000;
  const first = totals.first.rowsWritten + totals.first.rowsStored;
  const later = totals.rowsWritten + totals.rowsStored - first;
  const laterBeacons = visitors * Math.max(0, batches - 1);
  return { first: visitors === 0 ? 0 : round(first / visitors), later: laterBeacons === 0 ? 0 : round(later / laterBeacons) };
}
