/**
 * The ingest role: the tracker script, `POST /v1/events`, and the visitor's own privacy endpoints
 * `GET /v1/profile` (export) and `DELETE /v1/profile` (erasure).
 *
 * A browser is linked to a known user only when an `identify` or `alias` carries an identity proof
 * signed by the site's server (`shared/identity/proof.ts`); a bare `userId` is a claim and links
 * nothing. A linked browser exports its user's profile (it proved it is that user) but erases it
 * only with a fresh proof.
 *
 * An accepted batch is answered 202 only after the visitor's Durable Object has stored it; the
 * object itself forwards new events to the events queue (and retries from its outbox), so a retry
 * of the same batch is safe: known `messageId`s are counted as duplicates and not applied again.
 * @module
 */

import { type Context, Hono } from "hono";
import type { UserSession } from "../../durable-objects/user-session.ts";
import { normalizeMessage } from "../../shared/events/recorded.ts";
import { SegmentBatch, SegmentMessage } from "../../shared/events/segment.ts";
import { pointerOf } from "../../shared/json-pointer.ts";
import * as z from "../../shared/zod.ts";
import { parseJson, readTextBody, requireJson } from "../common/body.ts";
import { INTERNAL_API_PREFIX, settings } from "../common/config.ts";
import { type IdentityRejection, provenUser } from "../common/identity.ts";
import { placed } from "../common/placement.ts";
import { untrackedReason } from "../common/privacy.ts";
import { Problem } from "../common/problem.ts";
import { digestCookie, expiredDigestCookie, sealDigest } from "../common/profile-digest.ts";
import { liveState } from "../common/rules-store.ts";
import { expiredVisitorCookie, identifyVisitor, pseudonymFor, readVisitor, type Visitor, visitorCookie } from "../common/visitor.ts";
import { TRACKER_SCRIPT } from "./tracker.generated.ts";

/** Largest accepted body; a full batch of 100 typical events is about 40 KB. */
export const MAX_BODY_BYTES = 256 * 1024;

type IngestContext = Context<{ Bindings: Env }>;

export const ingestApp = new Hono<{ Bindings: Env }>();

let trackerFor: { prefix: string; script: string } | undefined;

/** The tracker with its endpoints under the configured API prefix (the built script says `/v1/`). */
function trackerScript(prefix: string): string {
  if (prefix === INTERNAL_API_PREFIX) return TRACKER_SCRIPT;
  if (trackerFor?.prefix !== prefix) trackerFor = { prefix, script: TRACKER_SCRIPT.replaceAll(`${INTERNAL_API_PREFIX}/`, `${prefix}/`) };
  return trackerFor.script;
}

ingestApp.get("/t.js", (context) =>
  context.body(trackerScript(settings(context.env).API_PREFIX), 200, {
    "content-type": "text/javascript; charset=utf-8",
    "cache-control": "public, max-age=300",
  }),
);

/** JSON pointers and messages for every schema violation, e.g. `/batch/3/messageId`. */
function schemaProblem(error: z.core.$ZodError): Problem {
  const errors = error.issues.slice(0, 20).map((issue) => ({
    pointer: pointerOf(issue.path),
    detail: issue.message,
  }));
  const first = errors[0];
  return new Problem(422, {
    slug: "invalid-events",
    title: "Invalid events",
    detail: first === undefined ? "The events do not match the schema." : `${first.pointer}: ${first.detail}`,
    extensions: { errors },
  });
}

function parseMessages(body: unknown): SegmentMessage[] {
  const isBatch = body !== null && typeof body === "object" && !Array.isArray(body) && "batch" in body;
  const parsed = isBatch ? SegmentBatch.safeParse(body) : SegmentMessage.safeParse(body);
  if (!parsed.success) throw schemaProblem(parsed.error);
  return "batch" in parsed.data ? parsed.data.batch : [parsed.data];
}

