/**
 * Queue deliveries as the platform makes them, for the consumer tests: one batch through the
 * Worker's queue handler, with what it acked, what it retried and the delay each retry asked for.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import type { ExposureBatchMessage } from "../../../shared/feedback/messages.ts";
import { consumeQueue } from "../../../workers/feedback/consumer.ts";

/** What the consumer did with one batch. Message ids are `message-0`, `message-1`, … in the order given. */
export interface QueueOutcome {
  /** The ids acked, sorted. */
  acked: string[];
  /** The ids retried, sorted. */
  retried: string[];
  /** The delay the consumer asked for, per retried message id. */
  delays: Record<string, number | undefined>;
}

/** Delivers `bodies` to the consumer as one batch on `queue`, each message on its `attempts`th delivery. */
export async function deliverBatch(queue: string, bodies: unknown[], overrides: Partial<Env> = {}, attempts = 1): Promise<QueueOutcome> {
  const batch = createMessageBatch(
    queue,
    bodies.map((body, index) => ({ id: `message-${index}`, timestamp: new Date(), attempts, body })),
  );
  const delays: Record<string, number | undefined> = {};
  for (const message of batch.messages) {
    const retry = message.retry.bind(message);
    vi.spyOn(message, "retry").mockImplementation((options) => {
      delays[message.id] = options?.delaySeconds;
      retry(options);
    });
  }
  const context = createExecutionContext();
  await consumeQueue(batch, { ...env, ...overrides });
  const result = (await getQueueResult(batch, context)) as { explicitAcks: string[]; retryMessages: { msgId: string }[] };
  return { acked: result.explicitAcks.sort(), retried: result.retryMessages.map((message) => message.msgId).sort(), delays };
}

/** A "Product Viewed" event as the ingest role queues it, for `visitor` (a pseudonym). */
export function productViewedEvent(visitor: string, properties: Record<string, unknown> = {}) {
  return {
    v: 1,
    kind: "event",
    id: `event-${crypto.randomUUID()}`,
    visitor,
    type: "track",
    event: "Product Viewed",
    category: "home",
    productId: "hm-01",
    path: "/p/hm-01",
    receivedAt: new Date().toISOString(),
    clientTime: null,
    properties,
  };
}

/**
 * The exposures of one homepage view as the page path queues them: by default one rule on the hero
 * slot, outside any experiment and holdout, just now.
 */
export function homepageExposure(visitor: string, overrides: Partial<ExposureBatchMessage> = {}): ExposureBatchMessage {
  return {
    v: 1,
    kind: "exposures",
    id: crypto.randomUUID(),
    visitor,
    path: "/",
    rulesVersion: 1,
    holdout: false,
    at: new Date().toISOString(),
    assignments: [{ ruleId: "hero", slot: "hero", experiment: null, variant: null }],
    ...overrides,
  };
}
