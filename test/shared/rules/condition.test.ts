/**
 * Our compiled conditions against GrowthBook's `evalCondition`, the reference implementation of
 * the syntax: hand-written cases for every operator, then thousands of generated conditions and
 * attribute objects (seeded; the seed is printed, `TEST_SEED=<n>` replays a run).
 */
import { evalCondition as growthbook } from "@growthbook/growthbook";
import { describe, expect, it } from "vitest";
import { compileCondition, conditionPaths, evalCondition } from "../../../shared/rules/condition.ts";
import { type Random, seededRandom, seedForRun } from "../../support/random.ts";

type Outcome = boolean | "throws";

function outcome(run: () => boolean): Outcome {
  try {
    return run();
  } catch {
    return "throws";
  }
}

const groups = {
  vip: { type: "list", attributeKey: "id", values: ["u1", "u2", 3] },
  legacy: ["a", "b", 1],
  germans: { type: "condition", condition: { "geo.country": { $in: ["DE", "AT"] } } },
  loop: { type: "condition", condition: { $savedGroup: { id: "loop" } } },
  broken: { type: "list", attributeKey: "id", values: "nope" },
  future: { type: "nested" },
};

/** Checks one condition against GrowthBook on several attribute objects; returns the mismatches. */
function compare(condition: Record<string, unknown>, attributeSets: readonly unknown[]): string[] {
  const mismatches: string[] = [];
  let compiled: ((attributes: unknown) => boolean) | "throws";
  try {
    compiled = compileCondition(condition, groups);
  } catch {
    compiled = "throws";
  }
  for (const attributes of attributeSets) {
    const expected = outcome(() => growthbook(attributes as Record<string, unknown>, condition as never, groups as never));
    const actual = compiled === "throws" ? "throws" : outcome(() => (compiled as (value: unknown) => boolean)(attributes));
    if (expected !== actual)
      mismatches.push(`${JSON.stringify(condition)} on ${JSON.stringify(attributes)}: GrowthBook ${expected}, ours ${actual}`);
  }
  return mismatches;
}

describe("conditions, operator by operator", () => {
  const user = {
    id: "u1",
    age: 34,
    name: "Ada",
    plan: null,
    tags: ["a", "B", 3],
    orders: [
      { total: 120, items: 2 },
      { total: 15, items: 1 },
    ],
    geo: { country: "DE", city: "Berlin" },
    version: "1.2.10",
    premium: true,
    behavior: { views_10m: { category: { electronics: 2 } } },
  };
  const cases: [string, Record<string, unknown>, boolean][] = [
    ["literal equality", { name: "Ada" }, true],
    ["missing attribute against null", { missing: null }, true],
    ["number coerces", { age: 34 }, true],
    ["string of a number", { age: "34" }, true],
    ["boolean", { premium: true }, true],
    ["array literal", { tags: ["a", "B", 3] }, true],
    ["object literal", { geo: { country: "DE", city: "Berlin" } }, true],
    ["$eq", { age: { $eq: 34 } }, true],
    ["$ne", { age: { $ne: 34 } }, false],
    ["$lt", { age: { $lt: 40 } }, true],
    ["$lte", { age: { $lte: 34 } }, true],
    ["$gt", { age: { $gt: 40 } }, false],
    ["$gte on a profile count", { "behavior.views_10m.category.electronics": { $gte: 2 } }, true],
    ["$lt on a missing attribute (null < 5)", { missing: { $lt: 5 } }, true],
    ["$exists true", { plan: { $exists: true } }, false],
    ["$exists false", { plan: { $exists: false } }, true],
    ["$in", { "geo.country": { $in: ["DE", "AT"] } }, true],
    ["$in intersects arrays", { tags: { $in: ["x", 3] } }, true],
    ["$in with a non-array", { name: { $in: "Ada" } }, false],
    ["$nin", { "geo.country": { $nin: ["DE"] } }, false],
    ["$ini", { "geo.country": { $ini: ["de"] } }, true],
    ["$nini", { "geo.city": { $nini: ["BERLIN"] } }, false],
    ["$all", { tags: { $all: ["a", 3] } }, true],
    ["$all on a non-array", { name: { $all: ["Ada"] } }, false],
    ["$alli", { tags: { $alli: ["A", "b"] } }, true],
    ["$elemMatch with a condition", { orders: { $elemMatch: { total: { $gt: 100 } } } }, true],
    ["$elemMatch with operators", { tags: { $elemMatch: { $eq: "B" } } }, true],
    ["$size", { tags: { $size: 3 } }, true],
    ["$size with an operator", { orders: { $size: { $gt: 2 } } }, false],
    ["$regex", { name: { $regex: "^A" } }, true],
    ["$regex invalid", { name: { $regex: "(" } }, false],
    ["$regex on null reads 'null'", { plan: { $regex: "nu" } }, true],
    ["$regexi", { name: { $regexi: "^ada$" } }, true],
    ["$type", { tags: { $type: "array" } }, true],
    ["$type null", { plan: { $type: "null" } }, true],
    ["$not on a value", { age: { $not: { $lt: 18 } } }, true],
    ["$veq", { version: { $veq: "1.2.10" } }, true],
    ["$vne", { version: { $vne: "1.2.9" } }, true],
    ["$vgt (10 > 9 numerically)", { version: { $vgt: "1.2.9" } }, true],
    ["$vgte", { version: { $vgte: "v1.2.10" } }, true],
    ["$vlt pre-release", { version: { $vlt: "1.2.10-beta" } }, false],
    ["$vlte", { version: { $vlte: "1.3.0" } }, true],
    ["$and", { $and: [{ age: { $gt: 18 } }, { premium: true }] }, true],
    ["$or", { $or: [{ age: { $lt: 18 } }, { name: "Ada" }] }, true],
    ["$or empty matches", { $or: [] }, true],
    ["$nor", { $nor: [{ age: { $lt: 18 } }, { name: "Bob" }] }, true],
    ["$not", { $not: { name: "Ada" } }, false],
    ["$savedGroup list", { $savedGroup: { id: "vip" } }, true],
    ["$savedGroup condition", { $savedGroup: { id: "germans" } }, true],
    ["$savedGroup cycle matches nobody", { $savedGroup: { id: "loop" } }, false],
    ["$savedGroup unknown", { $savedGroup: { id: "nobody" } }, false],
    ["$inGroup", { id: { $inGroup: "vip" } }, true],
    ["$inGroup legacy array", { name: { $inGroup: "legacy" } }, false],
    ["$notInGroup", { id: { $notInGroup: "vip" } }, false],
    ["$notInGroup on a malformed group", { id: { $notInGroup: "broken" } }, false],
    ["empty condition", {}, true],
    ["prototype key reads through `in`", { "name.length": 3 }, false],
    ["unknown operator matches nothing", { age: { $near: 3 } }, false],
  ];

  it.each(cases)("%s", (_, condition, expected) => {
    expect(growthbook(user, condition as never, groups as never)).toBe(expected);
    expect(evalCondition(user, condition, groups)).toBe(expected);
  });
});

