/**
 * Experiment reports as a marketer reads them (`GET /admin/api/experiments/:id`): a bandit that
 * works as intended is not flagged for sample ratio mismatch, an order counts once per experiment
 * however many of its rules the visitor saw, and the report says which check and which attribution
 * it used.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../../shared/events/recorded.ts";
import { feedbackFor, type RememberedExposure } from "../../../shared/feedback/attribution.ts";
import type { ExperimentReportView } from "../../../workers/admin/experiment-report.ts";
import { consumeQueue } from "../../../workers/feedback/consumer.ts";
import { eventually, publishRules, request } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0" };

async function report(id: string): Promise<ExperimentReportView> {
  const response = await request(`/admin/api/experiments/${id}`, { headers: ADMIN });
  expect(response.status).toBe(200);
  return (await response.json()) as ExperimentReportView;
}

describe("experiment reports", () => {
  it("does not flag a bandit that sends more traffic to its better variant, and names its check", { timeout: 120_000 }, async () => {
    const id = `bandit_${crypto.randomUUID().slice(0, 8)}`;
    await publishRules({
      version: 1,
      slots: { hero: { selector: '[data-slot="hero"]' } },
      experiments: {
        [id]: {
          variants: ["plain", "bold", "wild"],
          allocation: "bandit",
          // What it learned so far: plain clearly ahead, so it gets most of the traffic.
          counts: {
            plain: { successes: 40, trials: 200 },
            bold: { successes: 30, trials: 200 },
            wild: { successes: 10, trials: 200 },
          },
        },
      },
      rules: [
        {
          id: "hero-bandit",
          experiment: {
            id,
            variants: { plain: {}, bold: { hero: { type: "setText", text: "BOLD" } }, wild: { hero: { type: "setText", text: "WILD" } } },
          },
        },
      ],
    });
    const visits = 300;
    for (let index = 0; index < visits; index++) {
      const response = await request("/v1/decide?path=/", { headers: BROWSER });
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    const counted = await eventually(async () => {
      const current = await report(id);
      const trials = Object.values(current.variants).reduce((sum, variant) => sum + variant.trials, 0);
      return trials >= visits ? current : undefined;
    }, 90_000);
    const trials = Object.values(counted.variants).map((variant) => variant.trials);
    // Far from an equal split, as a working bandit should be...
    expect(Math.max(...trials)).toBeGreaterThan(visits / 2);
    // ...and exactly as planned when each visitor was assigned.
    expect(counted.srm.flagged).toBe(false);
    expect(counted.srm.check).toBe("chi-square against the bandit's shares at each assignment");
    expect(counted.srm.exposures).toBe(visits);
    expect(counted.reward).toBe("clicks");
  });

  it("credits a 129.50 order once to the experiment, seen under three of its rules and slots", async () => {
    const id = `orders_${crypto.randomUUID().slice(0, 8)}`;
    await publishRules({
      version: 1,
      slots: { hero: { selector: '[data-slot="hero"]' } },
      experiments: { [id]: { variants: ["a", "b"] } },
      rules: [{ id: "hero-test", experiment: { id, variants: { a: {}, b: { hero: { type: "setText", text: "B" } } } } }],
    });
    const now = Date.now();
    const seen = (ruleId: string, slot: string, variant: string, hoursAgo: number): RememberedExposure => ({
      ruleId,
      slot,
      experiment: id,
      variant,
      decisionId: crypto.randomUUID(),
      at: now - hoursAgo * 3_600_000,
    });
    // Earlier rules versions ran the experiment under other rules; another rule ran beside it.
    const exposures = [
      seen("hero-v1", "hero", "a", 3),
      seen("banner-v2", "banner", "a", 2),
      seen("hero-test", "hero", "b", 1),
      { ...seen("footer", "footer", "a", 1), experiment: null, variant: null },
    ];
    const order: RecordedEvent = {
      messageId: crypto.randomUUID(),
      type: "track",
      event: "Order Completed",
      category: null,
      productId: null,
      path: "/checkout",
      receivedAt: now,
      clientTime: null,
      properties: { order_id: "o-1", revenue: 129.5 },
      consent: null,
    };
    const messages = feedbackFor(order, "pseudonymAAAAAAAAAAAAAAAAAAAAAAAA", exposures, 24 * 3_600_000);
    // The browser or the queue may deliver the same conversion more than once.
    const batch = createMessageBatch(
      "tailor-feedback",
      [...messages, ...messages].map((body, index) => ({ id: `m${index}`, timestamp: new Date(), attempts: 1, body })),
    );
    await consumeQueue(batch, env);
    const outcome = (await getQueueResult(batch, createExecutionContext())) as { explicitAcks: string[] };
    expect(outcome.explicitAcks.length).toBe(messages.length * 2);

    const credited = await report(id);
    expect(credited.variants.b).toMatchObject({ conversions: 1, revenue: 129.5 });
    expect(credited.variants.a).toMatchObject({ conversions: 0, revenue: 0 });
    expect(credited.totals).toMatchObject({ conversions: 1, revenue: 129.5 });
    expect(credited.attribution).toEqual({ model: "last-exposure", windowHours: 24, description: "last exposure within 24 h" });
    expect(credited.srm.check).toBe("chi-square against the planned weights");
    expect(credited.reward).toBeNull();
  });
});
