/**
 * Storage rows written per delivered exposure, the largest line of the bill (`npm run cost`):
 * decisions go through the real consumer into the exposure memory and the experiment's counts, and
 * the objects' own meters (`usage`) count every statement, the later expiry deletes included (the
 * stored times are moved back, then the prunes run as they would once the windows have passed). A
 * consumer batch of 100 messages writes about one exposure-memory row per shard and minute.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RowCounts } from "../../../durable-objects/row-meter.ts";
import type { DecisionBatchMessage, ExposureBatchMessage } from "../../../shared/feedback/messages.ts";
import { statsObjectName } from "../../../workers/common/experiment-shards.ts";
import { consumeQueue } from "../../../workers/feedback/consumer.ts";
import { experimentCounts } from "../../support/worker/experiment-stats.ts";

const DAY = 24 * 60 * 60 * 1_000;
// A full consumer batch (`max_batch_size` 100) of messages holding one or two decisions each, as
// isolates that see a page view or two within `EXPOSURE_BATCH_MS` send them.
const MESSAGES = 100;
const DECISIONS_PER_MESSAGE = 2;
const SLOTS = ["hero", "banner", "footer"] as const;

function decision(experiment: string, index: number): ExposureBatchMessage {
  return {
    v: 1,
    kind: "exposures",
    id: crypto.randomUUID(),
    visitor: `rows${crypto.randomUUID().replaceAll("-", "")}`.slice(0, 32),
    path: "/",
    rulesVersion: 1,
    holdout: false,
    at: new Date().toISOString(),
    assignments: SLOTS.map((slot, position) =>
      position === 0
        ? { ruleId: `${slot}-rule`, slot, experiment, variant: index % 2 === 0 ? "a" : "b" }
        : { ruleId: `${slot}-rule`, slot, experiment: null, variant: null },
    ),
  };
}

const shards = () =>
  Array.from({ length: Number(env.EXPOSURE_MEMORY_SHARDS) }, (_, index) => env.EXPOSURE_MEMORY.getByName(`shard-${index}`));

async function written(stubs: { usage(): Promise<RowCounts> }[]): Promise<number> {
  const usages = await Promise.all(stubs.map((stub) => stub.usage()));
  return usages.reduce((sum, usage) => sum + usage.rowsWritten, 0);
}

describe("rows written per delivered exposure", () => {
  it("stays under the figure the cost model uses, expiry deletes included", async () => {
    const experiment = `rows-${crypto.randomUUID()}`;
    // Every shard of the experiment's counts (workers/common/experiment-shards.ts).
    const stats = Array.from({ length: Number(env.EXPERIMENT_STATS_SHARDS) }, (_, shard) =>
      env.EXPERIMENT_STATS.getByName(statsObjectName(experiment, shard)),
    );
    const bodies: DecisionBatchMessage[] = Array.from({ length: MESSAGES }, (_, message) => ({
      v: 1,
      kind: "decisions",
      id: crypto.randomUUID(),
      decisions: Array.from({ length: DECISIONS_PER_MESSAGE }, (_, index) => decision(experiment, message * DECISIONS_PER_MESSAGE + index)),
    }));
    const exposures = MESSAGES * DECISIONS_PER_MESSAGE * SLOTS.length;
    const objects = [...shards(), ...stats];
    const before = await written(objects);
    const memoryBefore = await written(shards());

    const batch = createMessageBatch(
      "tailor-feedback",
      bodies.map((body, index) => ({ id: `message-${index}`, timestamp: new Date(), attempts: 1, body })),
    );
    await consumeQueue(batch, env);
    const outcome = (await getQueueResult(batch, createExecutionContext())) as { explicitAcks: string[] };
    expect(outcome.explicitAcks).toHaveLength(MESSAGES);
    expect((await experimentCounts(experiment)).a?.trials).toBe((MESSAGES * DECISIONS_PER_MESSAGE) / 2);

    // The windows pass: stored times move back (outside the meters), then each object prunes as it would.
    for (const shard of shards()) {
      await runInDurableObject(shard, (_, state) => {
        for (const [table, column, by] of [
          ["exposures", "at", 8 * DAY],
          ["decisions", "at", 8 * DAY],
          ["batches", "bucket", (8 * DAY) / 60_000],
        ] as const)
          if (state.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE name = ?", table).toArray().length > 0)
            state.storage.sql.exec(`UPDATE ${table} SET ${column} = ${column} - ?`, by);
      });
      for (let run = 0; run < 20 && (await runDurableObjectAlarm(shard)); run++);
    }
    for (const shard of stats) {
      await runInDurableObject(shard, (_, state) => {
        state.storage.sql.exec("UPDATE seen SET until = 0");
      });
      // The next write to the shard deletes what expired (here one that adds nothing).
      await shard.add([]);
      await runInDurableObject(shard, (_, state) => {
        expect(state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM seen").one().n).toBe(0);
      });
    }
    for (const shard of shards())
      await runInDurableObject(shard, (_, state) => {
        for (const table of ["exposures", "decisions", "batches"])
          if (state.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE name = ?", table).toArray().length > 0)
            expect(state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n).toBe(0);
      });

    const memory = ((await written(shards())) - memoryBefore) / exposures;
    const perExposure = ((await written(objects)) - before) / exposures;
    // The exposure memory writes a row per shard and minute bucket for the whole batch, and deletes it
    // once: measured 0.013 per exposure (8 rows for 600 exposures; 1.0 with a row per decision, 3.0
    // with a row per slot). The experiment's rows come on top: one delivery id per queue message
    // (durable-objects/experiment-stats.ts), 0.5 per exposure here, where every message holds two
    // decisions in the experiment.
    expect(memory).toBeLessThanOrEqual(0.1);
    expect(perExposure).toBeLessThanOrEqual(1.1);
  });
});
