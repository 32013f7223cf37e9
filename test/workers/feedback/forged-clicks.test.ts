/**
 * Forged clicks through the real Worker and queues: a browser can send any `Promotion Clicked` it
 * likes, but experiment counts (and so the bandit's allocation) move only with exposures Tailor
 * itself logged for that visitor, once per exposure. The events themselves still reach Kafka.
 */
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import type { VariantStats } from "../../../durable-objects/experiment-stats.ts";
import { recallExposures } from "../../../durable-objects/exposure-memory.ts";
import { MAX_CONVERSION_VALUE } from "../../../shared/feedback/attribution.ts";
import type { ExposureBatchMessage } from "../../../shared/feedback/messages.ts";
import { thompsonChoice } from "../../../shared/models/thompson.ts";
import { pseudonymFor } from "../../../workers/common/visitor.ts";
import { HERO_VARIANTS, heroExperimentDocument } from "../../support/hero-experiment.ts";
import { experimentCounts } from "../../support/worker/experiment-stats.ts";
import { eventually, kafkaRecords, postEvents, publishRules, request, track, visitorCookieFrom } from "../../support/worker/fixtures.ts";

const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0" };
const VARIANTS = HERO_VARIANTS;
const CLICKS_PER_VISITOR = 100;
const VISITORS_PER_KIND = 10;

let address = 0;

/** Posts a batch as a visitor from its own address (the per-address limit is not what is tested). */
async function post(body: unknown, cookie?: string): Promise<Response> {
  address++;
  return request("/v1/events", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "cf-connecting-ip": `10.77.${address >> 8}.${address & 255}`,
      ...(cookie ? { cookie } : {}),
    },
    body: JSON.stringify(body),
  });
}

/** A new visitor (one event recorded) with their cookie and pseudonym. */
async function newVisitor(): Promise<{ cookie: string; pseudonym: string }> {
  const cookie = visitorCookieFrom(await postEvents(track("Product Viewed", { product_id: "hm-01", category: "home" }))) ?? "";
  const pseudonym = await pseudonymFor(cookie.slice("tailor_vid=".length), env.VISITOR_ID_SECRET);
  return { cookie, pseudonym };
}

/** `count` clicks on the hero claiming `variant` of `experiment`, each with its own messageId. */
function forgedClicks(count: number, experiment: string, variant: string): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, index) =>
    track("Promotion Clicked", {
      promotion_id: "hero-test",
      position: "hero",
      creative: variant,
      variant,
      experiment,
      forged: index,
    }),
  );
}

/** Waits until every message id is on the events topic: the batches were stored and forwarded. */
async function forwarded(ids: readonly unknown[]): Promise<void> {
  const wanted = new Set(ids.map(String));
  await eventually(async () => {
    const seen = new Set((await kafkaRecords(env.KAFKA_TOPIC_EVENTS)).map((record) => String(record.value.id)));
    return [...wanted].every((id) => seen.has(id)) ? true : undefined;
  }, 120_000);
}

/**
 * Waits until the feedback queue has consumed everything put on it so far: a marker exposure sent
 * now counts in its own experiment only after the messages ahead of it were consumed.
 */
async function feedbackDrained(): Promise<void> {
  const experiment = `drained_${crypto.randomUUID().slice(0, 8)}`;
  const marker: ExposureBatchMessage = {
    v: 1,
    kind: "exposures",
    id: crypto.randomUUID(),
    visitor: "forgedClicksMarkerVisitor0000000",
    path: "/",
    rulesVersion: 1,
    holdout: false,
    at: new Date().toISOString(),
    assignments: [{ ruleId: "marker", slot: "hero", experiment, variant: "only" }],
  };
  await env.FEEDBACK_QUEUE.send(marker, { contentType: "json" });
  await eventually(async () => ((await experimentCounts(experiment)).only?.trials ? true : undefined), 120_000);
}

function countsOf(stats: Record<string, VariantStats>): Record<string, { trials: number; successes: number }> {
  return Object.fromEntries(
    VARIANTS.map((variant) => [variant, { trials: stats[variant]?.trials ?? 0, successes: stats[variant]?.successes ?? 0 }]),
  );
}

/** The share of traffic Thompson sampling gives each variant for these counts (fixed seed). */
function allocation(counts: Record<string, { trials: number; successes: number }>): Record<string, number> {
  let seed = 20_261_126;
  const random = () => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return seed / 4_294_967_296;
  };
  const picks = VARIANTS.map(() => 0);
  const list = VARIANTS.map((variant) => counts[variant] ?? { trials: 0, successes: 0 });
  for (let draw = 0; draw < 4_000; draw++) {
    const index = thompsonChoice(list, random);
    picks[index] = (picks[index] ?? 0) + 1;
  }
  return Object.fromEntries(VARIANTS.map((variant, index) => [variant, (picks[index] ?? 0) / 4_000]));
}

