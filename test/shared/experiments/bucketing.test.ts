/**
 * Our hashing and bucketing against GrowthBook's SDK: for generated seeds, ids, coverages, weights
 * and namespaces, a GrowthBook experiment and our functions must put every visitor in the same
 * variant. (GrowthBook exports these helpers only through `run`, so that is the oracle.)
 */
import { GrowthBook } from "@growthbook/growthbook";
import { describe, expect, it } from "vitest";
import { chooseVariation, getBucketRanges, getEqualWeights, hash, inNamespace } from "../../../shared/experiments/bucketing.ts";
import { seededRandom, seedForRun } from "../../support/random.ts";

interface Plan {
  seed: string;
  id: string;
  hashVersion: number;
  coverage: number;
  weights: number[] | undefined;
  variations: number;
  namespace: [string, number, number] | undefined;
}

function growthbookRun(plan: Plan): { inExperiment: boolean; variationId: number; bucket: number | undefined } {
  const gb = new GrowthBook({ attributes: { id: plan.id } });
  const result = gb.run({
    key: `exp-${plan.seed}`,
    seed: plan.seed,
    hashVersion: plan.hashVersion,
    coverage: plan.coverage,
    ...(plan.weights === undefined ? {} : { weights: plan.weights }),
    ...(plan.namespace === undefined ? {} : { namespace: plan.namespace }),
    variations: Array.from({ length: plan.variations }, (_, index) => index) as [number, number, ...number[]],
  });
  gb.destroy();
  return { inExperiment: result.inExperiment, variationId: result.inExperiment ? result.variationId : -1, bucket: result.bucket };
}

function ours(plan: Plan): { inExperiment: boolean; variationId: number; bucket: number | null } {
  if (plan.namespace !== undefined && !inNamespace(plan.id, plan.namespace)) return { inExperiment: false, variationId: -1, bucket: null };
  const n = hash(plan.seed, plan.id, plan.hashVersion);
  if (n === null) return { inExperiment: false, variationId: -1, bucket: null };
  const variationId = chooseVariation(n, getBucketRanges(plan.variations, plan.coverage, plan.weights));
  return { inExperiment: variationId >= 0, variationId, bucket: n };
}

describe("bucketing helpers", () => {
  it("splits weights equally and falls back to equal weights when they are wrong", () => {
    expect(getEqualWeights(4)).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(getEqualWeights(0)).toEqual([]);
    expect(getBucketRanges(2, 1, [0.3, 0.7])).toEqual([
      [0, 0.3],
      [0.3, 1],
    ]);
    expect(getBucketRanges(2, 0.5, [0.5, 0.6])).toEqual([
      [0, 0.25],
      [0.5, 0.75],
    ]);
    expect(getBucketRanges(3, 2, [0.5, 0.5])[2]).toEqual([2 / 3, 1]);
    expect(chooseVariation(0.99, getBucketRanges(2, 0.5))).toBe(-1);
  });

  it("knows hash versions 1 and 2 only, and stays in [0, 1)", () => {
    expect(hash("seed", "a", 3)).toBeNull();
    expect(hash("seed", "a", 0)).toBeNull();
    for (const version of [1, 2]) {
      for (let index = 0; index < 1_000; index++) {
        const n = hash("seed", `v${index}`, version) ?? -1;
        expect(n >= 0 && n < 1).toBe(true);
      }
    }
  });

  it("assigns exactly like GrowthBook's SDK for generated experiments", () => {
    const seed = seedForRun();
    console.log(`bucketing differential seed: ${seed} (replay with TEST_SEED=${seed})`);
    const random = seededRandom(seed);
    const mismatches: string[] = [];
    for (let index = 0; index < 10_000; index++) {
      // GrowthBook skips experiments with fewer than two variations, and an empty seed means "use the key".
      const variations = 2 + random.int(4);
      const raw = Array.from({ length: variations }, () => random());
      const total = raw.reduce((sum, value) => sum + value, 0);
      const plan: Plan = {
        seed: random.pick(["hero-test", "checkout", `exp-${random.int(1000)}`, "ünïcødé"]),
        id: `${random.pick(["visitor", "u", "ÄÖ", ""])}${random.int(1_000_000)}`,
        hashVersion: random.pick([1, 2, 2]),
        coverage: random.pick([1, 1, 0.5, 0.1, 0.99, random()]),
        weights: random.pick([undefined, raw.map((value) => value / total), raw]),
        variations,
        namespace: random.chance(0.3) ? [random.pick(["pricing", "hero"]), 0, random.pick([0.5, 0.3, 1])] : undefined,
      };
      const expected = growthbookRun(plan);
      const actual = ours(plan);
      if (
        expected.inExperiment !== actual.inExperiment ||
        expected.variationId !== actual.variationId ||
        (expected.inExperiment && expected.bucket !== actual.bucket)
      ) {
        mismatches.push(`${JSON.stringify(plan)}: GrowthBook ${JSON.stringify(expected)}, ours ${JSON.stringify(actual)}`);
      }
    }
    expect(mismatches.slice(0, 5), `seed ${seed}`).toEqual([]);
  });
});
