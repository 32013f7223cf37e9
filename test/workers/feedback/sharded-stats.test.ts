/**
 * An experiment's counts spread over several `ExperimentStats` objects: the same stream of
 * exposures, clicks and conversions through the real consumer gives the same report (totals, sample
 * ratio verdict) and the same bandit counts with one shard as with many; the layout is fixed per
 * experiment, so changing the setting neither loses nor doubles counts; a shard that does not
 * answer is named in the report and never shrinks the bandit's counts; one visitor's traffic cannot
 * be steered onto one shard.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ExperimentStats, StatsDelivery } from "../../../durable-objects/experiment-stats.ts";
import type { BanditAllocations, DecisionBatchMessage, ExposureBatchMessage } from "../../../shared/feedback/messages.ts";
import { compileCheckedRules as compileRules } from "../../../shared/rules/checked.ts";
import { Experiment, RulesDocument } from "../../../shared/rules/document.ts";
import { experimentReport } from "../../../workers/admin/experiment-report.ts";
import { readExperimentRows, statsObjectName } from "../../../workers/common/experiment-shards.ts";
import { liveCounts } from "../../../workers/decide/experiment-counts.ts";
import { consumeQueue } from "../../../workers/feedback/consumer.ts";
import { publishRules, recordingAnalytics, request } from "../../support/worker/fixtures.ts";

const SHARDS = 8;

/** What a stream is made of; each is turned into queue messages for a given experiment. */
type Step =
  /** A `decisions` message with one decision per variant listed (one visitor each, or `visitor`). */
  | { kind: "decisions"; variants: string[]; shares?: Record<string, number>; visitor?: string }
  /** A single decision's `exposures` message. */
  | { kind: "exposures"; variant: string; shares?: Record<string, number> }
  /** A click on the exposure made by step `on` (its first decision). */
  | { kind: "click"; on: number; visitor?: string }
  /** An order after the exposure made by step `on`, worth `value`, reported by `visitor`. */
  | { kind: "conversion"; on: number; value: number; visitor?: string }
  /** The message of step `of` again (a redelivery, or a copy the producer sent twice). */
  | { kind: "again"; of: number };

interface Stream {
  name: string;
  allocation: "fixed" | "bandit";
  weights?: number[];
  /** Consumer batches, each a list of steps (indexes run across batches). */
  batches: Step[][];
  /** Exposures, clicks and conversions once each, whatever the duplicates. */
  expected: { trials: number; successes: number; conversions: number };
  /** The sample ratio verdict, where the stream is made to have one. */
  flagged?: boolean;
}

const VARIANTS = ["a", "b"];

const many = (count: number, make: (index: number) => Step): Step[] => Array.from({ length: count }, (_, index) => make(index));

