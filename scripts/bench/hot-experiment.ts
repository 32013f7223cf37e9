/**
 * Hot experiment benchmark: one experiment on every page at 5,000 page views a second of simulated
 * time, through the real feedback queue and consumer of the built Worker (Miniflare, one workerd
 * process), with its counts spread over `EXPERIMENT_STATS_SHARDS` objects.
 *
 *   npm run bench:hot-experiment                        (60 simulated seconds, 300,000 exposures)
 *   npm run bench:hot-experiment -- --seconds 10 --shards 8 --isolates 50
 *
 * Simulated time, not wall time: this machine cannot make 5,000 pages a second, and need not. The
 * decisions are grouped into queue messages as `workers/decide/exposure-log.ts` groups them (per
 * isolate, up to `EXPOSURE_BATCH_MS` = 50 ms or 64 decisions), sent to the real queue, and consumed
 * in batches of up to 100 (`max_batch_size`). The benchmark reports:
 * - consumer calls per shard per simulated second (each consumer batch makes one `add` per shard it
 *   has messages for), worked out from the messages in the order sent;
 * - how many such calls one `ExperimentStats` object answers per second, measured by sending it
 *   calls shaped like the consumer's (and like the unsharded consumer's) as fast as it takes them,
 *   next to a call that does no work (the ceiling of the local RPC path);
 * - the headroom (calls one object handles / calls it gets), and whether the merged report
 *   (`GET /admin/api/experiments/hot`) counts exactly the exposures sent.
 * Bounded by the simulated seconds and a wall-clock limit; it stops by itself.
 */
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import demoRules from "../../demo-shop/rules.json" with { type: "json" };
import { statsShard } from "../../shared/experiments/stats-report.ts";
import type { DecisionBatchMessage, ExposureBatchMessage } from "../../shared/feedback/messages.ts";
import { SETTING_DEFAULTS } from "../../workers/common/config-defaults.ts";
import { startKafkaRestDouble } from "../kafka-rest/server.ts";
import { adminWorkerOptions, buildWorker, LOCAL_RULES_SIGNING_KEY, seedRules } from "../lib/local-tailor.ts";
import { formatNumber, percentile } from "./stats.ts";

const { values: options } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    rate: { type: "string", default: "5000" },
    shards: { type: "string", default: SETTING_DEFAULTS.EXPERIMENT_STATS_SHARDS },
    isolates: { type: "string", default: "50" },
    "limit-minutes": { type: "string", default: "20" },
  },
});
const SECONDS = Math.max(1, Math.min(600, Number(options.seconds)));
const RATE = Math.max(1, Math.min(20_000, Number(options.rate)));
const SHARDS = Math.max(1, Math.min(64, Number(options.shards)));
const ISOLATES = Math.max(1, Math.min(10_000, Number(options.isolates)));
const WALL_LIMIT_MS = Math.max(1, Number(options["limit-minutes"])) * 60_000;

const EXPERIMENT = "hot";
const BATCH_WINDOW_MS = Number(SETTING_DEFAULTS.EXPOSURE_BATCH_MS);
const MAX_DECISIONS_PER_MESSAGE = 64;
const CONSUMER_BATCH = 100;
/** Queue sends stay under the 256 KB a batch may hold. */
const MAX_SEND_BYTES = 200_000;
const ADMIN_TOKEN = "local-admin-token-for-tests-and-benchmarks";

const started = Date.now();
const overTime = () => Date.now() - started > WALL_LIMIT_MS;
/** Simulated time starts this long ago, so every exposure is inside the attribution window. */
const simulatedStart = started - SECONDS * 1_000 - 60_000;

