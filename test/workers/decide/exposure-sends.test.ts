/**
 * Fault tests for exposure sends: a feedback queue that refuses sends, or takes a message and then
 * reports an error, must still end with every decision counted exactly once in the experiment's
 * stats — retried within the request, then from the `ExposureOutbox` object's alarm.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { ExposureOutbox } from "../../../durable-objects/exposure-outbox.ts";
import type { DecisionBatchMessage, ExposureBatchMessage } from "../../../shared/feedback/messages.ts";
import { type BatchOutcome, logExposures, SEND_RETRY_DELAYS_MS } from "../../../workers/decide/exposure-log.ts";
import { consumeQueue } from "../../../workers/feedback/consumer.ts";
import { experimentCounts } from "../../support/worker/experiment-stats.ts";

/**
 * What the queue does with each send, in order; after the plan, it takes every send.
 * "take-then-fail": the message reaches the queue but the caller hears an error (a lost reply).
 */
type Step = "refuse" | "take-then-fail";

interface FlakyQueue {
  queue: Queue;
  /** Every message the caller tried to send. */
  attempts: DecisionBatchMessage[];
  /** Every copy that reached the queue: what its consumer will be given. */
  taken: DecisionBatchMessage[];
}

function flakyQueue(plan: readonly Step[]): FlakyQueue {
  const attempts: DecisionBatchMessage[] = [];
  const taken: DecisionBatchMessage[] = [];
  const queue = {
    send: async (body: DecisionBatchMessage) => {
      const step = plan[attempts.length];
      attempts.push(structuredClone(body));
      if (step === "refuse") throw new Error("queue send failed");
      taken.push(structuredClone(body));
      if (step === "take-then-fail") throw new Error("queue reply lost");
    },
  } as unknown as Queue;
  return { queue, attempts, taken };
}

function decision(experiment: string, index: number): ExposureBatchMessage {
  return {
    v: 1,
    kind: "exposures",
    id: crypto.randomUUID(),
    visitor: `sendsVisitorPseudonym${String(index).padStart(11, "0")}`,
    path: "/",
    rulesVersion: 1,
    holdout: false,
    at: new Date().toISOString(),
    assignments: [{ ruleId: "hero", slot: "hero", experiment, variant: index % 2 === 0 ? "a" : "b" }],
  };
}

/**
 * Gives every copy the queue took to the real consumer (Kafka double, experiment stats), as the
 * queue would: all in one consumer batch, or the first alone and the others in a second batch.
 */
async function consume(taken: readonly DecisionBatchMessage[], batches: "one" | "two"): Promise<void> {
  for (const bodies of batches === "one" ? [taken] : [taken.slice(0, 1), taken.slice(1)]) {
    if (bodies.length === 0) continue;
    const batch = createMessageBatch(
      "tailor-feedback",
      bodies.map((body) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body })),
    );
    await consumeQueue(batch, env);
    const outcome = (await getQueueResult(batch, createExecutionContext())) as { explicitAcks: string[] };
    expect(outcome.explicitAcks).toHaveLength(bodies.length);
  }
}

async function trials(experiment: string): Promise<number> {
  const counts = await experimentCounts(experiment);
  return Object.values(counts).reduce((sum, variant) => sum + variant.trials, 0);
}

/** Logs `count` decisions through `queue` into one batch, with the outbox `outbox`; resolves when the send is settled. */
async function logBatch(queue: Queue, outbox: DurableObjectStub<ExposureOutbox>, experiment: string, count: number) {
  const pending: Promise<unknown>[] = [];
  const parked: unknown[] = [];
  const lost: unknown[] = [];
  const settled: BatchOutcome[] = [];
  const options = {
    onSettled: (outcome: BatchOutcome) => {
      settled.push(outcome);
    },
    windowMs: 1,
    waitUntil: (promise: Promise<unknown>) => {
      pending.push(promise);
    },
    park: (message: DecisionBatchMessage) => outbox.park(message),
    onParked: (error: unknown) => {
      parked.push(error);
    },
    onFailure: (error: unknown) => {
      lost.push(error);
    },
  };
  for (let index = 0; index < count; index++) logExposures(queue, decision(experiment, index), options);
  await Promise.all(pending);
  return { parked, lost, settled };
}

