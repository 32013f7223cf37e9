import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { DELIVERY_WINDOW_MS, type ExperimentStats, type StatsUpdate } from "../../durable-objects/experiment-stats.ts";
import { sampleRatioMismatch } from "../../shared/experiments/srm.ts";

const exposure = (id: string, variant: string, allocation?: Record<string, number>): StatsUpdate => ({
  id,
  variant,
  trials: 1,
  successes: 0,
  conversions: 0,
  revenue: 0,
  ...(allocation === undefined ? {} : { allocation }),
});
const click = (id: string, variant: string): StatsUpdate => ({ id, variant, trials: 0, successes: 1, conversions: 0, revenue: 0 });
const order = (id: string, variant: string, revenue: number): StatsUpdate => ({
  id,
  variant,
  trials: 0,
  successes: 0,
  conversions: 1,
  revenue,
});

function newStats() {
  return env.EXPERIMENT_STATS.getByName(`experiment-${crypto.randomUUID()}`);
}

it("counts each delivery once and reports the sample ratio check", async () => {
  const stats = newStats();
  expect(await stats.add([{ delivery: "decisions:m1", updates: [exposure("e1", "a"), exposure("e2", "b"), exposure("e3", "b")] }])).toBe(3);
  // At-least-once delivery: the same message again changes nothing.
  expect(await stats.add([{ delivery: "decisions:m1", updates: [exposure("e1", "a"), exposure("e2", "b"), exposure("e3", "b")] }])).toBe(0);
  await stats.add([
    { delivery: "click:c1", updates: [click("c1", "b")] },
    { delivery: "conversion:o1", updates: [order("o1", "b", 99.5)] },
  ]);
  const report = await stats.report(["a", "b", "c"]);
  expect(report.variants).toEqual({
    a: { trials: 1, successes: 0, conversions: 0, revenue: 0 },
    b: { trials: 2, successes: 1, conversions: 1, revenue: 99.5 },
    c: { trials: 0, successes: 0, conversions: 0, revenue: 0 },
  });
  expect(report.totals).toEqual({ trials: 3, successes: 1, conversions: 1, revenue: 99.5 });
  expect(report.srm.degreesOfFreedom).toBe(2);
  expect(report.srm.check).toBe("chi-square against the planned weights");
});

// The ways one click or order reaches the object again: the queue redelivering its message, the
// message replayed from the dead letters, another message for the same exposure (a second click).
const replays: { name: string; again: (update: StatsUpdate) => { delivery: string; updates: StatsUpdate[] }[] }[] = [
  { name: "the same message redelivered", again: (update) => [{ delivery: `click:${update.id}`, updates: [update] }] },
  { name: "another message, same record", again: (update) => [{ delivery: "click:other-message", updates: [update] }] },
  {
    name: "inside a batch of other records",
    again: (update) => [{ delivery: "decisions:batch", updates: [exposure("x1", "a"), update, exposure("x2", "b")] }],
  },
  {
    name: "ten times in one call",
    again: (update) => Array.from({ length: 10 }, (_, index) => ({ delivery: `click:m${index}`, updates: [update] })),
  },
];

it.each(replays)("counts a click or order once however it comes back: $name", async ({ again }) => {
  const stats = newStats();
  const clicked = click("d1:hero:click", "a");
  const ordered = order("d1:hero:order-completed", "a", 129.5);
  await stats.add([
    { delivery: `click:${clicked.id}`, updates: [clicked] },
    { delivery: `conversion:${ordered.id}`, updates: [ordered] },
  ]);
  await stats.add([...again(clicked), ...again(ordered)]);
  const counts = await stats.counts();
  expect(counts.a?.successes).toBe(1);
  expect(counts.a?.conversions).toBe(1);
  expect(counts.a?.revenue).toBe(129.5);
});

