/**
 * `npm run load [-- --duration 75] [--rate 10] [--visitors 200] [--max-sessions 40] [--seed 1] [--drain 60] [--json FILE]`:
 * a load test of the whole system. Builds the Worker and runs it on Miniflare (one workerd
 * process, real Durable Objects, KV, Queues and consumers) with the demo shop as origin and the
 * Kafka REST double upstream, all on free 127.0.0.1 ports; publishes the demo rules (plus one
 * banner experiment, so the experiment report is exercised) through the admin API; then drives a
 * mix of new and returning visitors (pages, `/v1/decide`, tracker beacons with clicks and orders)
 * from a separate process for `--duration` seconds at `--rate` page views a second (sessions
 * arrive at a steady rate; beyond `--max-sessions` in flight, arrivals are shed and counted).
 *
 * The report: per request kind the rate, p50/p99 and statuses; every page that was not 200 or lost
 * a personalization the visitor's events call for; what reached the back end after a drain (events
 * at Kafka, exposures in the experiment report, dead letters, what is still missing); and the
 * per-unit counts measured in the run next to those `npm run cost` uses. Exit code 1 when a visitor
 * got a bad page, a dead letter was written or something was still missing after the drain.
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { DEMO_RELATED_KEY, demoRelatedModel } from "../../demo-shop/models.ts";
import { startDemoShop } from "../../demo-shop/server.ts";
import { measureExposureRows, pseudonymOf } from "../bench/storage-rows.ts";
import { type Counts, DEFAULT_COUNTS, DEFAULT_TRAFFIC } from "../cost/model.ts";
import { startKafkaRestDouble } from "../kafka-rest/server.ts";
import { startLocalTailor } from "../lib/local-tailor.ts";
import { sleep, waitFor } from "../lib/polling.ts";
import type { DriverPlan, DriverResult } from "./driver.ts";
import { LOAD_EXPERIMENT, loadRulesDocument, REQUEST_KINDS } from "./mix.ts";
import {
  backlog,
  type Delivery,
  formatUnitRows,
  type ObjectUsage,
  parseDriverLine,
  summarizeKind,
  type Totals,
  UsageLedger,
  unitRows,
} from "./report.ts";

function readFlags() {
  try {
    return parseArgs({
      options: {
        duration: { type: "string", default: "75" },
        rate: { type: "string", default: "10" },
        // Small enough that about half the sessions of a default run are by returning visitors.
        visitors: { type: "string", default: "200" },
        seed: { type: "string", default: "1" },
        drain: { type: "string", default: "60" },
        // Arrivals beyond it are shed (and counted): a machine that cannot keep up is not buried in requests.
        "max-sessions": { type: "string", default: "40" },
        json: { type: "string" },
      },
    }).values;
  } catch (error) {
    console.error(`load: ${(error as Error).message}`);
    process.exit(2);
  }
}
const values = readFlags();

function positive(name: string, value: string, max: number): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0 || number > max) {
    console.error(`load: --${name} must be a number above 0 and at most ${max}, not ${value}`);
    process.exit(2);
  }
  return number;
}

const durationSeconds = positive("duration", values.duration, 3_600);
const rate = positive("rate", values.rate, 10_000);
const visitorCount = Math.round(positive("visitors", values.visitors, 1_000_000));
const seed = Math.round(positive("seed", values.seed, 2 ** 31));
const drainSeconds = positive("drain", values.drain, 600);
const maxSessions = Math.round(positive("max-sessions", values["max-sessions"], 10_000));

/** The counts `npm run cost` uses: the measured file over the defaults derived from the code. */
function modelCounts(): { counts: Counts; from: string } {
  const file = new URL("../cost/measured-counts.json", import.meta.url);
  if (!existsSync(file)) return { counts: DEFAULT_COUNTS, from: "scripts/cost/model.ts defaults" };
  const measured = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  const counts = { ...DEFAULT_COUNTS };
  for (const key of Object.keys(DEFAULT_COUNTS) as (keyof Counts)[]) {
    const value = measured[key];
    if (typeof value === "number") counts[key] = value;
  }
  return { counts, from: `scripts/cost/measured-counts.json (${String(measured.command)}, ${String(measured.measuredAt)})` };
}

