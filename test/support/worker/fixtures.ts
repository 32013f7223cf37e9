/**
 * Helpers for tests that run inside workerd against the real bindings.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { DEMO_RELATED_KEY, demoRelatedModel } from "../../../demo-shop/models.ts";
import demoRules from "../../../demo-shop/rules.json";
import { importIdentityKey, signIdentityProof } from "../../../shared/identity/proof.ts";
import type { ProfileExport } from "../../../shared/profile/export.ts";
import { type Model, RULES_LIVE_KEY, RulesDocument } from "../../../shared/rules/document.ts";
import { checkDocumentMarkup } from "../../../shared/rules/markup-checks.ts";
import { signedModel, signedVersion } from "../../../shared/rules/signature.ts";
import admin from "../../../workers/admin/index.ts";
import { forgetRules } from "../../../workers/common/rules-store.ts";
import worker from "../../../workers/index.ts";

export const BASE = "http://shop.test";

/**
 * Stores a rules document in KV as a publish does (signed, its card templates compiled) without
 * going through the admin, and returns what was stored. A document that does not validate is
 * stored signed all the same, with no templates: tests use that to show what signing vouches for.
 */
export async function storeSignedVersion(document: unknown, version: number): Promise<{ key: string; text: string }> {
  const parsed = RulesDocument.safeParse(document);
  const templates = parsed.success ? checkDocumentMarkup(parsed.data).templates : {};
  const stored = await signedVersion(
    env.RULES_SIGNING_KEY,
    version,
    { document: document as Record<string, unknown>, templates },
    {
      author: "test",
      message: "stored by a test",
      publishedAt: new Date(0).toISOString(),
    },
  );
  await env.RULES.put(stored.key, stored.text, { metadata: stored.metadata });
  return stored;
}

/** Stores a model in KV as `PUT /admin/api/models/:key` does (signed), without going through the admin, and returns what was stored. */
export async function storeSignedModel(
  key: string,
  model: Model,
): Promise<{ key: string; text: string; metadata: { signature?: string } }> {
  const stored = await signedModel(env.RULES_SIGNING_KEY, key, model, { author: "test", publishedAt: new Date(0).toISOString() });
  await env.RULES.put(stored.key, stored.text, { metadata: stored.metadata });
  return stored;
}

/** Publishes a rules document into KV (signed, as a publish stores it) and makes the isolate read it on the next request. */
export async function publishRules(document: unknown = demoRules, version = 1): Promise<void> {
  await storeSignedModel(DEMO_RELATED_KEY, demoRelatedModel());
  await storeSignedVersion(document, version);
  await env.RULES.put(RULES_LIVE_KEY, JSON.stringify({ version }));
  forgetRules();
}

/**
 * The environment with `ADMIN` calling the admin Worker's handler in this isolate with that same
 * environment: for tests that change settings (`overrides`), which a real service binding would
 * not carry to the admin Worker. Without overrides, tests use the real binding.
 */
type IncomingRequest = Request<unknown, IncomingRequestCfProperties>;

export function withInProcessAdmin(testEnv: Env): Env {
  const merged: Env = { ...testEnv };
  const fetcher = {
    fetch: (input: RequestInfo | URL, init?: RequestInit) =>
      Promise.resolve(admin.fetch(new Request(input, init) as IncomingRequest, merged, createExecutionContext())),
    connect: () => {
      throw new Error("not supported");
    },
  } satisfies Fetcher;
  merged.ADMIN = fetcher;
  return merged;
}

/**
 * Sends a request through the Worker's own fetch handler, with the real bindings. (The pool's
 * `SELF.fetch` / `exports.default.fetch` slow down quadratically with the number of calls in
 * @cloudflare/vitest-pool-workers 0.15.1 — 10 ms per call after 200 calls, 250 ms after 800 — so
 * tests call the handler directly.)
 */
export function request(path: string, init: RequestInit = {}, overrides: Partial<Env> = {}): Promise<Response> {
  const testEnv = Object.keys(overrides).length === 0 ? env : withInProcessAdmin({ ...env, ...overrides });
  return Promise.resolve(worker.fetch(new Request(new URL(path, BASE), init), testEnv, createExecutionContext()));
}

