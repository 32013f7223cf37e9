/**
 * The decision role: every request no other role answers is proxied to the origin, and HTML pages
 * that live rules target are personalized on the way through. `GET /v1/decide` answers the same
 * decision as JSON, for single-page apps and native apps.
 *
 * The journey of a page request: identify the visitor → load (rules from isolate memory; the
 * visitor's profile and any KV models under deadlines) → decide one winner per slot → rewrite the
 * origin's HTML as it streams → log exposures and metrics after the response. Whatever fails on
 * the way, the visitor gets the origin's page: personalization is an addition, never a dependency.
 * @module
 */
import { type Context, Hono } from "hono";
import { OUTBOX_NAME } from "../../durable-objects/exposure-outbox.ts";
import type { UserSession } from "../../durable-objects/user-session.ts";
import { compilePath } from "../../shared/attribute-path.ts";
import { type ExposureBatchMessage, UNTRACKED_VISITORS } from "../../shared/feedback/messages.ts";
import { LruCache } from "../../shared/lru.ts";
import { type AttributeTree, nestAttributes } from "../../shared/profile/behavior.ts";
import { DIGEST_MAX_AGE_MS, digestValues, emptyDigest } from "../../shared/profile/digest.ts";
import { inRollout } from "../../shared/rollout/guard.ts";
import { type CompiledRules, targetsPath } from "../../shared/rules/compile.ts";
import { type Decision, decide } from "../../shared/rules/decide.ts";
import { armAttribute, armExperiment, armsFromProfile, armsToRemember } from "../../shared/rules/sticky.ts";
import { recordDecision, recordExposureSend, recordFallback } from "../common/analytics.ts";
import { settings } from "../common/config.ts";
import { loadModels, modelResolver } from "../common/models-store.ts";
import { originTargetForPath } from "../common/origin-target.ts";
import { placed } from "../common/placement.ts";
import { PREVIEW_PARAMETER, type PreviewGrant, verifyPreview } from "../common/preview.ts";
import { untrackedReason } from "../common/privacy.ts";
import { Problem } from "../common/problem.ts";
import { digestCookie, requestDigest, sealDigest } from "../common/profile-digest.ts";
import { rewritePage } from "../common/rewrite.ts";
import { heldLive, liveState } from "../common/rules-store.ts";
import { isAdminBearer } from "../common/secrets.ts";
import { Timings } from "../common/timings.ts";
import { identifyVisitor, type Visitor, visitorCookie } from "../common/visitor.ts";
import { isBot, isPrefetch, requestAttributes } from "./attributes.ts";
import { withDeadline } from "./deadline.ts";
import { liveCounts } from "./experiment-counts.ts";
import { logExposures } from "./exposure-log.ts";
import { fetchOrigin } from "./origin.ts";
import { type CountedPage, countPage, flushCountsLater } from "./page-counts.ts";

type DecideContext = Context<{ Bindings: Env }>;

/** Object ids per pseudonym: deriving one hashes the name, and ids (unlike stubs) outlive a request. */
const sessionIds = new LruCache<string, DurableObjectId>(10_000);

function sessionFor(env: Env, pseudonym: string): DurableObjectStub<UserSession> {
  let id = sessionIds.get(pseudonym);
  if (id === undefined) {
    id = placed(env.USER_SESSION, env).idFromName(pseudonym);
    sessionIds.set(pseudonym, id);
  }
  return placed(env.USER_SESSION, env).get(id);
}

/** Tailor's decision API (`/v1/decide`), mounted with the other Tailor routes. */
export const decideApi = new Hono<{ Bindings: Env }>();

/** The page proxy: every request that is not Tailor's own goes to the origin, pages personalized. */
export const pageProxy = new Hono<{ Bindings: Env }>();

const REWRITABLE_ENCODINGS = new Set(["", "identity", "gzip", "br", "deflate"]);

function isHtml(response: Response): boolean {
  return (response.headers.get("content-type") ?? "").toLowerCase().startsWith("text/html");
}

/** Only a successful, complete HTML page in an encoding the runtime decodes is rewritten. */
function isPersonalizable(response: Response): boolean {
  const encoding = (response.headers.get("content-encoding") ?? "").trim().toLowerCase();
  return response.status === 200 && isHtml(response) && REWRITABLE_ENCODINGS.has(encoding) && response.body !== null;
}