it("remembers one id per queue message, not one per exposure, and forgets ids after their window", async () => {
  const stats = newStats();
  // A day at 200 page views a second, in messages of 50 decisions: the ids held stay per message.
  for (let message = 0; message < 20; message++)
    await stats.add([
      {
        delivery: `decisions:m${message}`,
        updates: Array.from({ length: 50 }, (_, index) => exposure(`m${message}-d${index}:hero`, index % 2 === 0 ? "a" : "b")),
      },
    ]);
  expect((await stats.counts()).a?.trials).toBe(500);
  const held = () =>
    runInDurableObject(
      stats,
      (_instance: ExperimentStats, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM seen").one().n,
    );
  expect(await held()).toBe(20);
  // Ids past their window (here: made to look so) are deleted by later writes, in bounded steps.
  await runInDurableObject(stats, (_instance: ExperimentStats, state) => {
    state.storage.sql.exec("UPDATE seen SET until = ?", Date.now() - 1);
    for (let index = 0; index < 3_000; index++)
      state.storage.sql.exec("INSERT INTO seen (key, until) VALUES (?, ?)", new TextEncoder().encode(`old-${index}`).buffer, 0);
  });
  const expired = () =>
    runInDurableObject(
      stats,
      (_instance: ExperimentStats, state) =>
        state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM seen WHERE until < ?", Date.now()).one().n,
    );
  let left = await expired();
  expect(left).toBe(3_020);
  let rounds = 0;
  while (left > 0 && rounds < 20) {
    rounds++;
    await stats.add([{ delivery: `decisions:late${rounds}`, updates: [exposure(`late${rounds}:hero`, "a")] }]);
    const now = await expired();
    // Each write deletes more than it adds, and a bounded number: no write pays for a whole backlog.
    expect(now).toBeLessThan(left);
    expect(left - now).toBeLessThanOrEqual(502);
    left = now;
  }
  expect(left).toBe(0);
  expect(rounds).toBeGreaterThan(1);
  expect(await held()).toBe(rounds);
  expect(DELIVERY_WINDOW_MS).toBeLessThanOrEqual(24 * 60 * 60 * 1_000);
});

it("keeps each remembered message or click in under 100 bytes, and drains what version 1 kept", async () => {
  const stats = newStats();
  const size = () => runInDurableObject(stats, (_instance: ExperimentStats, state) => state.storage.sql.databaseSize);
  await stats.counts();
  // Measured before the old rows go in: the space they free is not credited to the new ones.
  const before = await size();
  // Version 1 kept every exposure id for 7 days: such rows are deleted by later writes.
  await runInDurableObject(stats, (_instance: ExperimentStats, state) => {
    for (let index = 0; index < 1_200; index++)
      state.storage.sql.exec("INSERT INTO applied (id, at) VALUES (?, ?)", `${crypto.randomUUID()}:hero`, Date.now());
  });
  const rounds = 4;
  for (let round = 0; round < rounds; round++)
    await stats.add(
      Array.from({ length: 1_000 }, (_, index) => ({
        delivery: `decisions:${crypto.randomUUID()}`,
        updates: [exposure(`r${round}-${index}:hero`, "a"), click(`r${round}-${index}:hero:click`, "a")],
      })),
    );
  expect((await stats.counts()).a).toMatchObject({ trials: 4_000, successes: 4_000 });
  // 8,000 ids remembered (a message and a click each).
  expect((await size()) - before).toBeLessThan(8_000 * 100);
  const old = await runInDurableObject(
    stats,
    (_instance: ExperimentStats, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM applied").one().n,
  );
  expect(old).toBe(0);
});

it("checks a bandit against the shares it assigned with, not an equal split", async () => {
  const stats = newStats();
  // The bandit favoured a (80 %), then, after learning more, b (30 % → 60 %): traffic followed.
  const phases = [
    { shares: { a: 0.8, b: 0.2 }, a: 400, b: 100 },
    { shares: { a: 0.4, b: 0.6 }, a: 200, b: 300 },
  ];
  let n = 0;
  for (const { shares, a, b } of phases) {
    const updates = [
      ...Array.from({ length: a }, () => exposure(`e${n++}`, "a", shares)),
      ...Array.from({ length: b }, () => exposure(`e${n++}`, "b", shares)),
    ];
    await stats.add([{ delivery: `decisions:phase-${n}`, updates }]);
  }
  const report = await stats.report(["a", "b"], undefined, "bandit");
  expect(report.variants.a?.trials).toBe(600);
  // Against an equal split, 600 : 400 is a mismatch; against what was planned it is exact.
  expect(sampleRatioMismatch([600, 400]).flagged).toBe(true);
  expect(report.srm.flagged).toBe(false);
  expect(report.srm.chiSquare).toBeCloseTo(0, 6);
  expect(report.srm.check).toBe("chi-square against the bandit's shares at each assignment");
  expect(report.srm.exposures).toBe(1_000);

  // A broken bandit (logging only a's exposures in the second phase) is still caught.
  const broken = newStats();
  await broken.add([
    {
      delivery: "decisions:broken",
      updates: [
        ...Array.from({ length: 400 }, (_, index) => exposure(`a${index}`, "a", { a: 0.4, b: 0.6 })),
        ...Array.from({ length: 100 }, (_, index) => exposure(`b${index}`, "b", { a: 0.4, b: 0.6 })),
      ],
    },
  ]);
  expect((await broken.report(["a", "b"], undefined, "bandit")).srm.flagged).toBe(true);
});

// Updates a broken or hostile producer could send, each beside eight good ones.
const hostile: { name: string; update: unknown; counted: { conversions: number; revenue: number } }[] = [
  {
    name: "revenue far above the cap",
    update: { id: "h", variant: "a", trials: 0, successes: 0, conversions: 1, revenue: 1e12 },
    counted: { conversions: 1, revenue: 100_000 },
  },
  {
    name: "negative revenue",
    update: { id: "h", variant: "a", trials: 0, successes: 0, conversions: 1, revenue: -1e9 },
    counted: { conversions: 0, revenue: 0 },
  },
  {
    name: "infinite revenue",
    update: { id: "h", variant: "a", trials: 0, successes: 0, conversions: 1, revenue: Number.POSITIVE_INFINITY },
    counted: { conversions: 0, revenue: 0 },
  },
  {
    name: "NaN revenue",
    update: { id: "h", variant: "a", trials: 0, successes: 0, conversions: 1, revenue: Number.NaN },
    counted: { conversions: 0, revenue: 0 },
  },
  {
    name: "many conversions at once",
    update: { id: "h", variant: "a", trials: 0, successes: 0, conversions: 20, revenue: 0 },
    counted: { conversions: 0, revenue: 0 },
  },
  {
    name: "no variant",
    update: { id: "h", variant: "", trials: 0, successes: 0, conversions: 1, revenue: 0 },
    counted: { conversions: 0, revenue: 0 },
  },
  {
    name: "an id too long",
    update: { id: "h".repeat(301), variant: "a", trials: 0, successes: 0, conversions: 1, revenue: 0 },
    counted: { conversions: 0, revenue: 0 },
  },
  {
    name: "an extra field",
    update: { id: "h", variant: "a", trials: 0, successes: 0, conversions: 1, revenue: 0, admin: true },
    counted: { conversions: 0, revenue: 0 },
  },
  { name: "not an object", update: "conversions=1e9", counted: { conversions: 0, revenue: 0 } },
  { name: "null", update: null, counted: { conversions: 0, revenue: 0 } },
];

it.each(hostile)("counts the rest of a batch beside one bad update: $name", async ({ update, counted }) => {
  const stats = newStats();
  const good = Array.from({ length: 8 }, (_, index) => ({
    id: `g${index}`,
    variant: "a",
    trials: 1,
    successes: 0,
    conversions: 1,
    revenue: 10,
  }));
  // The RPC type says StatsUpdate[]; what arrives is whatever the caller sent.
  const batch = [...good.slice(0, 4), update, ...good.slice(4)] as StatsUpdate[];
  await stats.add([{ delivery: "decisions:hostile", updates: batch }]);
  expect((await stats.counts()).a).toEqual({
    trials: 8,
    successes: 0,
    conversions: 8 + counted.conversions,
    revenue: 80 + counted.revenue,
  });
});

it.each([Number.NaN, 0, -3, 2.5, 65, Number.POSITIVE_INFINITY])(
  "refuses a malformed layout (%s) and records none, so the next proper one is kept",
  async (proposed) => {
    const stats = newStats();
    // Handled with then(): an RPC promise passed to expect().rejects is also reported as unhandled.
    const outcome = await stats.layout(proposed).then(
      () => "kept",
      (error: unknown) => String(error),
    );
    expect(outcome).toMatch(/ZodError|invalid/i);
    expect(await stats.storedLayout()).toBeNull();
    expect(await stats.layout(8)).toBe(8);
    expect(await stats.layout(3)).toBe(8);
  },
);

it("keeps an object that already holds counts at one shard, whatever is proposed", async () => {
  const stats = newStats();
  await stats.add([{ delivery: "decisions:before-shards", updates: [exposure("e1", "a")] }]);
  expect(await stats.layout(8)).toBe(1);
  expect(await stats.storedLayout()).toBe(1);
});