/** Messages the Worker put on the feedback queue, recorded on their way to the real queue. */
export function recordingFeedbackQueue(): { queue: Queue; sent: unknown[][] } {
  const sent: unknown[][] = [];
  const queue = {
    send: (body: unknown, options?: QueueSendOptions) => {
      sent.push([body]);
      return env.FEEDBACK_QUEUE.send(body, options);
    },
    sendBatch: (messages: Iterable<MessageSendRequest>, options?: QueueSendBatchOptions) => {
      const list = [...messages];
      sent.push(list.map((message) => message.body));
      return env.FEEDBACK_QUEUE.sendBatch(list, options);
    },
  } as unknown as Queue;
  return { queue, sent };
}

/** Analytics Engine data points the Worker wrote, recorded on their way to the real binding. */
export function recordingAnalytics(): { dataset: AnalyticsEngineDataset; points: AnalyticsEngineDataPoint[] } {
  const points: AnalyticsEngineDataPoint[] = [];
  const dataset = {
    writeDataPoint: (point?: AnalyticsEngineDataPoint) => {
      points.push(point ?? {});
      env.ANALYTICS.writeDataPoint(point);
    },
  };
  return { dataset, points };
}

/** The `name=value` part of the visitor cookie a response sets. */
export function visitorCookieFrom(response: Response): string | null {
  const header = response.headers.get("set-cookie") ?? "";
  const match = /tailor_vid=([A-Za-z0-9_-]+)/.exec(header);
  return match ? `tailor_vid=${match[1]}` : null;
}

let counter = 0;

/** A Segment `track` message with a fresh id. */
export function track(event: string, properties: Record<string, unknown> = {}): Record<string, unknown> {
  counter++;
  return { type: "track", event, properties, messageId: `test-${Date.now()}-${counter}`, timestamp: new Date().toISOString() };
}

/**
 * An identity proof for `userId` as the site's server would sign it: by default under the test
 * `IDENTITY_SECRET`, valid for an hour.
 */
export async function identityProof(
  userId: string,
  { expires = Math.floor(Date.now() / 1000) + 3_600, secret = env.IDENTITY_SECRET }: { expires?: number; secret?: string } = {},
): Promise<string> {
  return signIdentityProof(await importIdentityKey(secret), userId, expires);
}

/** A Segment `identify` with a fresh id; `proof` goes where Tailor reads it, `context.tailor.identity`. */
export function identify(
  userId: string | null,
  { proof, traits }: { proof?: string; traits?: Record<string, unknown> } = {},
): Record<string, unknown> {
  counter++;
  return {
    type: "identify",
    userId,
    messageId: `identify-${Date.now()}-${counter}`,
    ...(traits === undefined ? {} : { traits }),
    ...(proof === undefined ? {} : { context: { tailor: { identity: proof } } }),
  };
}

export function postEvents(body: unknown, cookie?: string): Promise<Response> {
  return request("/v1/events", {
    method: "POST",
    headers: { "content-type": "application/json", ...(cookie === undefined ? {} : { cookie }) },
    body: JSON.stringify(body),
  });
}

/** Records the Kafka REST double has received on a topic. */
export async function kafkaRecords(topic: string): Promise<{ key: unknown; value: Record<string, unknown> }[]> {
  const response = await fetch(`${env.KAFKA_REST_URL}/_double/records?topic=${encodeURIComponent(topic)}`);
  return (await response.json()) as { key: unknown; value: Record<string, unknown> }[];
}

/** Polls until `check` returns a value, for effects that happen after a response (queues). */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A new visitor who has sent one event: the `tailor_vid=…` cookie the Worker set. */
export async function newVisitor(): Promise<string> {
  const response = await postEvents(track("Product Viewed", { product_id: "hm-01", category: "home" }));
  expect(response.status).toBe(202);
  const cookie = visitorCookieFrom(response);
  if (cookie === null) throw new Error("no visitor cookie set");
  return cookie;
}

/** What `GET /v1/profile` exports for the browser with `cookie`. */
export async function exported(cookie: string): Promise<ProfileExport> {
  const response = await request("/v1/profile", { headers: { cookie } });
  expect(response.status).toBe(200);
  return (await response.json()) as ProfileExport;
}