/**
 * Runs the driver in its own process, relaying its progress lines, and tells `onSession` as each
 * visitor's session starts and ends.
 */
function runDriver(plan: DriverPlan, onSession: (visitor: string) => void): Promise<DriverResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/load/driver.ts", JSON.stringify(plan)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let pending = "";
    let result: DriverResult | undefined;
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const message = parseDriverLine<DriverResult>(line);
        if (message === null) continue;
        if (message.type === "result") result = message.result;
        else onSession(message.visitor);
      }
    });
    child.stderr.on("data", (chunk: Buffer) => process.stdout.write(chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0 || result === undefined) reject(new Error(`the load driver exited with ${code}`));
      else resolve(result);
    });
  });
}

const ADMIN_TOKEN = "local-admin-token-for-tests-and-benchmarks";
const runStarted = Date.now();
console.log("load: building the Worker and starting it on Miniflare with the demo shop and the Kafka REST double");
const shop = await startDemoShop();
const kafka = await startKafkaRestDouble({ log: () => undefined });
const tailor = await startLocalTailor({ originUrl: shop.url, kafkaRestUrl: kafka.url, bindings: { ADMIN_TOKEN } });
const stopAll = () => Promise.allSettled([tailor.dispose(), shop.close(), kafka.close()]);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void stopAll().then(() => process.exit(130)));

