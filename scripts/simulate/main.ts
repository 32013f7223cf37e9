/**
 * `npm run simulate [-- --quick] [--out simulation] [--seeds 5]`: simulated visitors with known
 * preferences drive the built Worker on Miniflare (real Durable Objects, KV, Queues and consumer;
 * the demo shop as origin; the Kafka REST double upstream) through its public endpoints, and the
 * results Tailor reports are checked against the truth. Writes `simulation.json` and two SVG charts
 * to the output folder. See the README's "Simulation" section.
 *
 * Time: the Worker runs on the real clock; it cannot be handed another one. The simulator maps
 * simulated time onto it: events carry the simulated time as their `timestamp` (Tailor keeps it
 * for reference only and uses its own receive time), and in the bandit scenario one simulated
 * hour is `arrivals / hours / viewsPerSecond` real seconds. The Worker's own delays (queue batches
 * of up to 1 s, the counts cache `EXPERIMENT_STATS_TTL_MS`, set to 250 ms for the run) stay real
 * time; the output states them in views and real seconds.
 * @module
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startDemoShop } from "../../demo-shop/server.ts";
import { startKafkaRestDouble } from "../kafka-rest/server.ts";
import { LOCAL_RULES_SIGNING_KEY, startLocalTailor } from "../lib/local-tailor.ts";
import { putLiveVersion } from "../lib/signed-version.ts";
import { Progress, simulatedVisitor, TailorClient, waitFor } from "./client.ts";
import { liftChart, regretChart } from "./figures.ts";
import {
  type BanditPlan,
  type BanditResult,
  driveSplits,
  experimentsDocument,
  LIFT_RULE,
  type LiftResult,
  liftDocument,
  PROBE_PATH,
  percentPoints,
  readSplits,
  runBandits,
  runLift,
  SRM_PLANNED,
  SRM_SERVED_SKEW,
} from "./scenarios.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string", default: "simulation" },
    quick: { type: "boolean", default: false },
    seeds: { type: "string" },
    /** Only re-draw the charts of a saved run (its simulation.json) into --out. */
    "charts-from": { type: "string" },
  },
});

if (values["charts-from"] !== undefined) {
  // The file is this script's own output; its scenarios have the shapes the chart functions take.
  const saved = JSON.parse(await readFile(values["charts-from"], "utf8")) as { scenarios: { lift: LiftResult; bandit: BanditResult } };
  await mkdir(values.out, { recursive: true });
  await writeFile(join(values.out, "regret.svg"), regretChart(saved.scenarios.bandit));
  await writeFile(join(values.out, "lift.svg"), liftChart(saved.scenarios.lift));
  console.log(`simulate: charts of ${values["charts-from"]} written to ${values.out}`);
  process.exit(0);
}

interface Plan {
  liftVisitors: number;
  bandit: BanditPlan;
  splitVisitors: number;
}

const seedCount = Number(values.seeds ?? (values.quick ? 2 : 5));
if (!Number.isInteger(seedCount) || seedCount < 1 || seedCount > 20) {
  console.error("simulate: --seeds must be a whole number from 1 to 20");
  process.exit(2);
}
const seeds = Array.from({ length: seedCount }, (_, index) => index + 1);

// Sized so the full run (five seeds) takes about seven minutes on two cores that other work keeps
// busy. One simulated hour is 1,500 bandit views per seed, paced at 25 views per second per seed
// (slower when the machine cannot keep up): the Worker's own feedback delay (a few seconds from a
// view to its click being counted) is a small part of an hour, as a real minute is of a real hour.
const plan: Plan = values.quick
  ? { liftVisitors: 200, bandit: { seeds, arrivals: 200, visitors: 70, hours: 2, viewsPerSecond: 25 }, splitVisitors: 300 }
  : { liftVisitors: 1_000, bandit: { seeds, arrivals: 3_000, visitors: 700, hours: 2, viewsPerSecond: 25 }, splitVisitors: 800 };

const ADMIN_TOKEN = "simulation-admin-token-0123456789";
const runStarted = Date.now();
const progress = new Progress();
console.log(`simulate: building the Worker and starting it on Miniflare${values.quick ? " (quick run)" : ""}`);
const shop = await startDemoShop();
const kafka = await startKafkaRestDouble({ log: () => undefined });
const tailor = await startLocalTailor({
  originUrl: shop.url,
  kafkaRestUrl: kafka.url,
  rules: liftDocument(1),
  bindings: {
    ADMIN_TOKEN,
    // The simulation compresses time: counts and rules are re-read far more often than in production.
    EXPERIMENT_STATS_TTL_MS: "250",
    RULES_REFRESH_MS: "250",
    // Deadlines far above scheduling delays: the machine is busy, and a fallback would hide the rule.
    PROFILE_DEADLINE_MS: "10000",
    RULES_DEADLINE_MS: "10000",
    MODELS_DEADLINE_MS: "10000",
  },
});
const client = new TailorClient(tailor.url, ADMIN_TOKEN, kafka);
// Interrupted: stop workerd and the servers rather than leave them running.
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => {
    void Promise.allSettled([tailor.dispose(), shop.close(), kafka.close()]).then(() => process.exit(130));
  });

async function publish(document: { version: number }): Promise<void> {
  // Signed as a publish signs it: pages serve nothing else.
  await putLiveVersion(await tailor.miniflare.getKVNamespace("RULES"), document, LOCAL_RULES_SIGNING_KEY);
}

