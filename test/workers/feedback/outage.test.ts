/**
 * A Kafka outage: every way the proxy can be down makes the consumer retry through the queue, never
 * dead-letter, and the retries at the queue's `max_retries` span days, inside the queue's retention,
 * so delivery pauses for the outage instead of everything being dead-lettered minutes in.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { QUEUE_MAX_RETRIES, QUEUE_RETENTION_SECONDS } from "../../../workers/feedback/retry-policy.ts";
import { deliverBatch, homepageExposure, productViewedEvent } from "../../support/worker/queue.ts";

/** The platform's longest retry delay (12 hours). */
const PLATFORM_MAX_DELAY_SECONDS = 43_200;
const DAY = 24 * 3600;

function bodies(): { queue: string; body: unknown }[] {
  const visitor = "outagevisitorCCCCCCCCCCCCCCCCCCC";
  const event = productViewedEvent(visitor);
  const decision = homepageExposure(visitor);
  return [
    { queue: "tailor-events", body: { v: 1, kind: "events", id: event.id, visitor, events: [event] } },
    { queue: "tailor-feedback", body: { v: 1, kind: "decisions", id: crypto.randomUUID(), decisions: [decision] } },
  ];
}

/** One delivery attempt of a single message (`message-0`); the delay asked for and what was acked. */
function attempt(queue: string, body: unknown, attempts: number, overrides: Partial<Env> = {}) {
  return deliverBatch(queue, [body], overrides, attempts);
}

type Outage = { name: string; proxy: () => Promise<Response> };

const outages: Outage[] = [
  ...[500, 502, 503, 504, 408, 429].map((status) => ({
    name: `answers ${status}`,
    proxy: async () => new Response("down", { status }),
  })),
  { name: "refuses connections", proxy: () => Promise.reject(new TypeError("Network connection lost.")) },
  { name: "times out", proxy: () => Promise.reject(new DOMException("The operation was aborted due to timeout", "TimeoutError")) },
  { name: "answers 200 with HTML from a load balancer", proxy: async () => new Response("<html>maintenance</html>", { status: 200 }) },
];

afterEach(() => vi.restoreAllMocks());

describe("a Kafka outage", () => {
  it.each(outages)("when the proxy $name, every message is retried at every attempt, none dead-lettered", async ({ proxy }) => {
    vi.spyOn(globalThis, "fetch").mockImplementation(proxy);
    const send = vi.spyOn(env.DEAD_LETTER_QUEUE, "send");
    for (const { queue, body } of bodies()) {
      for (const attempts of [1, 2, 10, 11, 50, QUEUE_MAX_RETRIES]) {
        const outcome = await attempt(queue, body, attempts);
        expect(outcome.acked).toEqual([]);
        expect(outcome.retried).toEqual(["message-0"]);
      }
    }
    expect(send).not.toHaveBeenCalled();
  });

  it("retries span days before the queue gives up, ending inside its retention", async () => {
    vi.spyOn(globalThis, "fetch").mockImplementation(() => Promise.reject(new TypeError("Network connection lost.")));
    const send = vi.spyOn(env.DEAD_LETTER_QUEUE, "send");
    const [, feedback] = bodies();
    let waited = 0;
    // The queue delivers a message QUEUE_MAX_RETRIES + 1 times before it dead-letters it.
    for (let attempts = 1; attempts <= QUEUE_MAX_RETRIES; attempts++) {
      const { delays } = await attempt("tailor-feedback", feedback?.body, attempts);
      const delay = delays["message-0"] ?? 0;
      expect(delay).toBeGreaterThan(0);
      expect(delay).toBeLessThanOrEqual(PLATFORM_MAX_DELAY_SECONDS);
      waited += delay;
    }
    expect(waited).toBeGreaterThanOrEqual(3 * DAY);
    expect(waited).toBeLessThan(QUEUE_RETENTION_SECONDS);
    expect(send).not.toHaveBeenCalled();
  });

  it("once the proxy is back, the waiting message is delivered and acked", async () => {
    const [events] = bodies();
    const outcome = await attempt(events?.queue ?? "", events?.body, QUEUE_MAX_RETRIES);
    expect(outcome.acked).toEqual(["message-0"]);
  });
});
