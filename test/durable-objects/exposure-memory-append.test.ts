/**
 * Compaction appending to part rows: with multi-byte and JSON-hostile rule ids, slots and
 * variants, over several steps and a redelivered batch, every part row stays valid JSON within the
 * platform's row size, a lookup finds each decision once, and erasure leaves no trace of the visitor.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { MAX_ROW_BYTES, partOf, type RememberedDecision } from "../../durable-objects/exposure-memory.ts";

const MINUTE = 60 * 1_000;

function pseudonym(): string {
  return `review${crypto.randomUUID().replaceAll("-", "")}`;
}

const RULE = "€".repeat(64);
const SLOT = "😀".repeat(32);
const EXPERIMENT = `"]',\\[${"ü".repeat(58)}`;
const VARIANT = "\u2028\u0000}".repeat(21);

function decision(visitor: string, decisionId: string, minutesAgo: number): RememberedDecision {
  return {
    visitor,
    decisionId,
    at: new Date(Date.now() - 5 * MINUTE - minutesAgo * MINUTE).toISOString(),
    assignments: [0, 1, 2].map((index) => ({
      ruleId: RULE,
      slot: `${SLOT.slice(0, 62)}${index}`,
      experiment: EXPERIMENT,
      variant: VARIANT,
    })),
  };
}

describe("compaction appending to part rows", () => {
  it("keeps part rows valid and bounded, recalls each decision once and forgets the visitor", async () => {
    const shard = env.EXPOSURE_MEMORY.getByName(`review-append-${crypto.randomUUID()}`);
    const visitor = pseudonym();
    const others: string[] = [];
    while (others.length < 10) {
      const candidate = pseudonym();
      if (partOf(candidate) === partOf(visitor)) others.push(candidate);
    }
    const steps = 6;
    const perStep = 400;
    let first: RememberedDecision[] = [];
    for (let step = 0; step < steps; step++) {
      const batch = Array.from({ length: perStep }, (_, index) =>
        decision(index % 40 === 0 ? visitor : (others[index % others.length] ?? ""), `s${step}-${index}`, index),
      );
      if (step === 0) first = batch;
      // The first batch is delivered again in a later step (at-least-once delivery).
      await shard.remember(step === 3 ? [...batch, ...first.slice(0, 50)] : batch);
      expect(await runDurableObjectAlarm(shard)).toBe(true);
    }
    const rows = await runInDurableObject(shard, (_, state) =>
      state.storage.sql.exec<{ decisions: string; chars: number }>("SELECT decisions, length(decisions) AS chars FROM parts").toArray(),
    );
    const encoder = new TextEncoder();
    let maxBytes = 0;
    for (const row of rows) {
      expect(() => JSON.parse(row.decisions)).not.toThrow();
      maxBytes = Math.max(maxBytes, encoder.encode(row.decisions).length);
    }
    // The bound counts characters, not bytes: rows of multi-byte names pass MAX_ROW_BYTES in bytes
    // (about 186 KB here), but stay well below the 2 MB Durable Objects' SQLite allows a row.
    for (const row of rows) expect(row.chars).toBeLessThanOrEqual(MAX_ROW_BYTES);
    expect(maxBytes).toBeGreaterThan(MAX_ROW_BYTES);
    expect(maxBytes).toBeLessThan(2_000_000);

    const recalled = await shard.recall([visitor]);
    const expected = (steps * perStep) / 40;
    expect(recalled.length).toBe(expected * 3);
    expect(new Set(recalled.map((one) => `${one.decisionId}/${one.slot}`)).size).toBe(expected * 3);
    expect(recalled[0]).toMatchObject({ ruleId: RULE, experiment: EXPERIMENT, variant: VARIANT });

    await shard.forget([visitor]);
    expect(await shard.recall([visitor])).toEqual([]);
    const after = await runInDurableObject(shard, (_, state) =>
      state.storage.sql.exec<{ decisions: string }>("SELECT decisions FROM parts UNION ALL SELECT decisions FROM batches").toArray(),
    );
    for (const row of after) {
      expect(row.decisions).not.toContain(visitor);
      expect(() => JSON.parse(row.decisions)).not.toThrow();
    }
    expect((await shard.recall([others[0] ?? ""])).length).toBeGreaterThan(0);

    // Appending after an erasure rewrote the rows keeps them valid.
    await shard.remember(
      Array.from({ length: perStep }, (_, index) => decision(others[index % others.length] ?? "", `late-${index}`, index)),
    );
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    const late = await runInDurableObject(shard, (_, state) =>
      state.storage.sql.exec<{ decisions: string }>("SELECT decisions FROM parts").toArray(),
    );
    for (const row of late) expect(() => JSON.parse(row.decisions)).not.toThrow();
    expect((await shard.recall([others[1] ?? ""])).some((one) => one.decisionId.startsWith("late-"))).toBe(true);
  });
});

describe("lookups cut short by their row budget", () => {
  it("count one lookup once, however many of its row sets ran out", async () => {
    const shard = env.EXPOSURE_MEMORY.getByName(`review-short-${crypto.randomUUID()}`);
    const visitor = pseudonym();
    let second = pseudonym();
    while (partOf(second) === partOf(visitor)) second = pseudonym();
    const other = pseudonym();
    await shard.remember([decision(visitor, "d-visitor", 300)]);
    // The newest bucket rows and both pseudonyms' parts hold more rows than a lookup reads, all of this minute and hour.
    await runInDurableObject(shard, (_, state) => {
      const sql = state.storage.sql;
      const bucket = Math.floor(Date.now() / MINUTE);
      const hour = Math.floor(Date.now() / (60 * MINUTE));
      const row = JSON.stringify([[other, "filler", Date.now(), []]]);
      for (let seq = 0; seq < 600; seq++) sql.exec("INSERT INTO batches (bucket, seq, decisions) VALUES (?, ?, ?)", bucket, seq + 10, row);
      for (const part of [partOf(visitor), partOf(second)])
        for (let seq = 0; seq < 600; seq++)
          sql.exec("INSERT INTO parts (part, hour, seq, decisions) VALUES (?, ?, ?, ?)", part, hour, seq, row);
    });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    // The first lookup logs at once; the next one, a minute later, logs the lookups cut short since: itself only.
    await shard.recall([visitor, second]);
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 61_000 });
    try {
      await shard.recall([visitor, second]);
    } finally {
      vi.useRealTimers();
    }
    const lines = warn.mock.calls.map((call) => JSON.parse(String(call[0])) as { lookups: number });
    warn.mockRestore();
    expect(lines.map((line) => line.lookups)).toEqual([1, 1]);
  });
});

describe("a damaged part row", () => {
  it("is not appended to: the decisions compacted after it are still recalled", async () => {
    const shard = env.EXPOSURE_MEMORY.getByName(`append-damaged-${crypto.randomUUID()}`);
    const visitor = pseudonym();
    const at = Date.now() - MINUTE;
    const hour = Math.floor(at / (60 * MINUTE));
    // The newest row of the visitor's part and hour is not valid JSON (a damaged write, a hand edit).
    await runInDurableObject(shard, (_, state) => {
      state.storage.sql.exec(
        "INSERT INTO parts (part, hour, seq, decisions) VALUES (?, ?, ?, ?)",
        partOf(visitor),
        hour,
        0,
        '[["x","y",1,[]]',
      );
    });
    const mine = (id: string): RememberedDecision => ({
      visitor,
      decisionId: id,
      at: new Date(at).toISOString(),
      assignments: [{ ruleId: "hero", slot: "hero", experiment: null, variant: null }],
    });
    // Enough one-decision batches for the shard to compact them into the visitor's part.
    for (let index = 0; index < 400; index++) await shard.remember([mine(`d-${index}`)]);
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    const recalled = new Set((await shard.recall([visitor])).map((one) => one.decisionId));
    expect(recalled.size).toBe(400);
  });
});