/** Waits until the Worker decides with the given rules version (the isolate re-reads the pointer in the background). */
async function pickedUp(version: number, path: string): Promise<void> {
  let probe = 0;
  const seen = await waitFor(async () => {
    const response = await fetch(`${tailor.url}/v1/decide?path=${encodeURIComponent(path)}`, {
      headers: { cookie: simulatedVisitor("probe", probe++).cookie, "user-agent": "Mozilla/5.0 (tailor-simulator)" },
    });
    return ((await response.json()) as { rulesVersion?: number }).rulesVersion === version;
  }, 30_000);
  if (!seen) throw new Error(`rules version ${version} was not picked up`);
}

let lift: LiftResult;
let bandit: BanditResult;
let srm: Awaited<ReturnType<typeof readSplits>>;
try {
  console.log(`simulate: Tailor ${tailor.url}, demo shop ${shop.url}, Kafka REST double ${kafka.url}`);
  console.log(`simulate: (a) lift of rule "${LIFT_RULE}" against a 50% holdout, ${plan.liftVisitors} visitors`);
  lift = await runLift(client, plan.liftVisitors, progress);

  console.log(
    `simulate: (b) ${seeds.length} bandits side by side, ${plan.bandit.arrivals} views each over ${plan.bandit.hours} simulated hours; (c) ${plan.splitVisitors} visitors in each of two fixed splits alongside`,
  );
  await publish(experimentsDocument(2, seeds, SRM_SERVED_SKEW));
  await pickedUp(2, PROBE_PATH);
  let splitsDone = 0;
  const splits = driveSplits(client, plan.splitVisitors, (done) => {
    splitsDone = done;
  });
  bandit = await runBandits(client, plan.bandit, progress, () => `splits ${splitsDone}/${plan.splitVisitors * 2}`);
  const splitFailures = await splits;
  // The plan of the skewed experiment is 50/50: publish it as the live one before reading the check.
  await publish(experimentsDocument(3, seeds, SRM_PLANNED));
  await pickedUp(3, PROBE_PATH);
  srm = await readSplits(client, plan.splitVisitors - splitFailures);
  progress.done(
    `srm: fair ${JSON.stringify(srm.fair.trials)} p=${srm.fair.pValue.toPrecision(3)} flagged=${srm.fair.flagged}; skewed ${JSON.stringify(srm.skewed.trials)} p=${srm.skewed.pValue.toPrecision(3)} flagged=${srm.skewed.flagged}`,
  );
} finally {
  client.close();
  await tailor.dispose();
  await Promise.all([shop.close(), kafka.close()]);
}

const checks = {
  liftIntervalContainsTruth: lift.intervalContainsTruth,
  perEventRegretAtMost08xHourly: bandit.regretRatio <= 0.8,
  srmFlagsSkewedOnly: srm.skewed.flagged && !srm.fair.flagged,
};
const output = {
  generatedAt: new Date().toISOString(),
  quick: values.quick,
  realSeconds: (Date.now() - runStarted) / 1_000,
  regretRatio: bandit.regretRatio,
  checks,
  clock: {
    simulated:
      "Event timestamps carry the simulated time; in the bandit scenario each simulated hour is a fixed number of views, paced in real time.",
    real: "The Worker's own clock is real: behaviour windows, attribution, queue batching (up to 1 s) and the counts cache (EXPERIMENT_STATS_TTL_MS = 250 ms) run in real time.",
    realSecondsPerSimulatedHour: bandit.realSecondsPerSimulatedHour,
    banditFeedbackDelay: bandit.feedbackDelay,
  },
  scenarios: { lift, bandit, srm },
};
await mkdir(values.out, { recursive: true });
await writeFile(join(values.out, "simulation.json"), `${JSON.stringify(output, null, 2)}\n`);

await writeFile(join(values.out, "regret.svg"), regretChart(bandit));
await writeFile(join(values.out, "lift.svg"), liftChart(lift));

const mark = (ok: boolean) => (ok ? "ok  " : "FAIL");
console.log(`\nsimulate: wrote ${join(values.out, "simulation.json")}, regret.svg and lift.svg in ${output.realSeconds.toFixed(0)} s`);
console.log(
  `  ${mark(checks.liftIntervalContainsTruth)} lift ${percentPoints(lift.lift.estimate)}, 95% interval ${percentPoints(lift.lift.low)} to ${percentPoints(lift.lift.high)}, true ${percentPoints(lift.trueLift)}`,
);
console.log(
  `  ${mark(checks.perEventRegretAtMost08xHourly)} regret per event ÷ hourly: median ${bandit.regretRatio.toFixed(2)} over ${seeds.length} seeds (${bandit.seeds.map((seed) => seed.ratio.toFixed(2)).join(", ")}); counts trailed the views by ${bandit.feedbackDelay.medianViewsBehind} views (${bandit.feedbackDelay.medianSeconds.toFixed(1)} s real); a simulated hour took ${bandit.realSecondsPerSimulatedHour.toFixed(0)} s real`,
);
console.log(
  `  ${mark(checks.srmFlagsSkewedOnly)} sample ratio check: fair split p=${srm.fair.pValue.toPrecision(3)} (${srm.fair.flagged ? "flagged" : "not flagged"}), skewed split p=${srm.skewed.pValue.toPrecision(3)} (${srm.skewed.flagged ? "flagged" : "not flagged"})`,
);
if (!values.quick && !Object.values(checks).every(Boolean)) process.exitCode = 1;