async function admin<T>(method: string, path: string, body?: unknown): Promise<{ status: number; data: T }> {
  const response = await fetch(`${tailor.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", "x-tailor-actor": "npm run load" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, data: (await response.json()) as T };
}

/** Waits until Kafka has had no new record for three seconds (the queues have drained), at most `--drain` seconds. */
async function drained(): Promise<void> {
  const until = Date.now() + drainSeconds * 1_000;
  let last = -1;
  let quietSince = Date.now();
  while (Date.now() < until) {
    const now = kafka.records().length;
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= 3_000) return;
    await sleep(500);
  }
}

let exitCode = 0;
try {
  console.log(`load: Tailor ${tailor.url}, demo shop ${shop.url}, Kafka REST double ${kafka.url}`);
  // The model and the rules go through the admin API as an operator's and a marketer's publish do (both signed).
  const modelPublished = await admin<{ detail?: string }>(
    "PUT",
    `/admin/api/models/${encodeURIComponent(DEMO_RELATED_KEY)}?replace=1`,
    demoRelatedModel(),
  );
  if (modelPublished.status !== 201)
    throw new Error(`publishing the model answered ${modelPublished.status}: ${JSON.stringify(modelPublished.data)}`);
  const published = await admin<{ version?: number; detail?: string }>("POST", "/admin/api/rules", {
    document: loadRulesDocument(1),
    message: "npm run load: the demo rules with a banner experiment",
  });
  if (published.status !== 201 || published.data.version === undefined)
    throw new Error(`publishing the rules answered ${published.status}: ${JSON.stringify(published.data)}`);
  const version = published.data.version;
  const live = await waitFor(async () => {
    const response = await fetch(`${tailor.url}/v1/decide?path=/`, { headers: { "user-agent": "Mozilla/5.0 tailor-load" } });
    return ((await response.json()) as { rulesVersion?: number }).rulesVersion === version;
  }, 30_000);
  if (!live) throw new Error(`rules version ${version} was not picked up`);
  console.log(
    `load: published rules version ${version}; ${durationSeconds} s at ${rate} page views a second over ${visitorCount} visitors (seed ${seed})`,
  );

  const plan: DriverPlan = { url: tailor.url, durationSeconds, rate, visitors: visitorCount, seed, maxSessions };
  // Each visitor object's counts, read as its sessions start and end, while it is surely loaded.
  const namespace = await tailor.miniflare.getDurableObjectNamespace("USER_SESSION");
  const ledgers = new Map<string, { ledger: UsageLedger; reading: Promise<void> }>();
  const readUsage = (visitor: string) => {
    const entry = ledgers.get(visitor) ?? { ledger: new UsageLedger(), reading: Promise.resolve() };
    // One read at a time per visitor, in order, so the ledger sees its snapshots as they were taken.
    entry.reading = entry.reading.then(async () => {
      const stub = namespace.get(namespace.idFromName(pseudonymOf(visitor))) as unknown as { usage(): Promise<ObjectUsage> };
      try {
        entry.ledger.record(JSON.parse(JSON.stringify(await stub.usage())) as ObjectUsage);
      } catch (error) {
        console.error(`load: reading a visitor object's counts failed: ${(error as Error).message}`);
      }
    });
    ledgers.set(visitor, entry);
    return entry.reading;
  };
  let driven: DriverResult | undefined;
  const recordsBefore = kafka.records().length;
  const exposureRows = await measureExposureRows(
    tailor.miniflare,
    () => kafka.records(),
    async () => {
      if (driven !== undefined) console.log(`load: draining the queues (until Kafka is quiet for 3 s, at most ${drainSeconds} s)`);
      await drained();
    },
    async () => {
      driven = await runDriver(plan, (visitor) => void readUsage(visitor));
    },
  );
  if (driven === undefined) throw new Error("the load did not run");
  const result = driven;

  // What reached the back end.
  const records = kafka.records().slice(recordsBefore);
  const received = records.map((record) => record.value as { kind?: string; id?: string; decisionId?: string; experiment?: string | null });
  const eventIds = new Set(received.filter((value) => value.kind === "event" && value.id?.startsWith("load-")).map((value) => value.id));
  const exposures = received.filter((value) => value.kind === "exposure");
  const report = await admin<{ totals?: { trials: number }; srm?: { flagged: boolean } }>(
    "GET",
    `/admin/api/experiments/${LOAD_EXPERIMENT}`,
  );
  const letters = await admin<{ total?: number }>("GET", "/admin/api/dead-letters");
  const delivery: Delivery = {
    eventsAccepted: result.beacons.accepted,
    eventsDelivered: eventIds.size,
    decisionsSeenPersonalized: result.decisions.personalized,
    decisionsDelivered: new Set(exposures.map((value) => value.decisionId)).size,
    exposuresDelivered: exposures.length,
    experimentExposuresDelivered: exposures.filter((value) => value.experiment === LOAD_EXPERIMENT).length,
    experimentTrialsReported: report.data.totals?.trials ?? 0,
    deadLetters: letters.data.total ?? 0,
  };
  const missing = backlog(delivery);

  // Rows as the visitors' objects counted them, with a last read now. Only objects whose counted
  // events match what the load saw accepted are added up: a mismatch means counts were lost to an
  // eviction the snapshots did not see.
  const objects = { events: 0, rowsWritten: 0, profileReads: 0, profileRowsRead: 0, profileRowsWritten: 0, pages: 0, decisions: 0 };
  let covered = 0;
  const withEvents = result.visitors.filter((visitor) => visitor.accepted > 0);
  for (let start = 0; start < withEvents.length; start += 8)
    await Promise.all(withEvents.slice(start, start + 8).map((visitor) => readUsage(visitor.id)));
  for (const visitor of withEvents) {
    const usage = ledgers.get(visitor.id)?.ledger.total();
    if (usage === undefined || usage.eventsAccepted !== visitor.accepted) continue;
    covered++;
    objects.pages += visitor.pages;
    objects.decisions += visitor.decisions;
    objects.events += usage.eventsAccepted;
    objects.rowsWritten += usage.rowsWritten - usage.profileReads.rowsWritten;
    objects.profileReads += usage.profileReads.calls;
    objects.profileRowsRead += usage.profileReads.rowsRead;
    objects.profileRowsWritten += usage.profileReads.rowsWritten;
  }
  const kinds = Object.fromEntries(REQUEST_KINDS.map((kind) => [kind, summarizeKind(kind, result.logs[kind], result.seconds)]));
  const pages = ["home", "category", "product", "decide"].reduce((sum, kind) => sum + (kinds[kind]?.requests ?? 0), 0);
  const totals: Totals = {
    pages,
    decisions: result.decisions.targeted,
    beacons: result.beacons.sent,
    eventsAccepted: result.beacons.accepted,
    objects,
    exposures: exposureRows.exposures,
    exposureRowsWritten: exposureRows.rowsWrittenWithExpiry,
    kafkaRequests: kafka.stats().ok ?? 0,
    kafkaRecords: kafka.records().length,
  };
  const model = modelCounts();
  const units = unitRows(totals, model.counts, DEFAULT_TRAFFIC);

  const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");
  const lines = [
    "",
    `Load: ${fixed(result.seconds, 0)} s, ${result.sessions.started} sessions (${result.sessions.returning} by returning visitors, ${result.sessions.shed} arrivals shed), ${visitorCount} visitors in the pool`,
    `  ${"kind".padEnd(9)} ${"requests".padStart(8)} ${"per s".padStart(7)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)}   statuses`,
    ...REQUEST_KINDS.map((kind) => {
      const summary = kinds[kind];
      if (summary === undefined) return "";
      return `  ${kind.padEnd(9)} ${String(summary.requests).padStart(8)} ${fixed(summary.perSecond).padStart(7)} ${fixed(summary.p50Ms, 2).padStart(8)} ${fixed(summary.p99Ms, 2).padStart(8)}   ${JSON.stringify(summary.statuses)}`;
    }),
    `  beacons carried ${result.beacons.events} events (${result.beacons.clicks} clicks on personalized slots, ${result.beacons.orders} orders); Tailor accepted ${result.beacons.accepted}, ${result.beacons.duplicates} duplicates`,
    "",
    "Visitors",
    `  pages not 200: ${result.problems.notOk}`,
    `  pages that lost a personalization their visitor's events call for: ${result.problems.lostPersonalization} of ${result.decisions.checked} checked (${result.problems.lostToFallback} with a fallback named in Server-Timing, ${result.problems.lostPersonalization - result.problems.lostToFallback} without)`,
    `  targeted pages (homepage and decide): ${result.decisions.targeted}, personalized: ${result.decisions.personalized}`,
    ...result.problems.examples.map(
      (problem) =>
        `    ${problem.kind} ${problem.path}: ${problem.status}${problem.missing.length > 0 ? `, missing ${problem.missing.join(", ")}` : ""}${problem.serverTiming === null ? "" : ` (server-timing: ${problem.serverTiming})`}`,
    ),
    "",
    "Back end (after the drain)",
    `  events at Kafka: ${delivery.eventsDelivered} of ${delivery.eventsAccepted} accepted (missing ${missing.events})`,
    `  exposures at Kafka: ${delivery.exposuresDelivered} in ${delivery.decisionsDelivered} decisions (${result.decisions.personalized} decisions seen personalized; not delivered ${missing.decisions})`,
    `  experiment ${LOAD_EXPERIMENT}: ${delivery.experimentExposuresDelivered} exposures delivered, ${delivery.experimentTrialsReported} counted in its report (missing ${missing.experimentExposures}); sample ratio flagged: ${report.data.srm?.flagged ?? "n/a"}`,
    `  rows written for the exposures: exposure memory ${exposureRows.memoryRowsWritten}, experiment counts ${exposureRows.statsRowsWritten} (then the expiry deletes: ${exposureRows.rowsWrittenWithExpiry} in all)`,
    `  dead letters: ${delivery.deadLetters}`,
    `  Kafka REST produce requests: ${JSON.stringify(kafka.stats())}`,
    "",
    `Per unit, measured in this run next to the cost model's counts (${model.from}; traffic: npm run cost defaults)`,
    `  visitor objects with counts for the whole run: ${covered} of ${withEvents.length}`,
    ...formatUnitRows(units),
    "",
    `load: done in ${fixed((Date.now() - runStarted) / 1_000, 0)} s`,
  ];
  console.log(lines.join("\n"));
  if (values.json !== undefined) {
    await writeFile(
      values.json,
      `${JSON.stringify(
        {
          generatedAt: new Date().toISOString(),
          plan: { durationSeconds, rate, visitors: visitorCount, seed, drainSeconds, maxSessions },
          seconds: result.seconds,
          sessions: result.sessions,
          kinds,
          beacons: result.beacons,
          decisions: result.decisions,
          problems: result.problems,
          delivery,
          backlog: missing,
          kafka: kafka.stats(),
          objects: { covered, ...objects },
          exposureRows,
          units,
          modelCountsFrom: model.from,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`load: report written to ${values.json}`);
  }
  if (result.problems.count > 0 || delivery.deadLetters > 0 || missing.events + missing.decisions + missing.experimentExposures > 0)
    exitCode = 1;
} catch (error) {
  console.error(`load: ${(error as Error).message}`);
  exitCode = 2;
} finally {
  await stopAll();
}
process.exit(exitCode);
