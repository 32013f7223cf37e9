/**
 * Ingest benchmark: event batches through the real Worker and Durable Objects, for many visitors,
 * next to a pass-through baseline measured in the same run, plus event-to-decision freshness.
 *
 *   npm run bench:ingest            (a few minutes; bounded by request counts and time limits)
 *   npm run bench:ingest -- --rows-only   (only the storage rows per event, per page decision and per exposure)
 *
 * The Worker is built and run on Miniflare directly (one workerd process); load comes from a
 * separate Node process. Rounds alternate baseline and ingest so drift affects both alike; the
 * report gives medians over rounds and the ratios, which are what to compare across machines.
 */

import rules from "../../demo-shop/rules.json" with { type: "json" };
import { startDemoShop } from "../../demo-shop/server.ts";
import { DEFAULT_TRAFFIC } from "../cost/model.ts";
import { startKafkaRestDouble } from "../kafka-rest/server.ts";
import { startLocalTailor } from "../lib/local-tailor.ts";
import type { LoadResult } from "./load-generator.ts";
import { runLoadInChild } from "./run-load.ts";
import { formatNumber, median, percentile } from "./stats.ts";
import { beaconRows, measureExposureRows, measureRows, writeMeasuredCounts } from "./storage-rows.ts";

const ROUNDS = 3;
const REQUESTS = 3_000;
const CONCURRENCY = 16;
const VISITORS = 1_000;
const EVENTS_PER_BATCH = 5;
const FRESHNESS_PROBES = 300;

function summary(label: string, results: LoadResult[]): { rps: number; p50: number; p99: number } {
  const rps = median(results.map((result) => result.requestsPerSecond));
  const p50 = median(results.map((result) => result.p50Ms));
  const p99 = median(results.map((result) => result.p99Ms));
  const statuses = results.map((result) => JSON.stringify(result.statuses)).join(" ");
  console.log(
    `  ${label.padEnd(34)} ${formatNumber(rps, 0).padStart(7)} req/s   p50 ${formatNumber(p50, 2)} ms   p99 ${formatNumber(p99, 2)} ms   ${statuses}`,
  );
  return { rps, p50, p99 };
}

function freshnessVisitor(probe: number): string {
  return `fresh${String(probe).padStart(6, "0")}${"x".repeat(11)}`.slice(0, 22);
}

async function freshness(url: string): Promise<{ fresh: number[]; decisionOnly: number[]; misses: number }> {
  const fresh: number[] = [];
  const decisionOnly: number[] = [];
  let misses = 0;
  for (let probe = 0; probe < FRESHNESS_PROBES; probe++) {
    const id = freshnessVisitor(probe);
    const cookie = `tailor_vid=${id}`;
    const headers = { "content-type": "application/json", cookie, "cf-connecting-ip": `10.200.${probe >> 8}.${probe & 255}` };
    const body = JSON.stringify({
      type: "track",
      event: "Product Viewed",
      messageId: `fresh-${probe}-${Date.now()}`,
      properties: { product_id: "el-01", category: "electronics" },
    });
    const posted = await fetch(`${url}/v1/events`, { method: "POST", headers, body });
    await posted.arrayBuffer();
    const acceptedAt = performance.now();
    if (posted.status !== 202) throw new Error(`ingest answered ${posted.status}`);
    let visible = false;
    for (let attempt = 0; attempt < 50 && !visible; attempt++) {
      const page = await (await fetch(`${url}/`, { headers: { cookie } })).text();
      visible = page.includes('data-p13n-rule="electronics-hero"');
      if (!visible) misses++;
    }
    fresh.push(performance.now() - acceptedAt);
    const started = performance.now();
    await (await fetch(`${url}/`, { headers: { cookie } })).text();
    decisionOnly.push(performance.now() - started);
  }
  return { fresh: fresh.sort((a, b) => a - b), decisionOnly: decisionOnly.sort((a, b) => a - b), misses };
}

const shop = await startDemoShop();
const kafka = await startKafkaRestDouble();
const tailor = await startLocalTailor({ originUrl: shop.url, kafkaRestUrl: kafka.url, rules });
console.log(`bench: Tailor on ${tailor.url} (built Worker on Miniflare), origin ${shop.url}, Kafka REST double ${kafka.url}`);