const STREAMS: Stream[] = [
  {
    name: "exposures in decision batches",
    allocation: "fixed",
    batches: [
      many(60, (index) => ({ kind: "decisions", variants: index % 3 === 0 ? ["a", "b", "a"] : ["b"] })),
      many(40, (index) => ({ kind: "exposures", variant: index % 2 === 0 ? "a" : "b" })),
    ],
    expected: { trials: 20 * 3 + 40 + 40, successes: 0, conversions: 0 },
  },
  {
    name: "duplicates in the same batch and redeliveries in later ones",
    allocation: "fixed",
    batches: [
      many(50, (index) => ({ kind: "decisions", variants: index % 2 === 0 ? ["a", "b"] : ["a"] })),
      [...many(25, (index) => ({ kind: "again", of: index * 2 })), ...many(20, () => ({ kind: "exposures", variant: "b" }))],
      [...many(10, (index) => ({ kind: "again", of: 50 + 25 + index })), { kind: "again", of: 3 }, { kind: "again", of: 3 }],
    ],
    expected: { trials: 25 * 2 + 25 + 20, successes: 0, conversions: 0 },
  },
  {
    name: "clicks and orders, repeated, some by a user's linked visitor",
    allocation: "fixed",
    batches: [
      many(40, (index) => ({ kind: "decisions", variants: [index % 2 === 0 ? "a" : "b"] })),
      [
        ...many(12, (index) => ({ kind: "click", on: index })),
        // A second click on an exposure already clicked: one per exposure.
        ...many(6, (index) => ({ kind: "click", on: index })),
        ...many(8, (index) => ({ kind: "conversion", on: index * 2, value: 12.5 * (index + 1) })),
      ],
      [
        // The same orders reported again, by the same visitor and by a linked one (same record ids).
        ...many(4, (index) => ({ kind: "conversion", on: index * 2, value: 12.5 * (index + 1) })),
        ...many(4, (index) => ({ kind: "conversion", on: index * 2, value: 99.25, visitor: "linkedVisitorPseudonym0000000000" })),
        ...many(3, (index) => ({ kind: "again", of: 40 + index })),
      ],
    ],
    expected: { trials: 40, successes: 12, conversions: 8 },
  },
  {
    name: "a bandit's exposures with the shares they were assigned with",
    allocation: "bandit",
    batches: [
      many(80, (index) => ({
        kind: "decisions",
        variants: index % 4 === 0 ? ["b"] : ["a"],
        shares: { a: 0.75, b: 0.25 },
      })),
      [
        ...many(20, (index) => ({ kind: "exposures", variant: index % 2 === 0 ? "a" : "b", shares: { a: 0.5, b: 0.5 } })),
        { kind: "again", of: 5 },
      ],
      many(10, (index) => ({ kind: "click", on: index })),
    ],
    expected: { trials: 100, successes: 10, conversions: 0 },
  },
  {
    name: "a split far from the planned weights (flagged either way)",
    allocation: "fixed",
    weights: [0.5, 0.5],
    batches: [many(90, (index) => ({ kind: "decisions", variants: index % 10 === 0 ? ["b"] : ["a", "a"] }))],
    expected: { trials: 9 * 1 + 81 * 2, successes: 0, conversions: 0 },
    flagged: true,
  },
];

/** The queue message bodies of a stream's batches, for `experiment`, with fresh ids. */
function messagesOf(stream: Stream, experiment: string): unknown[][] {
  const bodies: unknown[] = [];
  const firstDecision: (ExposureBatchMessage | undefined)[] = [];
  const at = new Date().toISOString();
  const decision = (variant: string, visitor: string | undefined, shares: Record<string, number> | undefined): ExposureBatchMessage => ({
    v: 1,
    kind: "exposures",
    id: crypto.randomUUID(),
    visitor: visitor ?? `v${crypto.randomUUID().replaceAll("-", "")}`.slice(0, 32),
    path: "/",
    rulesVersion: 1,
    holdout: false,
    at,
    assignments: [{ ruleId: "hero-test", slot: "hero", experiment, variant }],
    ...(shares === undefined ? {} : { allocations: { [experiment]: shares } satisfies BanditAllocations }),
  });
  const feedback = (step: { on: number; visitor?: string }, kind: "click" | "conversion", value = 0) => {
    const exposure = firstDecision[step.on];
    if (exposure === undefined) throw new Error(`step ${step.on} made no exposure`);
    const variant = exposure.assignments[0]?.variant ?? "";
    const common = {
      v: 1,
      visitor: step.visitor ?? exposure.visitor,
      ruleId: "hero-test",
      slot: "hero",
      experiment,
      variant,
      decisionId: exposure.id,
      exposedAt: at,
      at,
    };
    return kind === "click"
      ? { ...common, kind, id: `${exposure.id}:hero:click` }
      : { ...common, kind, id: `${exposure.id}:hero:order-completed`, event: "Order Completed", value };
  };
  return stream.batches.map((steps) =>
    steps.map((step) => {
      let body: unknown;
      let first: ExposureBatchMessage | undefined;
      if (step.kind === "decisions") {
        const decisions = step.variants.map((variant) => decision(variant, step.visitor, step.shares));
        first = decisions[0];
        body = { v: 1, kind: "decisions", id: crypto.randomUUID(), decisions };
      } else if (step.kind === "exposures") {
        first = decision(step.variant, undefined, step.shares);
        body = first;
      } else if (step.kind === "click") body = feedback(step, "click");
      else if (step.kind === "conversion") body = feedback(step, "conversion", step.value);
      else body = bodies[step.of];
      bodies.push(body);
      firstDecision.push(first);
      return body;
    }),
  );
}

