/**
 * The queue consumer against the Kafka REST double: what reaches the proxy, and what is acked,
 * retried or dropped.
 */
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { recallExposures } from "../../../durable-objects/exposure-memory.ts";
import {
  type ClickClaimMessage,
  type DecisionBatchMessage,
  type ExposureMessage,
  exposureRecords,
} from "../../../shared/feedback/messages.ts";
import { experimentCounts } from "../../support/worker/experiment-stats.ts";
import { eventually, kafkaRecords } from "../../support/worker/fixtures.ts";
import { deliverBatch, homepageExposure, productViewedEvent } from "../../support/worker/queue.ts";

/** A decision with one exposure, as the page path queues it, and the Kafka record it becomes. */
function exposure(ruleId = "electronics-hero"): { message: DecisionBatchMessage; record: ExposureMessage } {
  const decision = homepageExposure("pseudonymAAAAAAAAAAAAAAAAAAAAAAAAA".slice(0, 32), {
    assignments: [{ ruleId, slot: "hero", experiment: null, variant: null }],
  });
  const [record] = exposureRecords(decision);
  if (record === undefined) throw new Error("one assignment makes one record");
  return { message: { v: 1, kind: "decisions", id: crypto.randomUUID(), decisions: [decision] }, record };
}

describe("feedback consumer", () => {
  it("posts exposures in the Confluent v2 format, keyed by visitor, and acks them", async () => {
    const first = exposure();
    const second = exposure("home-banner");
    const result = await deliverBatch("tailor-feedback", [first.message, second.message]);
    expect(result.acked).toEqual(["message-0", "message-1"]);
    expect(result.retried).toEqual([]);

    const records = await kafkaRecords(env.KAFKA_TOPIC_FEEDBACK);
    const delivered = records.filter((record) => record.value.id === first.record.id || record.value.id === second.record.id);
    expect(delivered.map((record) => record.value)).toEqual([first.record, second.record]);
    expect(delivered.every((record) => record.key === first.record.visitor)).toBe(true);
  });

  it("sends each event of an events message to the events topic as its own record", async () => {
    const event = productViewedEvent("visitorpseudonymBBBBBBBBBBBBBBBB", { category: "home" });
    const second = { ...event, id: `event-${crypto.randomUUID()}` };
    const result = await deliverBatch("tailor-events", [
      { v: 1, kind: "events", id: event.id, visitor: event.visitor, events: [event, second] },
    ]);
    expect(result.acked).toEqual(["message-0"]);
    const records = await kafkaRecords(env.KAFKA_TOPIC_EVENTS);
    const mine = records.filter((record) => record.value.id === event.id || record.value.id === second.id);
    expect(mine.map((record) => record.value)).toEqual([event, second]);
    expect(mine.every((record) => record.key === event.visitor)).toBe(true);
  });

  it("turns a decision's exposures message into one record per slot", async () => {
    const decisionId = crypto.randomUUID();
    const message = {
      v: 1,
      kind: "exposures",
      id: decisionId,
      visitor: "visitorpseudonymCCCCCCCCCCCCCCCC",
      path: "/",
      rulesVersion: 3,
      holdout: false,
      at: new Date().toISOString(),
      assignments: [
        { ruleId: "hero-test", slot: "hero", experiment: "hero_test", variant: "bold" },
        { ruleId: "recs", slot: "recommendations", experiment: null, variant: null },
      ],
    };
    const result = await deliverBatch("tailor-feedback", [message]);
    expect(result.acked).toEqual(["message-0"]);
    const records = (await kafkaRecords(env.KAFKA_TOPIC_FEEDBACK)).filter((record) => record.value.decisionId === decisionId);
    expect(records.map((record) => [record.value.id, record.value.slot, record.value.variant])).toEqual([
      [`${decisionId}:hero`, "hero", "bold"],
      [`${decisionId}:recommendations`, "recommendations", null],
    ]);
  });

  it("drops a malformed message without holding up the rest of its batch", async () => {
    const good = exposure();
    // A single exposure record is what the consumer sends upstream, never a queue message of its own.
    const lone = exposure().record;
    const result = await deliverBatch("tailor-feedback", [{ kind: "exposures", nonsense: true }, lone, good.message]);
    expect(result.acked).toEqual(["message-0", "message-1", "message-2"]);
    const records = await kafkaRecords(env.KAFKA_TOPIC_FEEDBACK);
    expect(records.some((record) => record.value.id === good.record.id)).toBe(true);
    expect(records.some((record) => record.value.id === lone.id)).toBe(false);
  });

  it("speaks the v3 records API when configured", async () => {
    const first = exposure();
    const result = await deliverBatch("tailor-feedback", [first.message], { KAFKA_REST_API: "v3", KAFKA_CLUSTER_ID: "tailor-local" });
    expect(result.acked).toEqual(["message-0"]);
    const records = await kafkaRecords(env.KAFKA_TOPIC_FEEDBACK);
    expect(records.find((record) => record.value.id === first.record.id)?.key).toBe(first.record.visitor);
    // A wrong cluster id is a request that can never succeed: dead-lettered, not retried.
    const wrongCluster = await deliverBatch("tailor-feedback", [exposure().message], {
      KAFKA_REST_API: "v3",
      KAFKA_CLUSTER_ID: "elsewhere",
    });
    expect(wrongCluster.acked).toEqual(["message-0"]);
    expect(wrongCluster.retried).toEqual([]);
  });

  it("authenticates with a bearer token or basic credentials from the secrets", async () => {
    const bearer = { KAFKA_REST_URL: inject("kafkaRestBearerUrl"), KAFKA_REST_TOKEN: "test-kafka-token" };
    expect((await deliverBatch("tailor-feedback", [exposure().message], bearer)).acked).toEqual(["message-0"]);
    const basic = { KAFKA_REST_URL: inject("kafkaRestBasicUrl"), KAFKA_REST_USERNAME: "tailor", KAFKA_REST_PASSWORD: "s3cret" };
    expect((await deliverBatch("tailor-feedback", [exposure().message], basic)).acked).toEqual(["message-0"]);
    // Wrong credentials are refused by the proxy as sent: dead-lettered with the reason.
    const wrong = await deliverBatch("tailor-feedback", [exposure().message], { ...bearer, KAFKA_REST_TOKEN: "nope" });
    expect(wrong.retried).toEqual([]);
    await eventually(async () => {
      const letters = await env.DEAD_LETTERS.getByName("all").summary();
      return letters.byReason.some((row) => row.reason === "refused-401") ? true : undefined;
    });
  });

  it("retries every message, later each attempt, when the proxy is unreachable", async () => {
    const unreachable = { KAFKA_REST_URL: "http://127.0.0.1:9" };
    const first = await deliverBatch("tailor-feedback", [exposure().message, exposure().message], unreachable, 1);
    expect(first.acked).toEqual([]);
    expect(first.retried).toEqual(["message-0", "message-1"]);
    const third = await deliverBatch("tailor-feedback", [exposure().message], unreachable, 3);
    expect(first.delays["message-0"]).toBeGreaterThan(0);
    expect(third.delays["message-0"]).toBeGreaterThan(first.delays["message-0"] ?? Number.POSITIVE_INFINITY);
  });
});

