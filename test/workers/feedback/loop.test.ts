/**
 * The learning loop end to end through the real queues: a page view's exposure reaches Kafka and
 * the visitor's memory; a later click and order are attributed to it, reach Kafka, and move the
 * experiment's counts.
 */
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { recallExposures } from "../../../durable-objects/exposure-memory.ts";
import { pseudonymFor } from "../../../workers/common/visitor.ts";
import { experimentCounts } from "../../support/worker/experiment-stats.ts";
import { eventually, kafkaRecords, postEvents, publishRules, request, track, visitorCookieFrom } from "../../support/worker/fixtures.ts";

const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0" };

it("attributes clicks and orders to the personalization shown, and counts them per variant", { timeout: 120_000 }, async () => {
  const experiment = `hero_${crypto.randomUUID().slice(0, 8)}`;
  await publishRules({
    version: 1,
    slots: { hero: { selector: '[data-slot="hero"]' } },
    experiments: { [experiment]: { variants: ["plain", "bold"] } },
    rules: [
      {
        id: "hero-test",
        experiment: {
          id: experiment,
          variants: { plain: { hero: { type: "setText", text: "Plain" } }, bold: { hero: { type: "setText", text: "BOLD" } } },
        },
      },
    ],
  });
  const cookie = visitorCookieFrom(await postEvents(track("Product Viewed", { product_id: "hm-01", category: "home" }))) ?? "";
  const page = await (await request("/", { headers: { ...BROWSER, cookie } })).text();
  const variant = /data-p13n-variant="(\w+)"/.exec(page)?.[1];
  expect(variant).toMatch(/plain|bold/);

  // The exposure travels: feedback queue → consumer → Kafka, and into the visitor's memory.
  const exposure = await eventually(async () =>
    (await kafkaRecords(env.KAFKA_TOPIC_FEEDBACK)).find(
      (record) => record.value.kind === "exposure" && record.value.experiment === experiment,
    ),
  );
  await eventually(async () => {
    const stats = await experimentCounts(experiment);
    return (stats[variant ?? ""]?.trials ?? 0) >= 1 ? stats : undefined;
  });
  // The visitor's memory is updated by the consumer; a click or order placed after that is attributed.
  const pseudonym = await pseudonymFor(cookie.slice("tailor_vid=".length), env.VISITOR_ID_SECRET);
  await eventually(async () => ((await recallExposures(env, [pseudonym])).length > 0 ? true : undefined));
  const click = track("Promotion Clicked", { promotion_id: "hero-test", position: "hero", creative: variant, experiment });
  await postEvents(click, cookie);
  const purchase = track("Order Completed", { order_id: `o-${crypto.randomUUID()}`, revenue: 80 });
  await postEvents(purchase, cookie);
  const order = await eventually(
    async () =>
      (await kafkaRecords(env.KAFKA_TOPIC_FEEDBACK)).find(
        (record) => record.value.kind === "conversion" && record.value.id === `${exposure.value.decisionId}:hero:order-completed`,
      ),
    15_000,
  );
  expect(order.value).toMatchObject({
    kind: "conversion",
    ruleId: "hero-test",
    slot: "hero",
    experiment,
    variant,
    value: 80,
    decisionId: exposure.value.decisionId,
  });

  const clicked = await eventually(async () =>
    (await kafkaRecords(env.KAFKA_TOPIC_FEEDBACK)).find(
      (record) => record.value.kind === "click" && record.value.decisionId === exposure.value.decisionId,
    ),
  );
  expect(clicked.value).toMatchObject({ id: `${exposure.value.decisionId}:hero:click`, ruleId: "hero-test", variant, experiment });

  const stats = await eventually(async () => {
    const counts = await experimentCounts(experiment);
    const row = counts[variant ?? ""];
    return row !== undefined && row.successes >= 1 && row.conversions >= 1 ? row : undefined;
  }, 60_000);
  expect(stats).toMatchObject({ trials: 1, successes: 1, conversions: 1, revenue: 80 });
});