async function consume(bodies: unknown[], on: Env): Promise<void> {
  const batch = createMessageBatch(
    "tailor-feedback",
    bodies.map((body, index) => ({ id: `message-${index}`, timestamp: new Date(), attempts: 1, body })),
  );
  await consumeQueue(batch, on);
  const result = (await getQueueResult(batch, createExecutionContext())) as { explicitAcks: string[] };
  expect(result.explicitAcks).toHaveLength(bodies.length);
}

/** The Worker's env with `shards` as the deployment's setting; the bandit re-reads on every call. */
function withShards(shards: number): Env {
  return { ...env, EXPERIMENT_STATS_SHARDS: String(shards), EXPERIMENT_STATS_TTL_MS: "0" };
}

const definition = (stream: Stream): Experiment =>
  Experiment.parse({
    variants: VARIANTS,
    allocation: stream.allocation,
    ...(stream.weights === undefined ? {} : { weights: stream.weights }),
  });

/** The bandit's counts for `experiment` as a page would decide with them, after one background read. */
async function banditCounts(on: Env, experiment: string) {
  const rules = compileRules(
    RulesDocument.parse({
      version: 1,
      slots: { hero: { selector: "#hero" } },
      experiments: { [experiment]: { variants: VARIANTS, allocation: "bandit" } },
      rules: [{ id: "hero-test", experiment: { id: experiment, variants: { a: {}, b: {} } } }],
    }),
  );
  const refreshed: Promise<unknown>[] = [];
  liveCounts(on, rules, Date.now(), (promise) => refreshed.push(promise));
  await Promise.all(refreshed);
  // Reading schedules the next refresh (the TTL is 0): let it finish so the next call starts afresh.
  const next: Promise<unknown>[] = [];
  const counts = liveCounts(on, rules, Date.now(), (promise) => next.push(promise))(experiment);
  await Promise.all(next);
  return counts;
}

/** Shards of `experiment` that hold any count. */
async function shardsWithCounts(experiment: string, shards: number): Promise<number> {
  const rows = await Promise.all(
    Array.from({ length: shards }, (_, shard) => env.EXPERIMENT_STATS.getByName(statsObjectName(experiment, shard)).rows()),
  );
  return rows.filter((shard) => shard.length > 0).length;
}

