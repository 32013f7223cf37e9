/**
 * A consumer batch of the platform's largest size (100 messages), each message as large as the
 * producers make them, stays under Analytics Engine's 250 data points per invocation, and the counts
 * the dashboard reads from those points are still exact.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_DECISIONS_PER_MESSAGE } from "../../../shared/feedback/messages.ts";
import { consumeQueue } from "../../../workers/feedback/consumer.ts";
import { ANALYTICS_POINTS_PER_INVOCATION } from "../../../workers/feedback/merged-points.ts";
import { collectingDataset, type Point } from "../../support/worker/analytics-sql.ts";

const BATCH = 100;
const visitor = (index: number) => `capacityvisitor${String(index).padStart(17, "0")}`;

/** A decisions message as full as the page path makes it: 64 decisions, each on its own path. */
function decisions(message: number, slots: number) {
  return {
    v: 1,
    kind: "decisions",
    id: crypto.randomUUID(),
    decisions: Array.from({ length: MAX_DECISIONS_PER_MESSAGE }, (_, index) => ({
      v: 1,
      kind: "exposures",
      id: crypto.randomUUID(),
      visitor: visitor(message * 100 + index),
      path: `/products/${message}-${index}`,
      rulesVersion: 1,
      holdout: index % 10 === 0,
      at: new Date().toISOString(),
      assignments: Array.from({ length: slots }, (_, slot) => ({
        ruleId: `rule-${(message + slot) % 12}`,
        slot: `slot-${slot}`,
        experiment: null,
        variant: null,
      })),
    })),
  };
}

function conversion(message: number) {
  const decisionId = crypto.randomUUID();
  return {
    v: 1,
    kind: "conversion",
    id: `${decisionId}:hero:order-${message}`,
    visitor: visitor(message),
    event: `Order Completed ${message}`,
    value: 10 + message,
    ruleId: `rule-${message % 7}`,
    slot: "hero",
    experiment: null,
    variant: null,
    decisionId,
    exposedAt: new Date().toISOString(),
    at: new Date().toISOString(),
  };
}

async function consume(queue: string, bodies: unknown[]): Promise<{ points: Point[]; acked: number }> {
  const batch = createMessageBatch(
    queue,
    bodies.map((body, index) => ({ id: `message-${index}`, timestamp: new Date(), attempts: 1, body })),
  );
  const analytics = collectingDataset();
  const context = createExecutionContext();
  await consumeQueue(batch, { ...env, ANALYTICS: analytics as unknown as AnalyticsEngineDataset });
  const result = (await getQueueResult(batch, context)) as { explicitAcks: string[] };
  return { points: analytics.points, acked: result.explicitAcks.length };
}

const total = (points: Point[], kind: string, double = 0) =>
  points.filter((point) => point.blobs?.[0] === kind).reduce((sum, point) => sum + (point.doubles?.[double] ?? 0), 0);

describe(`a batch of ${BATCH} of the largest messages`, () => {
  it.each([1, 3])("of decisions with %i slots each stays under the limit, every exposure counted", { timeout: 120_000 }, async (slots) => {
    const { points, acked } = await consume(
      "tailor-feedback",
      Array.from({ length: BATCH }, (_, message) => decisions(message, slots)),
    );
    expect(acked).toBe(BATCH);
    expect(points.length).toBeLessThanOrEqual(ANALYTICS_POINTS_PER_INVOCATION);
    expect(total(points, "exposure")).toBe(BATCH * MAX_DECISIONS_PER_MESSAGE * slots);
    expect(total(points, "delivery")).toBe(BATCH);
  });

  it("of conversions with distinct events stays under the limit, counts and revenue exact", async () => {
    const { points } = await consume(
      "tailor-feedback",
      Array.from({ length: BATCH }, (_, message) => conversion(message)),
    );
    expect(points.length).toBeLessThanOrEqual(ANALYTICS_POINTS_PER_INVOCATION);
    expect(total(points, "conversion")).toBe(BATCH);
    expect(total(points, "conversion", 1)).toBe(Array.from({ length: BATCH }, (_, message) => 10 + message).reduce((a, b) => a + b, 0));
  });

  it("of malformed messages writes one merged delivery point, not one each", async () => {
    const { points } = await consume(
      "tailor-events",
      Array.from({ length: BATCH }, (_, index) => ({ v: 1, kind: "events", id: `bad-${index}` })),
    );
    expect(points.length).toBeLessThanOrEqual(ANALYTICS_POINTS_PER_INVOCATION);
    expect(points.filter((point) => point.blobs?.[1] === "malformed")).toHaveLength(1);
    expect(total(points, "delivery")).toBe(BATCH);
  });
});
