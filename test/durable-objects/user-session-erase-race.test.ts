/**
 * An erasure that runs while a batch waits for the queues (decision 0021 sends before storing):
 * the batch must not bring the erased profile back. The queue answers only when the test says so,
 * so the order of events is fixed whatever the machine's speed (past the send's own wait, the batch
 * is stored as unsent, which the test covers just the same).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import type { UserSession } from "../../durable-objects/user-session.ts";
import type { RecordedEvent } from "../../shared/events/recorded.ts";

function view(messageId: string, receivedAt: number): RecordedEvent {
  return {
    messageId,
    type: "track",
    event: "Product Viewed",
    category: "electronics",
    productId: "el-1",
    path: "/p/x",
    receivedAt,
    clientTime: null,
    properties: { category: "electronics" },
    consent: null,
  };
}

/**
 * Where the queue stands, as plain memory: promises cannot cross from the test into the object's
 * context, so both sides look at these flags instead (with short waits, and no deadline that a slow
 * machine could miss).
 */
const queue = { reached: false, released: false };

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resume) => setTimeout(resume, 5));
}

it.each(["record", "recordWithDigest"] as const)(
  "%s: a batch waiting for the queues when the visitor is erased is not stored, and the profile stays empty",
  async (call) => {
    const visitor = `eraseRace${call}${crypto.randomUUID().replaceAll("-", "")}`.slice(0, 32);
    const stub = env.USER_SESSION.getByName(visitor);
    const now = Date.now();
    await stub.record({ visitor, events: [view("first", now)] });
    queue.reached = false;
    queue.released = false;
    await runInDurableObject(stub, (instance: UserSession) => {
      const objectEnv = (instance as unknown as { env: Env }).env;
      const real = objectEnv.EVENTS_QUEUE;
      (objectEnv as { EVENTS_QUEUE: unknown }).EVENTS_QUEUE = {
        sendBatch: async (...args: Parameters<Queue["sendBatch"]>) => {
          queue.reached = true;
          await until(() => queue.released);
          return real.sendBatch(...args);
        },
      };
    });
    const batch = { visitor, events: [view("second", now)] };
    const pending = call === "record" ? stub.record(batch) : stub.recordWithDigest(batch, { attributes: ["behavior.views_all.total"] });
    await until(() => queue.reached);
    expect(await stub.erase([visitor])).toBe("device");
    queue.released = true;
    await pending;
    expect(await stub.readProfile({ attributes: ["behavior.views_all.total", "session.count"], now })).toEqual({
      "behavior.views_all.total": 0,
      "session.count": 0,
    });
  },
);