it("2,000 forged clicks move the bandit only by one click per exposure Tailor logged", { timeout: 600_000 }, async () => {
  const experiment = `forged_${crypto.randomUUID().slice(0, 8)}`;
  await publishRules(heroExperimentDocument(experiment, { [experiment]: { variants: [...VARIANTS], allocation: "bandit" } }));
  const stats = { counts: () => experimentCounts(experiment) };

  // Real traffic: visitors who each saw the homepage once, remembered by Tailor.
  const exposed: { cookie: string; pseudonym: string; variant: string }[] = [];
  for (let index = 0; index < VISITORS_PER_KIND; index++) {
    const visitor = await newVisitor();
    const page = await (await request("/", { headers: { ...BROWSER, cookie: visitor.cookie } })).text();
    const variant = /data-p13n-variant="(\w+)"/.exec(page)?.[1] ?? "";
    expect(VARIANTS).toContain(variant);
    exposed.push({ ...visitor, variant });
  }
  for (const visitor of exposed) {
    await eventually(async () => ((await recallExposures(env, [visitor.pseudonym])).length > 0 ? true : undefined), 120_000);
  }
  await feedbackDrained();
  const real = countsOf(await stats.counts());
  expect(VARIANTS.reduce((sum, variant) => sum + (real[variant]?.trials ?? 0), 0)).toBe(VISITORS_PER_KIND);

  // 1,000 clicks from visitors who were never shown the experiment, all claiming "calm".
  const neverExposedIds: unknown[] = [];
  for (let index = 0; index < VISITORS_PER_KIND; index++) {
    const batch = forgedClicks(CLICKS_PER_VISITOR, experiment, "calm");
    neverExposedIds.push(...batch.map((event) => event.messageId));
    const response = await post({ batch });
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ accepted: CLICKS_PER_VISITOR });
  }
  await forwarded(neverExposedIds);
  await feedbackDrained();
  expect(countsOf(await stats.counts())).toEqual(real);

  // 1,000 clicks from the visitors shown the experiment once, each claiming the variant they did not see.
  const exposedIds: unknown[] = [];
  for (const visitor of exposed) {
    const batch = forgedClicks(CLICKS_PER_VISITOR, experiment, visitor.variant === "calm" ? "bold" : "calm");
    exposedIds.push(...batch.map((event) => event.messageId));
    const response = await post({ batch }, visitor.cookie);
    expect(response.status).toBe(202);
  }
  await forwarded(exposedIds);
  await feedbackDrained();

  // Each exposure counts one click, for the variant actually shown; trials are unchanged.
  const expected = Object.fromEntries(
    VARIANTS.map((variant) => [
      variant,
      {
        trials: real[variant]?.trials ?? 0,
        successes: (real[variant]?.successes ?? 0) + exposed.filter((visitor) => visitor.variant === variant).length,
      },
    ]),
  );
  const after = countsOf(await stats.counts());
  expect(after).toEqual(expected);
  expect(allocation(after)).toEqual(allocation(expected));

  // Nothing was lost: every forged click is on the events topic, and the credited clicks name their exposure.
  const clicks = (await kafkaRecords(env.KAFKA_TOPIC_FEEDBACK)).filter(
    (record) => record.value.kind === "click" && exposed.some((visitor) => visitor.pseudonym === record.key),
  );
  expect(new Set(clicks.map((record) => record.value.id)).size).toBe(VISITORS_PER_KIND);
  for (const record of clicks) {
    const visitor = exposed.find((one) => one.pseudonym === record.key);
    expect(record.value).toMatchObject({ experiment, variant: visitor?.variant });
  }
});

it("a click sent right after the page counts once its exposure is remembered, once however often it is sent", {
  timeout: 300_000,
}, async () => {
  const experiment = `quick_${crypto.randomUUID().slice(0, 8)}`;
  await publishRules(heroExperimentDocument(experiment, { [experiment]: { variants: [...VARIANTS], allocation: "bandit" } }));
  const visitor = await newVisitor();
  const page = await (await request("/", { headers: { ...BROWSER, cookie: visitor.cookie } })).text();
  const variant = /data-p13n-variant="(\w+)"/.exec(page)?.[1] ?? "";
  // At once, before the consumer has delivered the exposure: the clicks wait as claims.
  const clicks = forgedClicks(20, experiment, variant === "calm" ? "bold" : "calm");
  expect((await post({ batch: clicks }, visitor.cookie)).status).toBe(202);
  const counted = await eventually(async () => {
    const counts = countsOf(await experimentCounts(experiment));
    return (counts[variant]?.successes ?? 0) >= 1 ? counts : undefined;
  }, 120_000);
  expect(counted[variant]).toEqual({ trials: 1, successes: 1 });
  await feedbackDrained();
  const other = variant === "calm" ? "bold" : "calm";
  expect(countsOf(await experimentCounts(experiment))).toEqual({
    [variant]: { trials: 1, successes: 1 },
    [other]: { trials: 0, successes: 0 },
  });
});

it("20 forged orders after one exposure count one conversion, its revenue capped", { timeout: 300_000 }, async () => {
  const experiment = `orders_${crypto.randomUUID().slice(0, 8)}`;
  await publishRules(heroExperimentDocument(experiment, { [experiment]: { variants: [...VARIANTS] } }));
  const visitor = await newVisitor();
  const page = await (await request("/", { headers: { ...BROWSER, cookie: visitor.cookie } })).text();
  const variant = /data-p13n-variant="(\w+)"/.exec(page)?.[1] ?? "";
  expect(VARIANTS).toContain(variant);
  await eventually(async () => ((await recallExposures(env, [visitor.pseudonym])).length > 0 ? true : undefined), 120_000);
  // Each order with its own messageId; the same order id, other order ids, revenue of every size.
  const orders = Array.from({ length: 20 }, (_, index) =>
    track("Order Completed", { order_id: index < 10 ? "same-order" : `order-${index}`, revenue: index % 2 === 0 ? 1e9 : "1e300" }),
  );
  expect((await post({ batch: orders }, visitor.cookie)).status).toBe(202);
  await forwarded(orders.map((order) => order.messageId));
  await feedbackDrained();
  const counts = await experimentCounts(experiment);
  expect(counts[variant]).toEqual({ trials: 1, successes: 0, conversions: 1, revenue: MAX_CONVERSION_VALUE });
});
