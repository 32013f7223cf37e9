/**
 * Nothing accepted is lost: thousands of events and hundreds of decisions go through the real
 * Worker while the Kafka REST proxy fails (5xx, then hangs, then rejects single records) and
 * recovers. Afterwards every accepted event and every exposure is upstream, and the number of
 * distinct ids upstream equals the number accepted. The figures are printed.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import rules from "../../demo-shop/rules.json" with { type: "json" };
import { inParallel, type System, startSystem, visitorCookie, waitUntil } from "../support/system.ts";

const VISITORS = 400;
const BATCHES_PER_VISITOR = 2;
const EVENTS_PER_BATCH = 4;

let system: System;

beforeAll(async () => {
  system = await startSystem(rules, { DELIVERY_RETRY_BASE_SECONDS: "1", KAFKA_REST_TIMEOUT_MS: "500" });
}, 180_000);

afterAll(async () => {
  await system.close();
});

it("delivers every accepted event and exposure upstream through proxy failures", { timeout: 180_000 }, async () => {
  const { tailor, kafka } = system;
  const acceptedEvents = new Set<string>();
  const expectedExposures = new Set<string>();
  const started = Date.now();

  // Faults on a timeline while the traffic runs: 5xx, then a hanging proxy, then failing records.
  const timeline = (async () => {
    kafka.setFaults({ mode: "status", status: 503 });
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    kafka.setFaults({ mode: "hang" });
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    kafka.setFaults({ mode: "record-errors", every: 3 });
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    kafka.setFaults({ mode: "none" });
  })();

  await inParallel(VISITORS, 8, async (index) => {
    const cookie = visitorCookie(index, "fault");
    const address = `10.50.${index >> 8}.${index & 255}`;
    for (let batch = 0; batch < BATCHES_PER_VISITOR; batch++) {
      const events = Array.from({ length: EVENTS_PER_BATCH }, (_, position) => ({
        type: "track",
        event: position === 0 ? "Product Added" : "Product Viewed",
        messageId: `fault-${index}-${batch}-${position}`,
        properties: { product_id: `el-0${(position % 9) + 1}`, category: "electronics", price: 25 },
      }));
      const response = await fetch(`${tailor.url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", cookie, "cf-connecting-ip": address },
        body: JSON.stringify({ batch: events }),
      });
      if (response.status === 202) for (const event of events) acceptedEvents.add(event.messageId);
    }
    const decision = (await (
      await fetch(`${tailor.url}/v1/decide?path=/`, { headers: { cookie, "user-agent": "Mozilla/5.0 system-test" } })
    ).json()) as { decisionId: string | null; slots: { slot: string }[] };
    if (decision.decisionId !== null) for (const slot of decision.slots) expectedExposures.add(`${decision.decisionId}:${slot.slot}`);
  });
  await timeline;
  const trafficSeconds = (Date.now() - started) / 1_000;

  const upstream = () => {
    const records = kafka.records();
    return {
      events: new Set(records.filter((record) => record.topic === "tailor.events").map((record) => (record.value as { id: string }).id)),
      exposures: new Set(
        records
          .filter((record) => record.topic === "tailor.feedback" && (record.value as { kind: string }).kind === "exposure")
          .map((record) => (record.value as { id: string }).id),
      ),
      total: records.length,
    };
  };
  const complete = await waitUntil(() => {
    const { events, exposures } = upstream();
    return [...acceptedEvents].every((id) => events.has(id)) && [...expectedExposures].every((id) => exposures.has(id));
  }, 120_000);
  const { events, exposures, total } = upstream();
  const missingEvents = [...acceptedEvents].filter((id) => !events.has(id)).length;
  const missingExposures = [...expectedExposures].filter((id) => !exposures.has(id)).length;
  const distinctUpstream = events.size + exposures.size;
  console.log(
    [
      `fault test: ${acceptedEvents.size} events accepted and ${expectedExposures.size} exposures logged in ${trafficSeconds.toFixed(1)} s of traffic under faults`,
      `proxy answered: ${JSON.stringify(kafka.stats())}`,
      `upstream after recovery (${((Date.now() - started) / 1_000).toFixed(1)} s in all): ${events.size} distinct event ids, ${exposures.size} distinct exposure ids, ${total} records (${total - distinctUpstream} duplicates by id)`,
      `missing: ${missingEvents} events, ${missingExposures} exposures`,
    ].join("\n"),
  );
  expect(acceptedEvents.size).toBe(VISITORS * BATCHES_PER_VISITOR * EVENTS_PER_BATCH);
  expect(complete).toBe(true);
  expect(events.size).toBe(acceptedEvents.size);
  expect(exposures.size).toBe(expectedExposures.size);
});