/** Waits until the Kafka REST double has had no new record for a second (the queues have drained). */
async function drained(): Promise<void> {
  let last = -1;
  for (let waited = 0; waited < 120 && kafka.records().length !== last; waited++) {
    last = kafka.records().length;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

const rowsOnly = process.argv.includes("--rows-only");

/** Freshness, latency and throughput of ingest next to the pass-through baseline. */
async function throughputAndLatency(): Promise<void> {
  const base = { url: tailor.url, requests: REQUESTS, concurrency: CONCURRENCY, timeLimitMs: 90_000 };
  const passThrough = { ...base, scenario: "get" as const, path: "/static/shop.css" };
  const ingest = { ...base, scenario: "ingest" as const, visitors: VISITORS, eventsPerBatch: EVENTS_PER_BATCH };
  console.log("bench: warming up");
  await runLoadInChild({ ...passThrough, requests: 300 });
  await runLoadInChild({ ...ingest, requests: 300 });
  await drained();

  console.log(`\nFreshness: ${FRESHNESS_PROBES} visitors, each posts one electronics view, then asks for the homepage`);
  const { fresh, decisionOnly, misses } = await freshness(tailor.url);
  console.log(
    `  202 → personalized homepage received: p50 ${formatNumber(percentile(fresh, 0.5), 2)} ms, p99 ${formatNumber(percentile(fresh, 0.99), 2)} ms, max ${formatNumber(fresh.at(-1) ?? Number.NaN, 2)} ms`,
  );
  console.log(
    `  homepage request alone (baseline):     p50 ${formatNumber(percentile(decisionOnly, 0.5), 2)} ms, p99 ${formatNumber(percentile(decisionOnly, 0.99), 2)} ms`,
  );
  console.log(`  decisions that did not yet see the event: ${misses} of ${FRESHNESS_PROBES}`);

  console.log("\nLatency without contention (one request at a time, 500 each)");
  const quietPass = summary("pass-through GET /static/shop.css", [await runLoadInChild({ ...passThrough, requests: 500, concurrency: 1 })]);
  const quietIngest = summary("ingest POST /v1/events", [await runLoadInChild({ ...ingest, requests: 500, concurrency: 1 })]);
  console.log(
    `  ratio ingest/pass-through: p50 ${formatNumber(quietIngest.p50 / quietPass.p50, 2)}x, p99 ${formatNumber(quietIngest.p99 / quietPass.p99, 2)}x`,
  );
  await drained();

  const baseline: LoadResult[] = [];
  const ingested: LoadResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`bench: throughput round ${round}/${ROUNDS}`);
    baseline.push(await runLoadInChild(passThrough));
    ingested.push(await runLoadInChild(ingest));
  }
  console.log(
    `\nThroughput (${REQUESTS} requests per run, concurrency ${CONCURRENCY}, ${VISITORS} visitors, ${EVENTS_PER_BATCH} events per batch; median of ${ROUNDS} rounds)`,
  );
  const passStats = summary("pass-through GET /static/shop.css", baseline);
  const ingestStats = summary("ingest POST /v1/events", ingested);
  console.log(`  events/s accepted: ${formatNumber(ingestStats.rps * EVENTS_PER_BATCH, 0)}`);
  console.log(
    `  ratio ingest/pass-through: throughput ${formatNumber(ingestStats.rps / passStats.rps, 2)}x, p50 ${formatNumber(ingestStats.p50 / passStats.p50, 2)}x, p99 ${formatNumber(ingestStats.p99 / passStats.p99, 2)}x`,
  );
  console.log("  (the local Queues broker, the queue consumer and the Kafka REST double run on the same two cores)");
  await drained();
  console.log(
    `\nKafka REST double received ${kafka.records().length} records, ${new Set(kafka.records().map((record) => (record.value as { id?: string }).id)).size} distinct ids`,
  );
}