describe("sharded experiment counts", () => {
  it.each(STREAMS)("$name: the same report and bandit counts with 1 shard as with 8", { timeout: 120_000 }, async (stream) => {
    const results = [];
    for (const shards of [1, SHARDS]) {
      const experiment = `eq${shards}_${crypto.randomUUID().slice(0, 8)}`;
      const on = withShards(shards);
      for (const batch of messagesOf(stream, experiment)) await consume(batch, on);
      const { id: _id, shards: layout, ...report } = await experimentReport(on, experiment, definition(stream));
      expect(layout).toEqual({ count: shards, missing: [], complete: true });
      results.push({ report, bandit: await banditCounts(on, experiment), spread: await shardsWithCounts(experiment, shards) });
    }
    const [one, sharded] = results;
    expect(one?.report.totals).toMatchObject(stream.expected);
    if (stream.flagged !== undefined) expect(one?.report.srm.flagged).toBe(stream.flagged);
    expect(sharded?.report).toEqual(one?.report);
    expect(sharded?.bandit).toEqual(one?.bandit);
    // The counts really were spread, not all left in the first object.
    expect(sharded?.spread).toBeGreaterThan(1);
  });

  it("keeps an experiment's layout when the setting changes: nothing lost, nothing counted twice", async () => {
    const experiment = `relayout_${crypto.randomUUID().slice(0, 8)}`;
    const stream = STREAMS[0];
    if (stream === undefined) throw new Error("no stream");
    const [first = [], second = []] = messagesOf(stream, experiment);
    await consume(first, withShards(SHARDS));
    // The deployment now says 3, and 1: the first batch comes back (a redelivery) with the second.
    await consume([...first, ...second], withShards(3));
    await consume(first, withShards(1));
    expect(await env.EXPERIMENT_STATS.getByName(experiment).layout(2)).toBe(SHARDS);
    const report = await experimentReport(withShards(1), experiment, definition(stream));
    expect(report.shards.count).toBe(SHARDS);
    expect(report.totals.trials).toBe(stream.expected.trials);
  });

  it("keeps an experiment counted before shards existed in its one object", async () => {
    const experiment = `legacy_${crypto.randomUUID().slice(0, 8)}`;
    const stream = STREAMS[0];
    if (stream === undefined) throw new Error("no stream");
    const [first = [], second = []] = messagesOf(stream, experiment);
    // What the consumer wrote before shards: every message's updates in the object named after the
    // experiment, which kept no layout.
    await env.EXPERIMENT_STATS.getByName(experiment).add(first.map((body) => legacyDelivery(body)));
    // The first batch comes back (a redelivery) with the second, under a deployment set to 8.
    await consume([...first, ...second], withShards(SHARDS));
    const report = await experimentReport(env, experiment, definition(stream));
    expect(report.shards.count).toBe(1);
    expect(report.totals.trials).toBe(stream.expected.trials);
  });

  it("names the shards that did not answer; the bandit keeps the counts it had", async () => {
    const experiment = `missing_${crypto.randomUUID().slice(0, 8)}`;
    const stream = STREAMS[0];
    if (stream === undefined) throw new Error("no stream");
    const [first = [], second = []] = messagesOf(stream, experiment);
    const on = withShards(SHARDS);
    await consume(first, on);
    const before = await banditCounts(on, experiment);
    await consume(second, on);
    const failing: Env = { ...on, EXPERIMENT_STATS: failingShards([statsObjectName(experiment, 2), statsObjectName(experiment, 5)]) };
    const report = await experimentReport(failing, experiment, definition(stream));
    expect(report.shards).toEqual({ count: SHARDS, missing: [2, 5], complete: false });
    const whole = await experimentReport(on, experiment, definition(stream));
    expect(whole.totals.trials).toBe(stream.expected.trials);
    expect(report.totals.trials).toBeLessThan(whole.totals.trials);
    // A partial sum never replaces what the bandit held: it would look like fewer trials.
    expect(await banditCounts(failing, experiment)).toEqual(before);
    expect(await banditCounts(on, experiment)).toEqual(countsOfReport(whole));
  });

  it("tells the marketer which shards are missing, on the API and the dashboard, rather than silently low totals", async () => {
    const experiment = `dash_${crypto.randomUUID().slice(0, 8)}`;
    const stream = STREAMS[0];
    if (stream === undefined) throw new Error("no stream");
    const on = withShards(SHARDS);
    for (const batch of messagesOf(stream, experiment)) await consume(batch, on);
    await publishRules({
      version: 1,
      slots: { hero: { selector: "#hero" } },
      experiments: { [experiment]: { variants: VARIANTS } },
      rules: [{ id: "hero-test", experiment: { id: experiment, variants: { a: {}, b: {} } } }],
    });
    const admin = { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } };
    const down = { EXPERIMENT_STATS: failingShards([statsObjectName(experiment, 3)]) };
    const api = await request(`/admin/api/experiments/${experiment}`, admin, down);
    expect(api.status).toBe(200);
    expect(((await api.json()) as { shards: unknown }).shards).toEqual({ count: SHARDS, missing: [3], complete: false });
    const page = await (await request("/admin", admin, down)).text();
    expect(page).toContain('data-missing-shards="3"');
    expect(page).toContain("1 of 8 count shards did not answer");
    const whole = await (await request("/admin", admin)).text();
    expect(whole).not.toContain("data-missing-shards");
  });

  it("raises the sample-ratio alert from the summed counts, never from a partial sum", async () => {
    const experiment = `srm_${crypto.randomUUID().slice(0, 8)}`;
    const stream = STREAMS.find((candidate) => candidate.flagged === true);
    if (stream === undefined) throw new Error("no flagged stream");
    const on = withShards(SHARDS);
    for (const batch of messagesOf(stream, experiment)) await consume(batch, on);
    const whole = recordingAnalytics();
    expect((await experimentReport({ ...on, ANALYTICS: whole.dataset }, experiment, definition(stream))).srm.flagged).toBe(true);
    expect(whole.points.filter((point) => point.blobs?.[0] === "srm").map((point) => [point.blobs?.[1], point.doubles?.[2]])).toEqual([
      [experiment, stream.expected.trials],
    ]);
    const partial = recordingAnalytics();
    const missingOne: Env = { ...on, ANALYTICS: partial.dataset, EXPERIMENT_STATS: failingShards([statsObjectName(experiment, 1)]) };
    expect((await experimentReport(missingOne, experiment, definition(stream))).shards.complete).toBe(false);
    expect(partial.points.filter((point) => point.blobs?.[0] === "srm")).toEqual([]);
  });

  it("spreads one visitor's exposures over every shard: a visitor cannot pick where its traffic lands", async () => {
    const experiment = `onevisitor_${crypto.randomUUID().slice(0, 8)}`;
    const bodies = messagesOf(
      {
        name: "one visitor reloading",
        allocation: "fixed",
        batches: [many(400, () => ({ kind: "decisions", variants: ["a"], visitor: "oneBusyVisitorPseudonym000000000" }))],
        expected: { trials: 400, successes: 0, conversions: 0 },
      },
      experiment,
    );
    for (const batch of bodies)
      for (let start = 0; start < batch.length; start += 100) await consume(batch.slice(start, start + 100), withShards(SHARDS));
    const perShard = await Promise.all(
      Array.from({ length: SHARDS }, async (_, shard) => {
        const rows = await env.EXPERIMENT_STATS.getByName(statsObjectName(experiment, shard)).rows();
        return rows.reduce((sum, row) => sum + row.trials, 0);
      }),
    );
    expect(perShard.reduce((sum, trials) => sum + trials, 0)).toBe(400);
    // 50 each on average; the busiest shard is far from taking it all (more than 110 would be 8 sigma).
    for (const trials of perShard) expect(trials).toBeGreaterThan(0);
    expect(Math.max(...perShard)).toBeLessThanOrEqual(110);
    expect((await readExperimentRows(env, experiment)).missing).toEqual([]);
  });
});

