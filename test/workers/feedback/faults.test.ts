/**
 * What the consumer does when the proxy misbehaves, against a double with faults switched on:
 * 5xx, hanging requests, per-record errors, records refused as sent — and dead letters kept and
 * replayed.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, inject, it } from "vitest";
import { consumeQueue } from "../../../workers/feedback/consumer.ts";
import { experimentCounts } from "../../support/worker/experiment-stats.ts";
import { eventually } from "../../support/worker/fixtures.ts";
import { deliverBatch, homepageExposure } from "../../support/worker/queue.ts";

const FAULTY = inject("kafkaRestFaultyUrl");

/** The double's fault modes (scripts/kafka-rest/server.ts). */
type Faults = { mode: "none" } | { mode: "status"; status: number } | { mode: "hang" } | { mode: "record-errors"; every: number };

async function setFaults(faults: Faults): Promise<void> {
  await fetch(`${FAULTY}/_double/faults`, { method: "POST", body: JSON.stringify(faults) });
}

async function received(): Promise<{ value: { id: string } }[]> {
  return (await (await fetch(`${FAULTY}/_double/records`)).json()) as { value: { id: string } }[];
}

function exposures(count: number) {
  return Array.from({ length: count }, () =>
    homepageExposure("faultyVisitorPseudonym0000000000", { assignments: [{ ruleId: "r", slot: "hero", experiment: null, variant: null }] }),
  );
}

/** One delivery of `bodies` on the feedback queue, with the Kafka REST proxy at the faulty double. */
function consume(bodies: unknown[], overrides: Partial<Env> = {}) {
  return deliverBatch("tailor-feedback", bodies, { KAFKA_REST_URL: FAULTY, ...overrides });
}

afterEach(async () => {
  await setFaults({ mode: "none" });
});

describe("consumer under faults", () => {
  it("retries the whole batch on 5xx, then delivers it once the proxy recovers", async () => {
    await setFaults({ mode: "status", status: 503 });
    const bodies = exposures(3);
    const failing = await consume(bodies);
    expect(failing.acked).toEqual([]);
    expect(failing.retried).toEqual(["message-0", "message-1", "message-2"]);
    await setFaults({ mode: "none" });
    const recovered = await consume(bodies);
    expect(recovered.acked).toEqual(["message-0", "message-1", "message-2"]);
    const ids = new Set((await received()).map((record) => record.value.id));
    for (const body of bodies) expect(ids.has(`${body.id}:hero`)).toBe(true);
  });

  it("treats a proxy that does not answer in time as unavailable", async () => {
    await setFaults({ mode: "hang" });
    const { retried } = await consume(exposures(2), { KAFKA_REST_TIMEOUT_MS: "200" });
    expect(retried).toEqual(["message-0", "message-1"]);
  });

  it("retries only the messages whose records failed inside a 200 response", async () => {
    await setFaults({ mode: "record-errors", every: 2 });
    const bodies = exposures(6);
    const { acked, retried } = await consume(bodies);
    expect(acked.length).toBeGreaterThan(0);
    expect(retried.length).toBeGreaterThan(0);
    expect(acked.length + retried.length).toBe(6);
  });

  it("dead-letters a record the proxy refuses as sent without losing its batch mates", async () => {
    const bodies = exposures(3);
    // An exposures message whose path the proxy cannot take: a topic name Kafka forbids makes the whole request 404.
    const { acked, retried } = await consume(bodies, { KAFKA_TOPIC_FEEDBACK: "not a valid topic!" });
    expect(retried).toEqual([]);
    expect(acked).toEqual(["message-0", "message-1", "message-2"]);
    // Dead letters travel through the dead-letter queue to the DeadLetters object.
    await eventually(async () => {
      const summary = await env.DEAD_LETTERS.getByName("all").summary();
      return (summary.byReason.find((row) => row.reason === "refused-404")?.count ?? 0) >= 3 ? true : undefined;
    });
  });
});