/** A small deterministic generator: the same run makes the same traffic. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}
const random = generator(16);

function visitorOf(index: number): string {
  return `hot${index.toString(36).padStart(8, "0")}${"v".repeat(21)}`.slice(0, 32);
}

/** One simulated second of pages: decisions grouped into messages as each isolate would send them. */
function simulateSecond(
  second: number,
  open: Map<number, { openedAt: number; decisions: ExposureBatchMessage[] }>,
): DecisionBatchMessage[] {
  const sent: DecisionBatchMessage[] = [];
  const close = (isolate: number) => {
    const batch = open.get(isolate);
    if (batch === undefined) return;
    open.delete(isolate);
    sent.push({ v: 1, kind: "decisions", id: crypto.randomUUID(), decisions: batch.decisions });
  };
  for (let millisecond = second * 1_000; millisecond < (second + 1) * 1_000; millisecond++) {
    for (const [isolate, batch] of open) if (millisecond - batch.openedAt >= BATCH_WINDOW_MS) close(isolate);
    const pages = Math.floor(((millisecond + 1) * RATE) / 1_000) - Math.floor((millisecond * RATE) / 1_000);
    for (let page = 0; page < pages; page++) {
      const isolate = Math.floor(random() * ISOLATES);
      const batch = open.get(isolate) ?? { openedAt: millisecond, decisions: [] };
      open.set(isolate, batch);
      batch.decisions.push({
        v: 1,
        kind: "exposures",
        id: crypto.randomUUID(),
        visitor: visitorOf(Math.floor(random() * 200_000)),
        path: "/",
        rulesVersion: 2,
        holdout: false,
        at: new Date(simulatedStart + millisecond).toISOString(),
        assignments: [{ ruleId: "hot-hero", slot: "hero", experiment: EXPERIMENT, variant: random() < 0.5 ? "a" : "b" }],
      });
      if (batch.decisions.length >= MAX_DECISIONS_PER_MESSAGE) close(isolate);
    }
  }
  return sent;
}

/** What the consumer would send one shard for these messages: its `add` argument. */
function statsDeliveries(messages: readonly DecisionBatchMessage[]) {
  return messages.map((message) => ({
    delivery: `decisions:${message.id}`,
    updates: message.decisions.map((decision) => ({
      id: `${decision.id}:hero`,
      variant: decision.assignments[0]?.variant ?? "a",
      trials: 1,
      successes: 0,
      conversions: 0,
      revenue: 0,
    })),
  }));
}

const rules = {
  ...demoRules,
  version: 2,
  experiments: { [EXPERIMENT]: { variants: ["a", "b"] } },
  rules: [...demoRules.rules, { id: "hot-hero", experiment: { id: EXPERIMENT, variants: { a: {}, b: {} } } }],
};

/**
 * A second Worker in the same workerd process, bound to Tailor's `ExperimentStats` class: it sends
 * one object the calls it is given, `concurrency` at a time, and says how long they took. Timed
 * inside workerd, so the Node-to-workerd bridge (tens of milliseconds a call) is not measured.
 */
const TIMER_WORKER = `
export default {
  async fetch(request, env) {
    const { name, calls, concurrency } = await request.json();
    const stub = env.STATS.get(env.STATS.idFromName(name));
    await stub.storedLayout();
    let next = 0;
    const begun = Date.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < calls.length) {
        const call = calls[next++];
        if (call === null) await stub.storedLayout();
        else await stub.add(call);
      }
    }));
    return Response.json({ ms: Date.now() - begun, calls: calls.length });
  },
};`;

function withoutAdmin(services: unknown): Record<string, never> | undefined {
  if (services === undefined || typeof services !== "object" || services === null) return undefined;
  const { ADMIN: _admin, ...others } = services as Record<string, never>;
  return others;
}

/** Both built Workers on Miniflare with their real bindings and queues (the report is the admin's), plus the timer Worker. */
async function startTailorWithTimer(kafkaRestUrl: string) {
  const build = buildWorker();
  const adminBuild = buildWorker("wrangler.admin.toml");
  const { workerOptions } = unstable_getMiniflareWorkerOptions("wrangler.toml");
  const secrets = {
    VISITOR_ID_SECRET: "local-visitor-id-secret-for-tests-and-benchmarks",
    ADMIN_TOKEN,
    RULES_SIGNING_KEY: LOCAL_RULES_SIGNING_KEY,
    ORIGIN_URL: "http://127.0.0.1:9",
    KAFKA_REST_URL: kafkaRestUrl,
    EXPERIMENT_STATS_SHARDS: String(SHARDS),
  };
  const miniflare = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    cf: false,
    workers: [
      {
        ...workerOptions,
        name: "tailor",
        modules: true,
        // The experiment report is the admin Worker's, reached through the ADMIN binding as deployed.
        serviceBindings: { ...withoutAdmin(workerOptions.serviceBindings), ADMIN: "tailor-admin" },
        scriptPath: build.scriptPath,
        modulesRoot: build.outdir,
        bindings: { ...workerOptions.bindings, ...secrets },
      },
      adminWorkerOptions(adminBuild, secrets),
      {
        name: "stats-timer",
        modules: true,
        script: TIMER_WORKER,
        compatibilityDate: "2026-04-20",
        durableObjects: { STATS: { className: "ExperimentStats", scriptName: "tailor" } },
      },
    ],
  });
  const url = (await miniflare.ready).toString().replace(/\/$/, "");
  await seedRules(await miniflare.getKVNamespace("RULES", "tailor"), rules);
  const dispose = () =>
    miniflare.dispose().then(() => {
      build.cleanUp();
      adminBuild.cleanUp();
    });
  return { url, miniflare, dispose };
}

