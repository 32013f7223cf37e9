/**
 * A flagged sample ratio check writes the `srm` data point the "Sample ratio mismatch flagged" alert
 * counts; a healthy split writes none.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import type { ExperimentStats } from "../../durable-objects/experiment-stats.ts";
import { collectingDataset, type Point } from "../support/worker/analytics-sql.ts";

const name = `srm-${crypto.randomUUID()}`;

async function reportPoints(trialsA: number, trialsB: number): Promise<Point[]> {
  const stubName = `${name}-${trialsA}-${trialsB}`;
  const stub = env.EXPERIMENT_STATS.getByName(stubName);
  const updates = [
    ...Array.from({ length: trialsA }, (_, index) => ({
      id: `a-${index}`,
      variant: "a",
      trials: 1,
      successes: 0,
      conversions: 0,
      revenue: 0,
    })),
    ...Array.from({ length: trialsB }, (_, index) => ({
      id: `b-${index}`,
      variant: "b",
      trials: 1,
      successes: 0,
      conversions: 0,
      revenue: 0,
    })),
  ];
  await stub.add([{ delivery: "exposures:srm-test", updates }]);
  return runInDurableObject(stub, async (instance: ExperimentStats) => {
    const dataset = collectingDataset();
    Reflect.set(instance, "env", { ...env, ANALYTICS: dataset });
    await instance.report(["a", "b"], [0.5, 0.5]);
    return dataset.points;
  });
}

it.each([
  { name: "a 50/50 experiment counted 700 to 300", a: 700, b: 300, flagged: true },
  { name: "a 50/50 experiment counted 0 to 500", a: 0, b: 500, flagged: true },
  { name: "a 50/50 experiment counted 510 to 490", a: 510, b: 490, flagged: false },
])("$name writes an srm point: $flagged", async ({ a, b, flagged }) => {
  const points = await reportPoints(a, b);
  const srm = points.filter((point) => point.blobs?.[0] === "srm");
  expect(srm).toHaveLength(flagged ? 1 : 0);
  if (flagged) {
    expect(srm[0]?.blobs?.[1]).toBe(`${name}-${a}-${b}`);
    expect(srm[0]?.doubles?.[2]).toBe(a + b);
    expect(srm[0]?.doubles?.[1]).toBeLessThan(0.001);
  }
});