/** Applies the per-client-address and per-visitor limits; the address is only used hashed. */
async function enforceRateLimits(context: IngestContext, visitor: Visitor): Promise<void> {
  const { env } = context;
  // On Cloudflare the edge overwrites CF-Connecting-IP and every request has `cf`. A request without
  // `cf` did not come through the edge (Miniflare with `cf: false`, direct calls), so the header can
  // only be the client's own claim, and rotating it must not buy a fresh limit: all such requests
  // share one. (Under `wrangler dev`, Miniflare adds `cf` and keeps a client's header: see docs/security.md.)
  const address = (context.req.raw.cf === undefined ? undefined : context.req.header("cf-connecting-ip")) ?? "unknown";
  const [client, own] = await Promise.all([
    env.CLIENT_RATE_LIMITER.limit({ key: `client:${await pseudonymFor(`ip:${address}`, env.VISITOR_ID_SECRET)}` }),
    env.VISITOR_RATE_LIMITER.limit({ key: `visitor:${visitor.pseudonym}` }),
  ]);
  if (!client.success || !own.success) {
    throw new Problem(429, {
      slug: "too-many-requests",
      title: "Too many requests",
      detail: !own.success
        ? "Too many event batches from this visitor; try again in a minute."
        : "Too many requests from this address; try again in a minute.",
      headers: { "retry-after": "60" },
    });
  }
}

/** A user id claimed by an `identify` or `alias`, with the proof sent beside it, if any. */
interface IdentityClaim {
  userId: string;
  proof: string | undefined;
}

function identityClaims(messages: readonly SegmentMessage[]): IdentityClaim[] {
  const claims: IdentityClaim[] = [];
  for (const message of messages) {
    if ((message.type === "identify" || message.type === "alias") && typeof message.userId === "string") {
      claims.push({ userId: message.userId, proof: message.context?.tailor?.identity });
    }
  }
  return claims;
}

/** What the batch did about identity, as the response reports it. */
type LinkReport = { linked: true; relinked?: true } | { linked: false; reason: IdentityRejection };

/**
 * Links the visitor to the user of the last claim in the batch that carries a valid proof. Without
 * one nothing is linked: the events, traits included, stay with the visitor as they are.
 */
async function linkProvenUser(
  env: Env,
  session: DurableObjectStub<UserSession>,
  visitor: Visitor,
  claims: readonly IdentityClaim[],
  now: number,
): Promise<LinkReport> {
  let rejection: IdentityRejection = "proof-missing";
  for (let index = claims.length - 1; index >= 0; index--) {
    const claim = claims[index];
    if (claim === undefined) continue;
    const user = await provenUser(env, claim.userId, claim.proof, now);
    if (!user.ok) {
      // Report why the last claim failed: that is the one the site meant.
      if (index === claims.length - 1) rejection = user.error;
      continue;
    }
    const outcome = await session.linkToUser(user.value, visitor.pseudonym);
    return outcome === "relinked" ? { linked: true, relinked: true } : { linked: true };
  }
  return { linked: false, reason: rejection };
}

/**
 * The profile attributes the live rules read (the stable version's and, during a rollout, the
 * candidate's), for the digest; none when the rules are switched off or cannot be loaded.
 */
async function digestAttributes(context: IngestContext, now: number): Promise<string[]> {
  try {
    const live = await liveState(
      context.env,
      now,
      (promise) => context.executionCtx.waitUntil(promise),
      settings(context.env).RULES_REFRESH_MS,
    );
    if (live.killSwitch !== null) return [];
    return [...new Set([...(live.rules?.profileAttributes ?? []), ...(live.rollout?.rules.profileAttributes ?? [])])];
  } catch (error) {
    console.error(JSON.stringify({ message: "rules unavailable; no profile digest", error: String(error) }));
    return [];
  }
}