describe("holdout exposures", () => {
  it("are remembered without experiment and variant, so a holdout visitor's click credits no variant", async () => {
    const visitor = `holdout${crypto.randomUUID().replaceAll("-", "")}`.slice(0, 32);
    const experiment = `holdout_${crypto.randomUUID().slice(0, 8)}`;
    const decision = homepageExposure(visitor, {
      holdout: true,
      at: new Date(Date.now() - 1_000).toISOString(),
      assignments: [{ ruleId: "hero-test", slot: "hero", experiment, variant: "bold" }],
    });
    await deliverBatch("tailor-feedback", [decision]);
    const remembered = await eventually(async () => {
      const exposures = await recallExposures(env, [visitor]);
      return exposures.length > 0 ? exposures : undefined;
    });
    expect(remembered).toMatchObject([{ ruleId: "hero-test", slot: "hero", experiment: null, variant: null }]);
    const claim: ClickClaimMessage = {
      v: 1,
      kind: "click-claim",
      id: `claim-${crypto.randomUUID()}`,
      visitor,
      aliases: [],
      ruleId: "hero-test",
      slot: "hero",
      at: new Date().toISOString(),
    };
    expect((await deliverBatch("tailor-feedback", [claim])).acked).toEqual(["message-0"]);
    expect(await experimentCounts(experiment)).toEqual({});
  });
});