describe("conditions against GrowthBook, generated", () => {
  const VALUES: readonly unknown[] = [
    0,
    1,
    -1,
    2.5,
    34,
    100,
    "",
    "a",
    "A",
    "abc",
    "B",
    "1",
    "34",
    "true",
    "null",
    "1.2.3",
    "v2.0.0-rc.1",
    "DE",
    true,
    false,
    null,
  ];
  const PATHS = [
    "id",
    "age",
    "name",
    "tags",
    "orders",
    "geo.country",
    "geo.city",
    "version",
    "premium",
    "plan",
    "missing",
    "behavior.views_10m.category.electronics",
    "a.b.c",
  ];

  function value(random: Random, depth = 0): unknown {
    const roll = random();
    if (depth < 2 && roll < 0.12) return Array.from({ length: random.int(4) }, () => value(random, depth + 1));
    if (depth < 2 && roll < 0.18) return { country: random.pick(["DE", "US"]), total: random.pick([5, 120]) };
    return random.pick(VALUES);
  }

  function attributes(random: Random): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    for (const path of PATHS) {
      if (random.chance(0.25)) continue;
      const parts = path.split(".");
      let target = result;
      for (const part of parts.slice(0, -1)) {
        target[part] ??= {};
        target = target[part] as Record<string, unknown>;
      }
      const last = parts.at(-1) ?? path;
      target[last] =
        last === "tags"
          ? [random.pick(["a", "B", 3, "c"]), random.pick(["a", 1, null])]
          : last === "orders"
            ? [{ total: random.pick([5, 120]), items: random.int(3) }, random.pick([null, 0, { total: 50 }])]
            : value(random);
    }
    return result;
  }

  function operatorValue(random: Random, depth: number): Record<string, unknown> {
    const operators: [string, () => unknown][] = [
      ["$eq", () => value(random)],
      ["$ne", () => value(random)],
      ["$lt", () => value(random)],
      ["$lte", () => value(random)],
      ["$gt", () => value(random)],
      ["$gte", () => value(random)],
      ["$exists", () => random.pick([true, false, 0, 1])],
      ["$in", () => (random.chance(0.9) ? Array.from({ length: random.int(4) }, () => value(random)) : value(random))],
      ["$nin", () => (random.chance(0.9) ? Array.from({ length: random.int(4) }, () => value(random)) : value(random))],
      ["$ini", () => Array.from({ length: random.int(4) }, () => random.pick(["a", "A", "de", "DE", "b", 1]))],
      ["$nini", () => Array.from({ length: random.int(4) }, () => random.pick(["a", "A", "de", "DE", "b", 1]))],
      ["$all", () => Array.from({ length: random.int(3) }, () => (random.chance(0.3) ? operatorValue(random, depth + 1) : value(random)))],
      ["$alli", () => Array.from({ length: random.int(3) }, () => random.pick(["a", "A", "b", "C", 3]))],
      ["$size", () => (random.chance(0.5) ? random.int(4) : operatorValue(random, depth + 1))],
      ["$elemMatch", () => (random.chance(0.5) ? operatorValue(random, depth + 1) : condition(random, depth + 1))],
      ["$regex", () => random.pick(["^a", "b$", "(", "[0-9]+", "nu", "^$", ".*", "a/b", "\\d"])],
      ["$regexi", () => random.pick(["^A", "B$", "(", "de", "NULL"])],
      ["$type", () => random.pick(["string", "number", "boolean", "array", "object", "null", "undefined"])],
      ["$not", () => operatorValue(random, depth + 1)],
      ["$veq", () => random.pick(["1.2.3", "1.2.3-beta", "v1.2.3", "2.0.0", "", 1])],
      ["$vne", () => random.pick(["1.2.3", "2.0.0-rc.1"])],
      ["$vgt", () => random.pick(["1.2.3", "1.10.0", "0.0.1", "2.0.0-rc.1"])],
      ["$vgte", () => random.pick(["1.2.3", "v2.0.0"])],
      ["$vlt", () => random.pick(["1.2.3", "10.0.0", "2.0.0"])],
      ["$vlte", () => random.pick(["1.2.3", "1.2.3-alpha"])],
      ["$inGroup", () => random.pick(["vip", "legacy", "broken", "nobody", "germans"])],
      ["$notInGroup", () => random.pick(["vip", "legacy", "broken", "nobody", "germans"])],
    ];
    const result: Record<string, unknown> = {};
    const count = 1 + random.int(depth > 1 ? 1 : 2);
    for (let index = 0; index < count; index++) {
      const [name, make] = random.pick(operators);
      if (depth > 2 && (name === "$elemMatch" || name === "$not" || name === "$size" || name === "$all")) continue;
      result[name] = make();
    }
    return Object.keys(result).length === 0 ? { $eq: value(random) } : result;
  }

  function condition(random: Random, depth = 0): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    const count = 1 + random.int(3);
    for (let index = 0; index < count; index++) {
      const roll = random();
      if (depth < 2 && roll < 0.08) result.$or = Array.from({ length: random.int(3) }, () => condition(random, depth + 1));
      else if (depth < 2 && roll < 0.14) result.$and = Array.from({ length: random.int(3) }, () => condition(random, depth + 1));
      else if (depth < 2 && roll < 0.18) result.$nor = Array.from({ length: random.int(3) }, () => condition(random, depth + 1));
      else if (depth < 2 && roll < 0.22) result.$not = condition(random, depth + 1);
      else if (roll < 0.26)
        result.$savedGroup = random.pick([
          { id: "vip" },
          { id: "germans" },
          { id: "loop" },
          { id: "nobody" },
          { id: "vip", attributeKey: "name" },
          { id: "future" },
          "vip",
        ]);
      else result[random.pick(PATHS)] = random.chance(0.75) ? operatorValue(random, depth) : value(random);
    }
    return result;
  }

  it("agrees with GrowthBook on at least 10,000 generated cases", () => {
    const seed = seedForRun();
    console.log(`condition differential seed: ${seed} (replay with TEST_SEED=${seed})`);
    const random = seededRandom(seed);
    const mismatches: string[] = [];
    let cases = 0;
    for (let index = 0; index < 3_000; index++) {
      const sets = Array.from({ length: 4 }, () => attributes(random));
      mismatches.push(...compare(condition(random), sets));
      cases += sets.length;
    }
    expect(cases).toBeGreaterThanOrEqual(10_000);
    expect(mismatches.slice(0, 5), `seed ${seed}`).toEqual([]);
  });
});

describe("conditionPaths", () => {
  it("lists every attribute a condition reads, through logic and saved groups", () => {
    const paths = conditionPaths(
      {
        "geo.country": "DE",
        $or: [{ "behavior.views_10m.total": { $gte: 1 } }, { $not: { "cart.value": { $gt: 50 } } }],
        orders: { $elemMatch: { total: { $gt: 5 } } },
        $savedGroup: { id: "vip" },
        $and: [{ $savedGroup: { id: "germans" } }],
      },
      groups,
    );
    expect(paths.sort()).toEqual(["behavior.views_10m.total", "cart.value", "geo.country", "id", "orders"]);
  });
});