/** The experiment objects as bound, except that the objects named in `down` fail every read. */
function failingShards(down: readonly string[]): Env["EXPERIMENT_STATS"] {
  return {
    getByName: (name: string) =>
      down.includes(name)
        ? ({ rows: () => Promise.reject(new Error("Durable Object is overloaded")) } as unknown as DurableObjectStub<ExperimentStats>)
        : env.EXPERIMENT_STATS.getByName(name),
  } as unknown as Env["EXPERIMENT_STATS"];
}

/** A `decisions` or `exposures` message's updates as the consumer sent them before shards existed. */
function legacyDelivery(body: unknown): StatsDelivery {
  const message = body as DecisionBatchMessage | ExposureBatchMessage;
  const decisions = message.kind === "decisions" ? message.decisions : [message];
  return {
    delivery: `${message.kind}:${message.id}`,
    updates: decisions.flatMap((decision) =>
      decision.assignments.map((assignment) => ({
        id: `${decision.id}:${assignment.slot}`,
        variant: assignment.variant ?? "",
        trials: 1,
        successes: 0,
        conversions: 0,
        revenue: 0,
      })),
    ),
  };
}

function countsOfReport(report: { variants: Record<string, { trials: number; successes: number }> }) {
  return Object.fromEntries(Object.entries(report.variants).map(([variant, { trials, successes }]) => [variant, { successes, trials }]));
}