/**
 * A fresh outbox whose own alarms meet a refusing queue until `drain` gives it another: the alarm
 * the platform fires by itself cannot send anything behind the test's back.
 */
async function blockedOutbox(): Promise<DurableObjectStub<ExposureOutbox>> {
  const outbox = env.EXPOSURE_OUTBOX.getByName(crypto.randomUUID());
  const refusing = { send: () => Promise.reject(new Error("queue still down")) } as unknown as Queue;
  await runInDurableObject(outbox, (instance: ExposureOutbox) => {
    instance.queue = refusing;
  });
  return outbox;
}

/**
 * Gives the outbox `queue` and runs its alarm until nothing is parked. The platform may be running
 * the same alarm at that moment (then there is none to run yet), so this asks again until done.
 */
async function drain(outbox: DurableObjectStub<ExposureOutbox>, queue: Queue): Promise<void> {
  await runInDurableObject(outbox, (instance: ExposureOutbox) => {
    instance.queue = queue;
  });
  await vi.waitFor(
    async () => {
      await runDurableObjectAlarm(outbox);
      expect((await outbox.summary()).batches).toBe(0);
    },
    { timeout: 30_000, interval: 20 },
  );
}

const retries = SEND_RETRY_DELAYS_MS.length;

describe("a send the queue fails within the request's retries", () => {
  const cases: { name: string; plan: Step[]; batches: "one" | "two" }[] = [
    { name: "refused once", plan: ["refuse"], batches: "one" },
    { name: "refused on every retry but the last", plan: Array.from({ length: retries }, () => "refuse" as const), batches: "one" },
    { name: "taken, but the reply lost (copies in one consumer batch)", plan: ["take-then-fail"], batches: "one" },
    { name: "taken, but the reply lost (copies in two consumer batches)", plan: ["take-then-fail"], batches: "two" },
    { name: "refused, then taken with the reply lost", plan: ["refuse", "take-then-fail"], batches: "one" },
  ];

  it.each(cases)("$name: every decision is counted exactly once, nothing parked", async ({ plan, batches }) => {
    const experiment = `sends_${crypto.randomUUID().slice(0, 8)}`;
    const outbox = env.EXPOSURE_OUTBOX.getByName(crypto.randomUUID());
    const flaky = flakyQueue(plan);
    const { parked, lost, settled } = await logBatch(flaky.queue, outbox, experiment, 5);
    // What the page path reports as the `exposure-send` data point.
    expect(settled).toMatchObject([{ outcome: "sent", decisions: 5, attempts: flaky.attempts.length }]);

    expect(lost).toEqual([]);
    expect(parked).toEqual([]);
    // Every attempt is the same message: a copy that got through is recognised by its id.
    expect(new Set(flaky.attempts.map((message) => message.id)).size).toBe(1);
    expect(flaky.taken.length).toBeGreaterThanOrEqual(1);
    await consume(flaky.taken, batches);
    expect(await trials(experiment)).toBe(5);
    expect((await outbox.summary()).batches).toBe(0);
  });
});