try {
  if (!rowsOnly) await throughputAndLatency();

  // Counted by the objects themselves (`UserSession.usage`): every statement's rowsRead/rowsWritten,
  // and the rows they hold at the end (each deleted once later, by retention or erasure).
  const rowsPlan = { visitors: 100, batches: 10, eventsPerBatch: EVENTS_PER_BATCH, pages: 10 };
  const singlePlan = { visitors: 100, batches: 10, eventsPerBatch: 1, pages: 0 };
  let measured: Awaited<ReturnType<typeof measureRows>> | undefined;
  // The homepages' exposures go through the real queue and consumer into the exposure memory and
  // the experiments' counts, whose objects count their rows too.
  const exposureRows = await measureExposureRows(
    tailor.miniflare,
    () => kafka.records(),
    drained,
    async () => {
      measured = await measureRows(tailor.url, tailor.miniflare, rowsPlan);
    },
  );
  if (measured === undefined) throw new Error("rows were not measured");
  const rows = measured;
  const single = (await measureRows(tailor.url, tailor.miniflare, singlePlan)).ingest;
  // The cost model's beacons (2 events), 30 a visitor: enough for a visitor's rows to fill (50 events) and a new one to start.
  const beaconPlan = { visitors: 50, batches: 30, eventsPerBatch: DEFAULT_TRAFFIC.eventsPerBeacon, pages: 0 };
  const modelBeacons = (await measureRows(tailor.url, tailor.miniflare, beaconPlan)).ingest;
  const per = (count: number, of: number) => formatNumber(of === 0 ? 0 : count / of, 3);
  const ingestLine = (label: string, totals: typeof single, visitors: number) => {
    const laterEvents = totals.events - totals.first.events;
    const laterRows = totals.rowsWritten - totals.first.rowsWritten + totals.rowsStored - totals.first.rowsStored;
    console.log(
      `  ${label}: ${totals.events} events accepted, rows written per event ${per(totals.rowsWritten, totals.events)} + ${per(totals.rowsStored, totals.events)} deleted later = ${per(totals.rowsWritten + totals.rowsStored, totals.events)}, rows read per event ${per(totals.rowsRead, totals.events)}`,
    );
    console.log(
      `    of which a visitor's first batch (creates the object) ${per(totals.first.rowsWritten + totals.first.rowsStored, visitors)} rows; later batches ${per(laterRows, laterEvents)} rows per event (deletes included)`,
    );
  };
  console.log(
    `\nDurable Object SQLite rows (${rowsPlan.visitors} new visitors, ${rowsPlan.batches} batches of ${rowsPlan.eventsPerBatch} events, then ${rowsPlan.pages} homepages each; then ${singlePlan.visitors} new visitors, ${singlePlan.batches} single-event batches each; counted by each visitor's object, schema creation included)`,
  );
  ingestLine(`ingest, beacons of ${rowsPlan.eventsPerBatch}`, rows.ingest, rowsPlan.visitors);
  ingestLine("ingest, single-event beacons", single, singlePlan.visitors);
  const perBeacon = beaconRows({ totals: modelBeacons, ...beaconPlan });
  console.log(
    `  cost model's beacons (${beaconPlan.visitors} new visitors, ${beaconPlan.batches} beacons of ${beaconPlan.eventsPerBatch} events each): a visitor's first beacon ${formatNumber(perBeacon.first, 3)} rows, each later beacon ${formatNumber(perBeacon.later, 3)} rows (deletes included); creating the object ${formatNumber(perBeacon.first - perBeacon.later, 3)} rows`,
  );
  console.log(
    `  page decisions: ${rows.pages.pageDecisions}, rows read per decision ${per(rows.pages.pageRowsRead, rows.pages.pageDecisions)}, rows written per decision ${per(rows.pages.pageRowsWritten, rows.pages.pageDecisions)}`,
  );
  console.log(
    `  exposures delivered: ${exposureRows.exposures} in ${exposureRows.decisions} decisions; rows written at delivery: exposure memory ${exposureRows.memoryRowsWritten}, experiment counts ${exposureRows.statsRowsWritten}`,
  );
  console.log(
    `  rows written per exposure with the expiry deletes to come (one per deleted row, by design): ${per(exposureRows.rowsWrittenWithExpiry, exposureRows.exposures)}; per decision ${per(exposureRows.rowsWrittenWithExpiry, exposureRows.decisions)}`,
  );
  writeMeasuredCounts(new URL("../cost/measured-counts.json", import.meta.url).pathname, rows.ingest, single, rows.pages, exposureRows, {
    totals: modelBeacons,
    ...beaconPlan,
  });
  console.log("  written to scripts/cost/measured-counts.json");
} finally {
  await tailor.dispose();
  await shop.close();
  await kafka.close();
}
