import { env } from "cloudflare:workers";
import { expect, it } from "vitest";

it("counts each update once and reports the sample ratio check", async () => {
  const stats = env.EXPERIMENT_STATS.getByName(`experiment-${crypto.randomUUID()}`);
  const exposure = (id: string, variant: string) => ({ id, variant, trials: 1, successes: 0, conversions: 0, revenue: 0 });
  expect(await stats.add([exposure("e1", "a"), exposure("e2", "b"), exposure("e3", "b")])).toBe(3);
  // At-least-once delivery: the same records again change nothing.
  expect(await stats.add([exposure("e1", "a"), exposure("e2", "b")])).toBe(0);
  await stats.add([
    { id: "c1", variant: "b", trials: 0, successes: 1, conversions: 0, revenue: 0 },
    { id: "o1", variant: "b", trials: 0, successes: 0, conversions: 1, revenue: 99.5 },
  ]);
  const report = await stats.report(["a", "b", "c"]);
  expect(report.variants).toEqual({
    a: { trials: 1, successes: 0, conversions: 0, revenue: 0 },
    b: { trials: 2, successes: 1, conversions: 1, revenue: 99.5 },
    c: { trials: 0, successes: 0, conversions: 0, revenue: 0 },
  });
  expect(report.srm.degreesOfFreedom).toBe(2);
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
  const stats = env.EXPERIMENT_STATS.getByName(`experiment-${crypto.randomUUID()}`);
  const good = Array.from({ length: 8 }, (_, index) => ({
    id: `g${index}`,
    variant: "a",
    trials: 1,
    successes: 0,
    conversions: 1,
    revenue: 10,
  }));
  // The RPC type says StatsUpdate[]; what arrives is whatever the caller sent.
  const batch = [...good.slice(0, 4), update, ...good.slice(4)] as Parameters<typeof stats.add>[0];
  await stats.add(batch);
  expect((await stats.counts()).a).toEqual({
    trials: 8,
    successes: 0,
    conversions: 8 + counted.conversions,
    revenue: 80 + counted.revenue,
  });
});