describe("a send the queue fails past the request's retries", () => {
  const refusedInRequest = Array.from({ length: retries + 1 }, () => "refuse" as const);
  const replyLost = Array.from({ length: retries + 1 }, () => "take-then-fail" as const);
  const cases: { name: string; inRequest: Step[]; fromOutbox: Step[]; batches: "one" | "two" }[] = [
    { name: "refused in the request, taken at the outbox's first re-send", inRequest: refusedInRequest, fromOutbox: [], batches: "one" },
    {
      name: "refused in the request and three more times",
      inRequest: refusedInRequest,
      fromOutbox: ["refuse", "refuse", "refuse"],
      batches: "one",
    },
    {
      name: "every reply lost in the request (copies in one batch)",
      inRequest: replyLost,
      fromOutbox: ["take-then-fail", "refuse"],
      batches: "one",
    },
    {
      name: "every reply lost in the request (copies in two batches)",
      inRequest: replyLost,
      fromOutbox: ["take-then-fail"],
      batches: "two",
    },
  ];

  it.each(cases)("$name: parked, re-sent until taken, counted exactly once", async ({ inRequest, fromOutbox, batches }) => {
    const experiment = `parked_${crypto.randomUUID().slice(0, 8)}`;
    const outbox = await blockedOutbox();
    const page = flakyQueue(inRequest);
    const { parked, lost, settled } = await logBatch(page.queue, outbox, experiment, 7);
    expect(settled).toMatchObject([{ outcome: "parked", decisions: 7, attempts: retries + 1 }]);

    expect(lost).toEqual([]);
    expect(parked).toHaveLength(1);
    expect(page.attempts).toHaveLength(retries + 1);
    expect(await outbox.summary()).toMatchObject({ batches: 1, dropped: 0 });

    const later = flakyQueue(fromOutbox);
    await drain(outbox, later.queue);
    expect(later.attempts).toHaveLength(fromOutbox.length + 1);
    const ids = new Set([...page.attempts, ...later.attempts].map((message) => message.id));
    expect(ids.size).toBe(1);
    expect(await outbox.summary()).toMatchObject({ batches: 0, bytes: 0, failures: 0 });

    await consume([...page.taken, ...later.taken], batches);
    expect(await trials(experiment)).toBe(7);
  });

  it("keeps many parked batches in order and sends each once", async () => {
    const experiment = `many_${crypto.randomUUID().slice(0, 8)}`;
    const outbox = await blockedOutbox();
    const refusing = flakyQueue(Array.from({ length: 100 }, () => "refuse" as const));
    for (let batch = 0; batch < 4; batch++) await logBatch(refusing.queue, outbox, experiment, 3);
    expect((await outbox.summary()).batches).toBe(4);
    // A batch parked twice (a retried park) is kept once.
    await outbox.park(structuredClone(refusing.attempts[0] as DecisionBatchMessage));
    expect((await outbox.summary()).batches).toBe(4);

    const later = flakyQueue(["refuse"]);
    await drain(outbox, later.queue);
    const firstOfEach = [...new Set(refusing.attempts.map((message) => message.id))];
    expect(later.taken.map((message) => message.id)).toEqual(firstOfEach);
    await consume(later.taken, "one");
    expect(await trials(experiment)).toBe(12);
  });

  it("reports the decisions lost only when the batch can be neither sent nor parked", async () => {
    const experiment = `lost_${crypto.randomUUID().slice(0, 8)}`;
    const refusing = flakyQueue(Array.from({ length: 10 }, () => "refuse" as const));
    const broken = { park: () => Promise.reject(new Error("outbox unavailable")) } as unknown as DurableObjectStub<ExposureOutbox>;
    const { parked, lost, settled } = await logBatch(refusing.queue, broken, experiment, 2);
    expect(parked).toEqual([]);
    expect(lost).toHaveLength(1);
    expect(settled).toMatchObject([{ outcome: "lost", decisions: 2, attempts: retries + 1 }]);
  });
});

describe("the outbox's bound", () => {
  it("drops the oldest batches past its limits, counts them, and still sends the rest", async () => {
    const experiment = `bound_${crypto.randomUUID().slice(0, 8)}`;
    const outbox = await blockedOutbox();
    await runInDurableObject(outbox, (instance: ExposureOutbox) => {
      instance.limits = { batches: 3, bytes: 1024 ** 2 };
    });
    const refusing = flakyQueue(Array.from({ length: 100 }, () => "refuse" as const));
    for (let batch = 0; batch < 5; batch++) await logBatch(refusing.queue, outbox, experiment, 1);
    expect(await outbox.summary()).toMatchObject({ batches: 3, dropped: 2 });

    const later = flakyQueue([]);
    await drain(outbox, later.queue);
    const ids = [...new Set(refusing.attempts.map((message) => message.id))];
    expect(later.taken.map((message) => message.id)).toEqual(ids.slice(2));
    expect(await outbox.summary()).toMatchObject({ batches: 0, dropped: 2 });
  });

  it("refuses what is not a decisions batch", async () => {
    const outbox = env.EXPOSURE_OUTBOX.getByName(crypto.randomUUID());
    const invalid: unknown[] = [{}, { v: 1, kind: "decisions", id: "not-a-uuid", decisions: [] }, { v: 1, kind: "events" }];
    for (const body of invalid) {
      const outcome = await outbox.park(body as DecisionBatchMessage).then(
        () => "parked",
        (error: unknown) => String(error),
      );
      expect(outcome).toMatch(/ZodError|invalid/i);
    }
    expect((await outbox.summary()).batches).toBe(0);
  });
});
