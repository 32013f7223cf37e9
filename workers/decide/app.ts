/**
 * The decision role: every request that is not for another role is proxied to the origin, and
 * HTML pages that live rules target are personalized on the way through.
 *
 * The journey of a page request: identify the visitor → load (rules from isolate memory, the
 * visitor's profile from their Durable Object under a deadline) → decide one winner per slot →
 * rewrite the origin's HTML as it streams → log exposures after the response. Whatever fails on
 * the way, the visitor gets the origin's page: personalization is an addition, never a dependency.
 * @module
 */
import { type Context, Hono } from "hono";
import type { ProfileValues } from "../../durable-objects/user-session.ts";
import type { ExposureMessage } from "../../shared/feedback/messages.ts";
import { nestAttributes } from "../../shared/profile/behavior.ts";
import { type CompiledRules, decideSlots, type SlotDecision, targetsPath } from "../../shared/rules/compile.ts";
import { honoursPrivacySignal } from "../common/privacy.ts";
import { identifyVisitor, VISITOR_COOKIE, type Visitor, visitorCookie } from "../common/visitor.ts";
import { rewritePage } from "./rewrite.ts";
import { liveRules } from "./rules-store.ts";

/** How long a page waits for the visitor's profile before deciding without it. */
export const PROFILE_DEADLINE_MS = 50;

export const decideApp = new Hono<{ Bindings: Env }>();

type DecideContext = Context<{ Bindings: Env }>;

/** The origin request: same method, path, query, headers and body, minus Tailor's own cookie. */
function originRequest(request: Request, origin: string): Request {
  const incoming = new URL(request.url);
  const target = new URL(incoming.pathname + incoming.search, origin);
  const headers = new Headers(request.headers);
  const cookies = headers.get("cookie");
  if (cookies !== null) {
    const kept = cookies
      .split(";")
      .map((part) => part.trim())
      .filter((part) => part !== "" && !part.startsWith(`${VISITOR_COOKIE}=`));
    if (kept.length > 0) headers.set("cookie", kept.join("; "));
    else headers.delete("cookie");
  }
  return new Request(target, { method: request.method, headers, body: request.body, redirect: "manual" });
}

function isPersonalizable(response: Response): boolean {
  const type = response.headers.get("content-type") ?? "";
  return response.status === 200 && type.toLowerCase().startsWith("text/html");
}

class Timings {
  readonly #entries: string[] = [];

  async measure<T>(name: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.#entries.push(`${name};dur=${(performance.now() - started).toFixed(1)}`);
    }
  }

  header(): string {
    return this.#entries.join(", ");
  }
}

/** Resolves to the profile, or to `null` when it fails or misses the deadline. */
async function readProfile(env: Env, visitor: Visitor, attributes: string[], now: number): Promise<ProfileValues | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), PROFILE_DEADLINE_MS);
  });
  const read = env.USER_SESSION.getByName(visitor.pseudonym)
    .readProfile({ attributes, now })
    .catch((error: unknown) => {
      console.error(JSON.stringify({ message: "profile read failed", error: String(error) }));
      return null;
    });
  try {
    return await Promise.race([read, deadline]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function exposuresFor(
  decisions: readonly SlotDecision[],
  visitor: Visitor,
  path: string,
  rules: CompiledRules,
  now: number,
): ExposureMessage[] {
  const decisionId = crypto.randomUUID();
  const at = new Date(now).toISOString();
  return decisions.map((decision) => ({
    v: 1,
    kind: "exposure",
    id: `${decisionId}:${decision.slot}`,
    decisionId,
    visitor: visitor.pseudonym,
    ruleId: decision.ruleId,
    slot: decision.slot,
    path,
    rulesVersion: rules.version,
    at,
  }));
}

async function servePage(context: DecideContext): Promise<Response> {
  const { env } = context;
  const request = context.req.raw;
  const url = new URL(request.url);
  const now = Date.now();
  const timings = new Timings();
  const waitUntil = (promise: Promise<unknown>) => context.executionCtx.waitUntil(promise);
  const fromOrigin = timings.measure("origin", () => fetch(originRequest(request, env.ORIGIN_URL)));
  // Awaited below; this only keeps an early origin failure from being reported as unhandled meanwhile.
  fromOrigin.catch(() => {});

  let rules: CompiledRules | null = null;
  try {
    rules = await timings.measure("rules", () => liveRules(env.RULES, now, waitUntil));
  } catch (error) {
    console.error(JSON.stringify({ message: "rules unavailable; serving the origin page", error: String(error) }));
  }
  if (rules === null || request.method !== "GET" || !targetsPath(rules, url.pathname)) return fromOrigin;

  let visitor: Visitor;
  try {
    visitor = await identifyVisitor(context, env.VISITOR_ID_SECRET);
  } catch (error) {
    console.error(JSON.stringify({ message: "visitor identity unavailable; serving the origin page", error: String(error) }));
    return fromOrigin;
  }
  // A visitor who asked not to be tracked is decided on the request alone: no state, no cookie.
  const untracked = honoursPrivacySignal(request, env);
  const wanted = rules.profileAttributes;
  const profile =
    untracked || visitor.isNew || wanted.length === 0
      ? {}
      : ((await timings.measure("profile", () => readProfile(env, visitor, wanted, now))) ?? {});
  const attributes = nestAttributes(
    {
      page: { path: url.pathname },
      geo: { country: (request.cf?.country as string | undefined) ?? null },
      visitor: { new: visitor.isNew },
    },
    profile,
  );
  const decisions = decideSlots(rules, url.pathname, attributes);

  const origin = await fromOrigin;
  if (!isPersonalizable(origin)) return origin;
  const response = new Response(decisions.length > 0 ? rewritePage(origin, decisions).body : origin.body, origin);
  response.headers.delete("content-length");
  response.headers.delete("etag");
  response.headers.delete("last-modified");
  response.headers.set("cache-control", "private, no-cache");
  response.headers.append("vary", "Cookie");
  response.headers.set("server-timing", timings.header());
  if (visitor.isNew && !untracked) response.headers.append("set-cookie", visitorCookie(visitor.id, request.url));

  if (decisions.length > 0) {
    const exposures = exposuresFor(decisions, visitor, url.pathname, rules, now);
    waitUntil(
      env.FEEDBACK_QUEUE.sendBatch(exposures.map((body) => ({ body, contentType: "json" }))).catch((error: unknown) =>
        console.error(JSON.stringify({ message: "exposure logging failed", count: exposures.length, error: String(error) })),
      ),
    );
  }
  return response;
}

decideApp.get("*", servePage);
decideApp.all("*", (context) => fetch(originRequest(context.req.raw, context.env.ORIGIN_URL)));