const kafka = await startKafkaRestDouble();
const tailor = await startTailorWithTimer(kafka.url);
console.log(
  `bench: Tailor on ${tailor.url} (built Worker on Miniflare); ${SECONDS} simulated s × ${RATE} exposures/s, ${ISOLATES} isolates, ${SHARDS} shards`,
);

try {
  const queue = await tailor.miniflare.getQueueProducer<DecisionBatchMessage>("FEEDBACK_QUEUE");
  const open = new Map<number, { openedAt: number; decisions: ExposureBatchMessage[] }>();
  /** Calls per shard in each simulated second, and messages per call. */
  const callsPerShardSecond: number[] = [];
  const messagesPerCall: number[] = [];
  const decisionsPerMessage: number[] = [];
  /** A sample of real per-shard calls and whole batches, for the capacity measurement. */
  const shardCalls: ReturnType<typeof statsDeliveries>[] = [];
  const wholeBatches: ReturnType<typeof statsDeliveries>[] = [];
  let pending: DecisionBatchMessage[] = [];
  let exposures = 0;
  let messages = 0;

  for (let second = 0; second < SECONDS && !overTime(); second++) {
    const sent = simulateSecond(second, open);
    pending.push(...sent);
    const perShard = new Array<number>(SHARDS).fill(0);
    // Consumer batches of 100 messages in the order sent (a last partial batch waits for the next second).
    while (pending.length >= CONSUMER_BATCH) {
      const batch = pending.slice(0, CONSUMER_BATCH);
      pending = pending.slice(CONSUMER_BATCH);
      const groups = new Map<number, DecisionBatchMessage[]>();
      for (const message of batch) {
        const shard = statsShard(`decisions:${message.id}`, SHARDS);
        groups.set(shard, [...(groups.get(shard) ?? []), message]);
      }
      for (const [shard, group] of groups) {
        perShard[shard] = (perShard[shard] ?? 0) + 1;
        messagesPerCall.push(group.length);
        if (shardCalls.length < 400) shardCalls.push(statsDeliveries(group));
      }
      if (wholeBatches.length < 100) wholeBatches.push(statsDeliveries(batch));
    }
    callsPerShardSecond.push(...perShard);
    for (const message of sent) decisionsPerMessage.push(message.decisions.length);
    // Sent in chunks under the queue's size limit; the broker hands the consumer up to 100 at a time.
    let chunk: DecisionBatchMessage[] = [];
    let bytes = 0;
    for (const message of sent) {
      const size = JSON.stringify(message).length;
      if (chunk.length > 0 && (chunk.length >= CONSUMER_BATCH || bytes + size > MAX_SEND_BYTES)) {
        await queue.sendBatch(chunk.map((body) => ({ body, contentType: "json" })));
        chunk = [];
        bytes = 0;
      }
      chunk.push(message);
      bytes += size;
    }
    if (chunk.length > 0) await queue.sendBatch(chunk.map((body) => ({ body, contentType: "json" })));
    exposures += sent.reduce((sum, message) => sum + message.decisions.length, 0);
    messages += sent.length;
    process.stdout.write(
      `\r  simulated ${second + 1}/${SECONDS} s: ${exposures} exposures in ${messages} messages sent; Kafka double has ${kafka.records().length}   `,
    );
  }
  // The batches still open in isolates are sent as their windows end.
  const rest: DecisionBatchMessage[] = [];
  for (const batch of open.values()) rest.push({ v: 1, kind: "decisions", id: crypto.randomUUID(), decisions: batch.decisions });
  for (let start = 0; start < rest.length; start += CONSUMER_BATCH)
    await queue.sendBatch(rest.slice(start, start + CONSUMER_BATCH).map((body) => ({ body, contentType: "json" })));
  exposures += rest.reduce((sum, message) => sum + message.decisions.length, 0);
  messages += rest.length;

  // Wait for the consumer: Kafka first, then the counts (written before each message is acknowledged).
  const report = async () => {
    const response = await fetch(`${tailor.url}/admin/api/experiments/${EXPERIMENT}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    if (response.status !== 200) throw new Error(`report answered ${response.status}`);
    return (await response.json()) as {
      totals: { trials: number };
      variants: Record<string, { trials: number }>;
      shards: { count: number; missing: number[] };
    };
  };
  let counted = await report();
  while (counted.totals.trials < exposures && !overTime()) {
    process.stdout.write(
      `\r  consuming: Kafka double has ${kafka.records().length} of ${exposures} exposures; the report counts ${counted.totals.trials}   `,
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    counted = await report();
  }
  console.log();

  // How many consumer-shaped calls one object answers per second: fresh delivery ids each time (as
  // the live traffic has), 16 at a time; and a call that does no work, for the RPC path's ceiling.
  const timer = await tailor.miniflare.getWorker("stats-timer");
  const capacity = async (name: string, calls: readonly (ReturnType<typeof statsDeliveries> | null)[]) => {
    const payloads = calls.map((call) =>
      call === null ? null : call.map((delivery) => ({ ...delivery, delivery: `decisions:${crypto.randomUUID()}` })),
    );
    const response = await timer.fetch("http://timer/", {
      method: "POST",
      body: JSON.stringify({ name, calls: payloads, concurrency: 16 }),
    });
    const { ms, calls: made } = (await response.json()) as { ms: number; calls: number };
    return made / (Math.max(1, ms) / 1_000);
  };
  // Each measured twice, the first as a warm-up.
  await capacity("capacity-warm-up", shardCalls);
  const perShardCapacity = await capacity("capacity-shard", shardCalls);
  const wholeCapacity = await capacity("capacity-whole", wholeBatches);
  const ceiling = await capacity(
    "capacity-ceiling",
    shardCalls.map(() => null),
  );

  const sortedCalls = [...callsPerShardSecond].sort((a, b) => a - b);
  const sortedMessages = [...messagesPerCall].sort((a, b) => a - b);
  const meanDecisions = decisionsPerMessage.reduce((sum, count) => sum + count, 0) / Math.max(1, decisionsPerMessage.length);
  const peakCalls = sortedCalls.at(-1) ?? 0;
  const meanCalls = sortedCalls.reduce((sum, count) => sum + count, 0) / Math.max(1, sortedCalls.length);
  const consumerBatchesPerSecond = messages / SECONDS / CONSUMER_BATCH;
  console.log(`\nHot experiment: ${exposures} exposures in ${messages} queue messages over ${SECONDS} simulated s`);
  console.log(
    `  decisions per message: mean ${formatNumber(meanDecisions, 2)} (${ISOLATES} isolates, ${BATCH_WINDOW_MS} ms windows, at most 64)`,
  );
  console.log(`  consumer batches of ${CONSUMER_BATCH}: ${formatNumber(consumerBatchesPerSecond, 1)} per simulated s`);
  console.log(
    `  calls per shard per simulated s (${SHARDS} shards): mean ${formatNumber(meanCalls, 1)}, p99 ${formatNumber(percentile(sortedCalls, 0.99), 0)}, max ${peakCalls}; messages per call: median ${percentile(sortedMessages, 0.5)}, max ${sortedMessages.at(-1) ?? 0}`,
  );
  console.log(
    `  one ExperimentStats object answers (measured here, Miniflare): ${formatNumber(perShardCapacity, 0)} shard-sized calls/s; ${formatNumber(wholeCapacity, 0)} calls/s of a whole batch of ${CONSUMER_BATCH} (one object for everything); ${formatNumber(ceiling, 0)} calls/s doing no work (the local RPC ceiling)`,
  );
  console.log(
    `  headroom at the busiest shard-second: ${formatNumber(perShardCapacity / Math.max(1, peakCalls), 1)}x (one object for everything: ${formatNumber(wholeCapacity / Math.max(1, consumerBatchesPerSecond), 1)}x at the mean batch rate)`,
  );
  const variantSum = Object.values(counted.variants).reduce((sum, variant) => sum + variant.trials, 0);
  const equal = counted.totals.trials === exposures && variantSum === exposures && counted.shards.missing.length === 0;
  console.log(
    `  merged report (${counted.shards.count} shards): ${counted.totals.trials} exposures counted of ${exposures} sent — ${equal ? "equal" : "NOT EQUAL"}`,
  );
  console.log(`  wall time ${formatNumber((Date.now() - started) / 1_000, 0)} s${overTime() ? " (stopped at the time limit)" : ""}`);
  if (!equal) process.exitCode = 1;
} finally {
  await tailor.dispose();
  await kafka.close();
}
