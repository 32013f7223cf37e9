/**
 * Exposure batching on its own: the size limit, with the largest decisions the schema allows.
 */
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import {
  type DecisionBatchMessage,
  DecisionBatchMessage as DecisionBatchSchema,
  type ExposureBatchMessage,
} from "../../../shared/feedback/messages.ts";
import { logExposures, MAX_BATCH_BYTES, upperBoundBytes } from "../../../workers/decide/exposure-log.ts";

const name = (prefix: string, index: number) => `${prefix}-${index}`.padEnd(64, "x");

/** A decision as large as `ExposureBatchMessage` allows: 100 assignments, every name 64 characters, a 512-character path. */
function largestDecision(index: number): ExposureBatchMessage {
  return {
    v: 1,
    kind: "exposures",
    id: crypto.randomUUID(),
    visitor: name(`visitor${index}`, index),
    path: `/${"p".repeat(511)}`,
    rulesVersion: 1,
    holdout: false,
    at: new Date().toISOString(),
    assignments: Array.from({ length: 100 }, (_, slot) => ({
      ruleId: name("rule", slot),
      slot: name("slot", slot),
      experiment: name("experiment", slot),
      variant: name("variant", slot),
    })),
  };
}

it("bounds each decision's size from above and never lets a batch pass the size limit", async () => {
  const decision = largestDecision(0);
  expect(JSON.stringify(decision).length).toBeLessThanOrEqual(upperBoundBytes(decision));

  const sent: DecisionBatchMessage[] = [];
  const failures: unknown[] = [];
  const pending: Promise<unknown>[] = [];
  const queue = {
    send: (body: DecisionBatchMessage, options?: QueueSendOptions) => {
      sent.push(body);
      return env.FEEDBACK_QUEUE.send(body, options);
    },
  } as unknown as Queue;
  const options = {
    windowMs: 200,
    waitUntil: (promise: Promise<unknown>) => {
      pending.push(promise);
    },
    park: () => Promise.reject(new Error("no outbox in this test")),
    onParked: (error: unknown) => {
      failures.push(error);
    },
    onFailure: (error: unknown) => {
      failures.push(error);
    },
  };
  for (let index = 0; index < 5; index++) logExposures(queue, largestDecision(index), options);

  await Promise.all(pending);
  expect(sent.reduce((count, message) => count + message.decisions.length, 0)).toBe(5);
  expect(sent.length).toBeGreaterThan(1);
  expect(failures).toEqual([]); // the real queue took every message
  for (const message of sent) {
    expect(DecisionBatchSchema.safeParse(message).success).toBe(true);
    expect(JSON.stringify(message).length).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    // The bound, not only this content, stays under the limit: no decisions of any content could pass it.
    expect(message.decisions.reduce((sum, one) => sum + upperBoundBytes(one), 0)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
  }
});