interface Journey {
  rules: CompiledRules;
  visitor: Visitor;
  /** No state read or written, no cookie: a bot, a prefetch, or a browser asking not to be tracked. */
  untracked: boolean;
  preview: PreviewGrant | null;
  decision: Decision;
  decisionId: string;
  timings: Timings;
  startedAt: number;
  /** The attributes the decision saw (for the explain trace). */
  attributes: AttributeTree;
  /** Every stage that fell back on the way (profile, models, actions), for the rollout guard's counts. */
  fallbacks: string[];
  /** When the decision was made (its time is `decidedAt - startedAt`). */
  decidedAt: number;
  /** For a new visitor: the `Set-Cookie` value of the empty profile's digest, so their next pages need no read. */
  digestCookie: string | null;
}

/**
 * Why a request gets no decision: no rules or a path no rule targets ("not-targeted"), or a path
 * rules do target but a bot, a prefetch or a failure to identify the visitor ("not-personalized").
 */
type NoDecision = "not-targeted" | "not-personalized";

/**
 * Everything up to the decision, shared by the page rewrite and the JSON API, or why there is
 * nothing to decide.
 */
async function decideRequest(
  context: DecideContext,
  /** The request's own URL, parsed once by the caller. */
  url: URL,
  target: URL,
  explain: (grant: PreviewGrant | null) => boolean,
  /** For a page: the origin's response, which the decision cannot beat anyway (see `withDeadline` in `deadline.ts`). */
  originResponse?: Promise<unknown>,
): Promise<Journey | NoDecision> {
  const { env } = context;
  const request = context.req.raw;
  const path = target.pathname;
  const now = Date.now();
  const timings = new Timings();
  const waitUntil = (promise: Promise<unknown>) => context.executionCtx.waitUntil(promise);

  const config = settings(env);
  const interval = config.RULES_REFRESH_MS;
  // Rules come from isolate memory; only a fresh isolate waits for KV, and then under a deadline.
  const live =
    heldLive(env, now, waitUntil, interval) ??
    (await timings.measure("rules", () =>
      withDeadline(liveState(env, now, waitUntil, interval), { milliseconds: config.RULES_DEADLINE_MS, startedAt: now }, null),
    ));
  // The kill switch: pages pass through as the origin sent them, no cookie, nothing logged.
  if (live !== null && live.killSwitch !== null) return "not-targeted";
  const stable = live?.rules ?? null;
  const candidate = live?.rollout ?? null;
  if (stable === null && candidate === null) {
    recordFallback(env.ANALYTICS, "rules-unavailable", path);
    return "not-targeted";
  }
  if (!(stable !== null && targetsPath(stable, path)) && !(candidate !== null && targetsPath(candidate.rules, path))) return "not-targeted";
  if (isBot(request) || isPrefetch(request)) return "not-personalized";

  let visitor: Visitor;
  try {
    visitor = await identifyVisitor(context, env.VISITOR_ID_SECRET);
  } catch (error) {
    console.error(JSON.stringify({ message: "visitor identity unavailable; serving the origin page", error: String(error) }));
    recordFallback(env.ANALYTICS, "identity-unavailable", path);
    return "not-personalized";
  }
  // During a guarded rollout the visitor's pseudonym (minted on this request for a new visitor)
  // picks the version: the same visitor keeps the same one for the whole rollout.
  const rules =
    candidate !== null && inRollout(candidate.state.salt, visitor.pseudonym, candidate.state.percent) ? candidate.rules : stable;
  if (rules === null || !targetsPath(rules, path)) return "not-targeted";
  const untracked = untrackedReason(request, env) !== null;
  const token = url.searchParams.get(PREVIEW_PARAMETER);
  const preview = token === null ? null : await verifyPreview(token, env.VISITOR_ID_SECRET, now, path);

  // Bandit arms the visitor already has come back with the profile read, at no extra wait.
  const wanted = rules.bandits.length === 0 ? rules.profileAttributes : [...rules.profileAttributes, ...rules.bandits.map(armAttribute)];
  const needsProfile = !untracked && !visitor.isNew && wanted.length > 0;
  // A signed digest of this visitor's profile that covers what the rules read answers without the
  // object; a missing, altered, foreign, expired or too narrow one means a normal read.
  const digest = needsProfile ? await requestDigest(context, visitor.pseudonym, env.VISITOR_ID_SECRET, now) : null;
  const digested = digest === null ? null : digestValues(digest, wanted, now, isArm);
  if (digested !== null) timings.note("profile", "digest");
  const profileRead = !needsProfile
    ? Promise.resolve({})
    : digested !== null
      ? Promise.resolve(digested)
      : timings.measure("profile", () =>
          withDeadline(
            sessionFor(env, visitor.pseudonym)
              .readProfile({ attributes: wanted, now })
              .then((values) => values as Record<string, unknown>),
            { milliseconds: config.PROFILE_DEADLINE_MS, startedAt: now, armWhen: originResponse },
            null,
          ),
        );
  const modelsLoaded = loadModels(env, rules, config.MODELS_DEADLINE_MS, timings);
  const [profile] = await Promise.all([profileRead, modelsLoaded]);
  const fallbacks: string[] = [];
  if (profile === null) {
    timings.note("fallback", "profile");
    recordFallback(env.ANALYTICS, "profile-unavailable", path);
    fallbacks.push("profile-unavailable");
  }

  const remembered = armsFromProfile(profile ?? {});
  const attributes = nestAttributes(
    requestAttributes(request, target, { now, isNewVisitor: visitor.isNew, groups: rules.groups }),
    profile ?? {},
  );
  const decision = timings.measureSync("decide", () =>
    decide(rules, {
      path,
      attributes,
      now,
      unit: visitor.pseudonym,
      model: modelResolver(rules),
      remembered,
      banditCounts: liveCounts(env, rules, now, waitUntil),
      ...(preview === null ? {} : { forced: preview.forced }),
      explain: explain(preview),
    }),
  );
  for (const reason of decision.fallbacks) {
    timings.note("fallback", reason);
    recordFallback(env.ANALYTICS, reason, path);
    fallbacks.push(reason);
  }
  // Only when the profile read answered (or there was none to make): without it, what the visitor
  // already has is unknown and must not be replaced. Previews force variants and are not remembered.
  if (profile !== null && !untracked && preview === null) {
    const fresh = armsToRemember(decision.assignments, rules.bandits, remembered);
    if (Object.keys(fresh).length > 0) {
      waitUntil(
        sessionFor(env, visitor.pseudonym)
          .rememberAssignments(fresh)
          .catch((error: unknown) => console.error(JSON.stringify({ message: "bandit arms not remembered", error: String(error) }))),
      );
    }
  }
  // A new visitor has no state until their first batch, whose answer replaces this digest.
  const sealed =
    visitor.isNew && !untracked && env.VISITOR_ID_SECRET !== undefined
      ? await sealDigest(JSON.stringify(emptyDigest(now + DIGEST_MAX_AGE_MS)), visitor.pseudonym, env.VISITOR_ID_SECRET)
      : null;
  return {
    rules,
    visitor,
    untracked,
    preview,
    decision,
    decisionId: crypto.randomUUID(),
    timings,
    startedAt: now,
    attributes,
    fallbacks,
    decidedAt: Date.now(),
    digestCookie: sealed === null ? null : digestCookie(sealed, now + DIGEST_MAX_AGE_MS, now, request.url),
  };
}

