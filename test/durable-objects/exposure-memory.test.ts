/**
 * The sharded exposure memory, called as the consumer and the visitors' objects call it.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  exposureShard,
  forgetExposures,
  PRUNE_STEP_ROWS,
  type RememberedDecision,
  recallExposures,
  rememberExposures,
} from "../../durable-objects/exposure-memory.ts";

const HOUR = 60 * 60 * 1_000;

function pseudonym(): string {
  return `memory${crypto.randomUUID().replaceAll("-", "")}`;
}

function entry(visitor: string, decisionId: string, hoursAgo: number, slot = "hero"): RememberedDecision {
  return {
    visitor,
    decisionId,
    at: new Date(Date.now() - hoursAgo * HOUR).toISOString(),
    assignments: [{ ruleId: "electronics-hero", slot, experiment: null, variant: null }],
  };
}

describe("ExposureMemory", () => {
  it("remembers each exposure once and recalls a visitor's within the window, newest first", async () => {
    const visitor = pseudonym();
    const other = pseudonym();
    const inExperiment: RememberedDecision = {
      ...entry(visitor, "d-2", 1),
      assignments: [
        { ruleId: "electronics-hero", slot: "hero", experiment: "hero-copy", variant: "b" },
        { ruleId: "basket-banner", slot: "banner", experiment: null, variant: null },
      ],
    };
    const batch = [entry(visitor, "d-old", 30), entry(visitor, "d-1", 2), inExperiment, entry(other, "d-9", 1)];
    await rememberExposures(env, batch);
    await rememberExposures(env, batch); // a redelivered queue batch
    const recalled = await recallExposures(env, [visitor]);
    expect(recalled.map((exposure) => `${exposure.decisionId}/${exposure.slot}`).sort()).toEqual(["d-1/hero", "d-2/banner", "d-2/hero"]);
    expect(recalled.slice(0, 2).map((exposure) => exposure.decisionId)).toEqual(["d-2", "d-2"]);
    expect(recalled.find((exposure) => exposure.slot === "hero" && exposure.decisionId === "d-2")).toEqual({
      decisionId: "d-2",
      ruleId: "electronics-hero",
      slot: "hero",
      experiment: "hero-copy",
      variant: "b",
      at: Date.parse(inExperiment.at),
    });
    expect(recalled[2]).toMatchObject({ decisionId: "d-1", experiment: null, variant: null });
  });

  it("recalls across a user's pseudonyms, wherever their shards are", async () => {
    const names = Array.from({ length: 40 }, (_, index) => `shardProbe${String(index).padStart(8, "0")}`);
    const shards = new Set(names.map((name) => exposureShard(env, name)));
    expect(shards.size).toBe(Number(env.EXPOSURE_MEMORY_SHARDS));
    const [user, ...aliases] = names;
    const alias = aliases.find((name) => exposureShard(env, name) !== exposureShard(env, user ?? ""));
    await rememberExposures(env, [entry(user ?? "", "d-user", 3), entry(alias ?? "", "d-alias", 1)]);
    expect((await recallExposures(env, [user ?? "", alias ?? ""])).map((exposure) => exposure.decisionId)).toEqual(["d-alias", "d-user"]);
  });

  it("forgets everything about the visitors named, and nobody else", async () => {
    const visitor = pseudonym();
    const other = pseudonym();
    await rememberExposures(env, [entry(visitor, "d-1", 1), entry(visitor, "d-2", 1, "banner"), entry(other, "d-3", 1)]);
    await forgetExposures(env, [visitor]);
    expect(await recallExposures(env, [visitor])).toEqual([]);
    expect(await recallExposures(env, [other])).toHaveLength(1);
  });
});

describe("ExposureMemory prune", () => {
  it("deletes expired rows in bounded steps, one alarm run each, until none is left, and keeps the live ones", async () => {
    const shard = env.EXPOSURE_MEMORY.getByName(`prune-${crypto.randomUUID()}`);
    const expired = PRUNE_STEP_ROWS * 2 + 345;
    const visitors = Array.from({ length: 50 }, () => pseudonym());
    const old = Array.from({ length: expired }, (_, index) =>
      entry(visitors[index % visitors.length] ?? "", `old-${index}`, 8 * 24 + (index % 50)),
    );
    const live = Array.from({ length: 30 }, (_, index) => entry(visitors[index] ?? "", `live-${index}`, 1));
    for (let start = 0; start < old.length; start += 1_000) await shard.remember(old.slice(start, start + 1_000));
    await shard.remember(live);

    const count = () =>
      runInDurableObject(shard, async (_, state) => ({
        rows: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM decisions").one().n,
        alarm: await state.storage.getAlarm(),
      }));
    expect((await count()).rows).toBe(expired + live.length);
    expect((await count()).alarm).not.toBeNull();

    // One run deletes one step of the oldest expired rows, not all of them.
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    expect((await count()).rows).toBe(expired + live.length - PRUNE_STEP_ROWS);
    // It re-armed itself and goes on (here run by hand; the alarm may also fire on its own) until none is left.
    for (let run = 0; run < 50 && (await count()).rows > live.length; run++) {
      if (!(await runDurableObjectAlarm(shard))) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await count()).rows).toBe(live.length);
    for (let run = 0; run < 50 && (await count()).alarm !== null; run++) {
      if (!(await runDurableObjectAlarm(shard))) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await count()).alarm).toBeNull();
    expect(await shard.recall([visitors[0] ?? ""])).toHaveLength(1);

    // The next write arms the next prune.
    await shard.remember([entry(visitors[0] ?? "", "later", 0)]);
    expect((await count()).alarm).not.toBeNull();
  });
});

describe("ExposureMemory, rows kept before one row per decision", () => {
  it("recalls a visitor's version-1 rows (one per slot) next to the new ones, and prunes and forgets both", async () => {
    const shard = env.EXPOSURE_MEMORY.getByName(`v1-${crypto.randomUUID()}`);
    const visitor = pseudonym();
    await shard.remember([entry(visitor, "d-new", 1)]);
    await runInDurableObject(shard, (_, state) => {
      const insert = "INSERT INTO exposures (visitor, decision_id, slot, rule_id, experiment, variant, at) VALUES (?, ?, ?, ?, ?, ?, ?)";
      state.storage.sql.exec(insert, visitor, "d-old", "hero", "electronics-hero", "hero-copy", "b", Date.now() - 2 * HOUR);
      state.storage.sql.exec(insert, visitor, "d-old", "banner", "basket-banner", null, null, Date.now() - 2 * HOUR);
      state.storage.sql.exec(insert, visitor, "d-expired", "hero", "electronics-hero", null, null, Date.now() - 9 * 24 * HOUR);
    });
    const recalled = (await shard.recall([visitor])).map((exposure) => `${exposure.decisionId}/${exposure.slot}/${exposure.variant}`);
    expect(recalled[0]).toBe("d-new/hero/null");
    expect(recalled.slice(1).sort()).toEqual(["d-old/banner/null", "d-old/hero/b"]);
    for (let run = 0; run < 10 && (await runDurableObjectAlarm(shard)); run++);
    const left = () =>
      runInDurableObject(shard, (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM exposures").one().n);
    expect(await left()).toBe(2);
    await shard.forget([visitor]);
    expect(await left()).toBe(0);
    expect(await shard.recall([visitor])).toEqual([]);
  });
});