describe("consumer when the learning loop fails", () => {
  /** Experiment counts whose `add` fails `failures` times for `experiment`, then works. */
  function flakyStats(experiment: string, failures: number): Env["EXPERIMENT_STATS"] {
    let left = failures;
    return {
      getByName: (name: string) => {
        const real = env.EXPERIMENT_STATS.getByName(name);
        // Every shard of the experiment's counts (`<experiment>` and `<experiment>#<n>`).
        if (name !== experiment && !name.startsWith(`${experiment}#`)) return real;
        return {
          layout: (proposed: number) => real.layout(proposed),
          add: async (updates: Parameters<typeof real.add>[0]) => {
            if (left-- > 0) throw new Error("Durable Object overloaded");
            return real.add(updates);
          },
        };
      },
    } as unknown as Env["EXPERIMENT_STATS"];
  }

  const failures = [
    { name: "exposures", kind: "exposures" },
    { name: "a decisions batch", kind: "decisions" },
  ] as const;

  it.each(failures)("retries $name whose experiment counts could not be written, and counts them once", async ({ kind }) => {
    const experiment = `flaky_${crypto.randomUUID().slice(0, 8)}`;
    const bodies = exposures(3);
    const inExperiment = { ...bodies[1], assignments: [{ ruleId: "r", slot: "hero", experiment, variant: "a" }] };
    const message = kind === "exposures" ? inExperiment : { v: 1, kind: "decisions", id: crypto.randomUUID(), decisions: [inExperiment] };
    const sent = [bodies[0], message, bodies[2]];
    const failing = await consume(sent, { EXPERIMENT_STATS: flakyStats(experiment, 1) });
    // The others are done; the one whose counts failed comes back rather than being lost.
    expect(failing.acked).toEqual(["message-0", "message-2"]);
    expect(failing.retried).toEqual(["message-1"]);
    const again = await consume([message]);
    expect(again.acked).toEqual(["message-0"]);
    expect(await experimentCounts(experiment)).toEqual({
      a: { trials: 1, successes: 0, conversions: 0, revenue: 0 },
    });
  });
});

describe("dead letters", () => {
  it("keeps malformed messages with the reason and replays letters once the cause is fixed", async () => {
    const deadLetters = env.DEAD_LETTERS.getByName("all");
    const before = (await deadLetters.summary()).total;
    const body = exposures(1)[0];
    await deadLetters.add([{ queue: "tailor-feedback", reason: "refused-404", detail: "test", attempts: 3, failedAt: Date.now(), body }]);
    expect((await deadLetters.summary()).total).toBe(before + 1);

    const outcome = await deadLetters.replay();
    expect(outcome.replayed).toBe(before + 1);
    expect(outcome.remaining).toBe(0);
    // The replayed message goes back through the real queue and the consumer to the proxy.
    await eventually(async () => {
      const records = (await (await fetch(`${env.KAFKA_REST_URL}/_double/records`)).json()) as { value: { id: string } }[];
      return records.some((record) => record.value.id === `${body?.id}:hero`) ? true : undefined;
    });
  });

  it("stores what arrives on the dead-letter queue, wrapped or as the queue gave up on it", async () => {
    const batch = createMessageBatch("tailor-dead-letter", [
      {
        id: "d-1",
        timestamp: new Date(),
        attempts: 1,
        body: {
          v: 1,
          kind: "dead-letter",
          queue: "tailor-events",
          reason: "malformed",
          detail: "x",
          attempts: 1,
          failedAt: Date.now(),
          body: { nonsense: true },
        },
      },
      { id: "d-2", timestamp: new Date(), attempts: 1, body: exposures(1)[0] },
    ]);
    const context = createExecutionContext();
    const before = await env.DEAD_LETTERS.getByName("all").summary();
    await consumeQueue(batch, env);
    const result = await getQueueResult(batch, context);
    expect(result.ackAll).toBe(true);
    const after = await env.DEAD_LETTERS.getByName("all").summary();
    expect(after.total).toBe(before.total + 2);
    expect(after.byReason.some((row) => row.reason === "out-of-retries" && row.queue === "tailor-feedback")).toBe(true);
  });
});