function isArm(path: string): boolean {
  return armExperiment(path) !== null;
}

/** After the response: exposures on the feedback queue (not for previews) and the decision metric. */
function logDecision(context: DecideContext, journey: Journey, path: string): void {
  const { env } = context;
  const { decision, visitor, rules, decisionId, preview, untracked } = journey;
  recordDecision(env.ANALYTICS, path, decision.slots.length, decision.holdout, Date.now() - journey.startedAt);
  if (preview !== null || decision.assignments.length === 0) return;
  const exposures: ExposureBatchMessage = {
    v: 1,
    kind: "exposures",
    id: decisionId,
    // A visitor who asked not to be tracked is counted, but not under their pseudonym.
    visitor: untracked ? UNTRACKED_VISITORS : visitor.pseudonym,
    path,
    rulesVersion: rules.version,
    holdout: decision.holdout,
    at: new Date(journey.startedAt).toISOString(),
    assignments: decision.assignments,
    ...(Object.keys(decision.allocations).length > 0 ? { allocations: decision.allocations } : {}),
  };
  logExposures(env.FEEDBACK_QUEUE, exposures, {
    windowMs: settings(env).EXPOSURE_BATCH_MS,
    waitUntil: (promise) => context.executionCtx.waitUntil(promise),
    onSettled: ({ outcome, decisions, attempts, exposedMs }) => recordExposureSend(env.ANALYTICS, outcome, decisions, attempts, exposedMs),
    park: (message) => placed(env.EXPOSURE_OUTBOX, env).getByName(OUTBOX_NAME).park(message),
    onParked: (error, parked) => {
      console.warn(JSON.stringify({ message: "exposure batch parked in the outbox", decisions: parked.length, error: String(error) }));
    },
    onFailure: (error, lost) => {
      console.error(
        JSON.stringify({
          message: "exposure logging failed",
          decisions: lost.map((one) => one.id),
          count: lost.reduce((sum, one) => sum + one.assignments.length, 0),
          error: String(error),
        }),
      );
      for (const one of lost) recordFallback(env.ANALYTICS, "exposure-queue-failed", one.path);
    },
  });
}