ingestApp.post("/v1/events", async (context) => {
  const { env } = context;
  const request = context.req.raw;
  const visitor = await identifyVisitor(context, env.VISITOR_ID_SECRET);
  await enforceRateLimits(context, visitor);
  requireJson(request);
  const messages = parseMessages(parseJson(await readTextBody(request, MAX_BODY_BYTES)));
  context.header("cache-control", "no-store");

  const untracked = untrackedReason(request, env);
  if (untracked !== null) {
    // The browser asked not to be tracked, or the visitor has not consented: nothing is stored,
    // forwarded or set.
    return context.json({ accepted: 0, duplicates: 0, ignored: messages.length, reason: untracked }, 202);
  }

  const receivedAt = Date.now();
  const events = messages.map((message) => normalizeMessage(message, receivedAt));
  const session = placed(env.USER_SESSION, env).getByName(visitor.pseudonym);
  // Link first, so a browser that just proved who it is records this batch for that user.
  const claims = identityClaims(messages);
  const link = claims.length === 0 ? null : await linkProvenUser(env, session, visitor, claims, receivedAt);
  const attributes = await digestAttributes(context, receivedAt);
  const { outcome, digest } = await session.recordWithDigest({ visitor: visitor.pseudonym, events }, { attributes });

  if (visitor.isNew) context.header("set-cookie", visitorCookie(visitor.id, request.url));
  // Whatever digest the browser held is out of date now: replaced, or removed so pages read.
  const sealed =
    digest === null || attributes.length === 0 ? null : await sealDigest(digest.json, visitor.pseudonym, env.VISITOR_ID_SECRET ?? "");
  context.header(
    "set-cookie",
    sealed === null || digest === null ? expiredDigestCookie(request.url) : digestCookie(sealed, digest.expires, Date.now(), request.url),
    { append: true },
  );
  return context.json({ ...outcome, ...link }, 202);
});

ingestApp.get("/v1/profile", async (context) => {
  const visitor = await readVisitor(context, context.env.VISITOR_ID_SECRET);
  if (visitor === null) {
    throw new Problem(404, {
      slug: "no-profile",
      title: "No profile",
      detail: "This browser has no Tailor visitor id, so nothing is kept about it.",
    });
  }
  const exported = await placed(context.env.USER_SESSION, context.env).getByName(visitor.pseudonym).exportProfile([visitor.pseudonym]);
  return context.body(exported, 200, { "content-type": "application/json", "cache-control": "no-store" });
});

/** The optional body of `DELETE /v1/profile`: a proof that the browser's user wants their profile erased. */
const ErasureRequest = z.strictObject({
  userId: z.string().check(z.minLength(1), z.maxLength(128)),
  identity: z.string().check(z.maxLength(256)),
});

/** Most bytes accepted in an erasure request's body. */
const MAX_ERASURE_BODY_BYTES = 4 * 1024;

function identityRefused(detail: string): Problem {
  return new Problem(403, { slug: "identity-not-proven", title: "Identity not proven", detail });
}

/**
 * Erasure. Without a body it deletes what the browser itself holds: an anonymous visitor's data,
 * or a linked browser's link (its data went to the user). With an identity proof for the user this
 * browser is linked to, the user's profile is erased too. A proof that does not hold, or one for
 * any other user, erases nothing (403).
 */
ingestApp.delete("/v1/profile", async (context) => {
  const { env } = context;
  const request = context.req.raw;
  const text = await readTextBody(request, MAX_ERASURE_BODY_BYTES);
  let user: string | null = null;
  if (text.trim() !== "") {
    requireJson(request);
    const parsed = ErasureRequest.safeParse(parseJson(text));
    if (!parsed.success) throw schemaProblem(parsed.error);
    const proven = await provenUser(env, parsed.data.userId, parsed.data.identity, Date.now());
    if (!proven.ok) throw identityRefused(`The identity proof was not accepted (${proven.error}); nothing was erased.`);
    user = proven.value;
  }
  context.header("cache-control", "no-store");
  const visitor = await readVisitor(context, env.VISITOR_ID_SECRET);
  if (visitor === null) {
    if (user !== null) throw identityRefused("This browser is not linked to that user; nothing was erased.");
    return context.body(null, 204);
  }
  const erased = await placed(env.USER_SESSION, env).getByName(visitor.pseudonym).erase([visitor.pseudonym], user);
  if (erased === "not-linked-to-user") throw identityRefused("This browser is not linked to that user; nothing was erased.");
  context.header("set-cookie", expiredVisitorCookie(context.req.url));
  context.header("set-cookie", expiredDigestCookie(context.req.url), { append: true });
  context.header("tailor-erased", erased);
  return context.body(null, 204);
});
