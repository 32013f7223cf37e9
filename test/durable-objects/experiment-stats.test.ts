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