/**
 * What the origin may say about caching or identifying its page that stops being true once the page
 * is personalized: directives for shared caches and CDNs (which would keep one visitor's page for
 * the next), expiry, and validators and digests of the origin's bytes (a revalidation must not be
 * answered 304 for another visitor's version). `Cache-Control` itself is overwritten.
 * @see https://www.rfc-editor.org/rfc/rfc9111 and https://developers.cloudflare.com/cache/concepts/cdn-cache-control/
 */
const SHARED_CACHE_HEADERS = [
  "cdn-cache-control",
  "cloudflare-cdn-cache-control",
  "surrogate-control",
  "surrogate-key",
  "cache-tag",
  "expires",
  "pragma",
  "age",
  "etag",
  "last-modified",
  "content-md5",
  "digest",
  "repr-digest",
  "content-digest",
  "content-length",
];

/**
 * A page some rule targets, served as the origin sent it (to a bot, a prefetch, a HEAD request, or
 * after a failure): other visitors of the same URL get personalized pages, so no shared cache may
 * keep this one for them, and a prefetch must not leave the default page in the browser's cache.
 * Its bytes are the origin's, so its length stays.
 */
const SHARED_CACHE_HEADER_NAMES: ReadonlySet<string> = new Set(SHARED_CACHE_HEADERS);

/** Deletes the `SHARED_CACHE_HEADERS` the response has (one pass over its few headers, not a delete per name). */
function deleteSharedCacheHeaders(headers: Headers, keepLength: boolean): void {
  const present: string[] = [];
  for (const name of headers.keys()) {
    if (SHARED_CACHE_HEADER_NAMES.has(name) && !(keepLength && name === "content-length")) present.push(name);
  }
  for (const name of present) headers.delete(name);
}

function unpersonalizedHeaders(headers: Headers): void {
  deleteSharedCacheHeaders(headers, true);
  headers.set("cache-control", "private, no-cache");
  headers.append("vary", "Cookie");
}

function personalizedHeaders(headers: Headers, journey: Journey, requestUrl: string): void {
  deleteSharedCacheHeaders(headers, false);
  headers.set("cache-control", journey.preview === null ? "private, no-cache" : "private, no-store");
  headers.append("vary", "Cookie");
  headers.set("server-timing", journey.timings.header());
  for (const [name, value] of Object.entries(journey.decision.page.headers)) headers.set(name, value);
  if (journey.visitor.isNew && !journey.untracked) headers.append("set-cookie", visitorCookie(journey.visitor.id, requestUrl));
  if (journey.digestCookie !== null) headers.append("set-cookie", journey.digestCookie);
}

/** Counts the page under the version that decided it; the counts leave later, off the page's path. */
function countJourney(context: DecideContext, journey: Journey, origin: Response): CountedPage {
  const now = Date.now();
  const page = countPage(journey.rules.version, {
    visitor: journey.visitor.pseudonym,
    fallbacks: journey.fallbacks,
    originError: origin.status >= 500,
    decideMs: journey.decidedAt - journey.startedAt,
  });
  flushCountsLater(context.env, now, (promise) => context.executionCtx.waitUntil(promise));
  return page;
}

async function servePage(context: DecideContext): Promise<Response> {
  const request = context.req.raw;
  const url = new URL(request.url);
  const path = url.pathname;
  // Never rejects: an origin that fails becomes a 502/504 page, which is not personalizable.
  const fromOrigin = fetchOrigin(request, context.env, (promise) => context.executionCtx.waitUntil(promise), url);

  // A failed decision is treated as a targeted path: the page keeps out of shared caches.
  let journey: Journey | NoDecision = "not-personalized";
  try {
    journey = await decideRequest(context, url, url, () => false, fromOrigin);
  } catch (error) {
    console.error(JSON.stringify({ message: "decision failed; serving the origin page", path, error: String(error) }));
    recordFallback(context.env.ANALYTICS, "decision-error", path);
  }
  const origin = await fromOrigin;
  // Paths no rule targets keep the origin's answer byte for byte.
  if (journey === "not-targeted") return origin;
  const counted = typeof journey === "string" ? null : countJourney(context, journey, origin);
  if (journey === "not-personalized" || !isPersonalizable(origin)) {
    // Assets and Tailor's own 502/504 (no-store) stay as they are.
    if (origin.status >= 500 || !isHtml(origin)) return origin;
    const served = new Response(origin.body, origin);
    unpersonalizedHeaders(served.headers);
    return served;
  }

  const { decision } = journey;
  if (decision.page.redirect !== undefined) {
    await origin.body?.cancel();
    const response = new Response(null, { status: decision.page.redirect.status, headers: { location: decision.page.redirect.to } });
    personalizedHeaders(response.headers, journey, request.url);
    logDecision(context, journey, path);
    return response;
  }
  // The origin's response is this request's own copy (`fetchOrigin`), so its headers are edited in
  // place and the rewriter's output is the only other response made.
  personalizedHeaders(origin.headers, journey, request.url);
  logDecision(context, journey, path);
  if (decision.slots.length === 0) return origin;
  return rewritePage(origin, decision.slots, (slot, error) => {
    console.error(JSON.stringify({ message: "slot action failed; element left as the origin sent it", slot, error: String(error) }));
    recordFallback(context.env.ANALYTICS, "rewrite-error", path);
    counted?.actionFailed();
  });
}

/**
 * A path on this host as a client means it: one leading slash and no second one, no backslash (URL
 * parsers read it as a slash), no whitespace or control characters (dropped or rejected by them).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const PLAIN_PATH = /^\/(?![/\\])[^\\\s\u0000-\u001f\u007f]*$/;

/** `GET /v1/decide?path=/`: the page's decision as JSON; `explain=1` adds the trace (admin or signed preview). */
decideApi.get("/v1/decide", async (context) => {
  const path = context.req.query("path") ?? "/";
  if (!PLAIN_PATH.test(path) || path.length > 512) {
    throw new Problem(400, {
      slug: "invalid-path",
      title: "Invalid path",
      detail: "path must be an absolute path such as /c/electronics.",
    });
  }
  const wantsExplain = context.req.query("explain") === "1";
  // In access-only mode the admin token opens nothing, the decision trace included.
  const isAdmin =
    settings(context.env).ADMIN_AUTH !== "access-only" &&
    (await isAdminBearer(context.req.header("authorization"), context.env.ADMIN_TOKEN));
  const url = new URL(context.req.url);
  const journey = await decideRequest(
    context,
    url,
    // Set on Tailor's own URL, never resolved against it: resolving `//host/x` would be another host.
    originTargetForPath(url.origin, path),
    (grant) => wantsExplain && (isAdmin || grant?.explain === true),
  );
  if (wantsExplain && typeof journey !== "string" && journey.decision.trace === undefined) {
    throw new Problem(403, {
      slug: "explain-forbidden",
      title: "Explain not allowed",
      detail: "The decision trace needs the admin token or a signed preview that grants it.",
    });
  }
  context.header("cache-control", "private, no-store");
  if (typeof journey === "string") return context.json({ decisionId: null, path, slots: [], page: { headers: {} }, holdout: false });
  const { decision } = journey;
  context.header("server-timing", journey.timings.header());
  if (journey.visitor.isNew && !journey.untracked) context.header("set-cookie", visitorCookie(journey.visitor.id, context.req.url));
  if (journey.digestCookie !== null) context.header("set-cookie", journey.digestCookie, { append: true });
  logDecision(context, journey, path);
  return context.json({
    decisionId: journey.decisionId,
    rulesVersion: journey.rules.version,
    path,
    holdout: decision.holdout,
    slots: decision.slots,
    page: decision.page,
    fallbacks: decision.fallbacks,
    ...(decision.trace === undefined
      ? {}
      : {
          trace: {
            attributes: Object.fromEntries(journey.rules.attributePaths.map((name) => [name, compilePath(name)(journey.attributes)])),
            rules: decision.trace,
            scores: decision.scores,
            assignments: decision.assignments,
            timings: journey.timings.header(),
          },
        }),
  });
});

pageProxy.get("*", servePage);
pageProxy.all("*", (context) => fetchOrigin(context.req.raw, context.env, (promise) => context.executionCtx.waitUntil(promise)));
