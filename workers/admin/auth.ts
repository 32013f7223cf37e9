/**
 * Who may use `/admin`, and as whom. Three ways in:
 *
 * 1. `Authorization: Bearer <ADMIN_TOKEN>` — the API, the command line, CI;
 * 2. Cloudflare Access, when `ACCESS_TEAM_DOMAIN` and `ACCESS_AUD` are set: the
 *    `Cf-Access-Jwt-Assertion` JWT is verified (RS256) against the team's published keys;
 * 3. the web editor's session cookie, signed with `hono/cookie`, issued after signing in with the
 *    token and listed in the `RulesRegistry` until sign-out or expiry. Requests that change something with only the cookie
 *    must also carry the page's CSRF token (`x-csrf-token`, or a form's `csrf` field).
 *
 * Changes made with an Access assertion or a cookie are refused when a browser says they come
 * from another origin (`hono/csrf`, in `security.ts`). The bearer token needs no such check: no
 * browser attaches it by itself.
 *
 * With `ADMIN_AUTH = "access-only"` only the second way is open: the token and the sign-in cookie
 * are refused, and `/admin/login` is closed. People come through Access with their identity
 * provider; the command-line tools with an Access service token (`CF-Access-Client-Id` and
 * `CF-Access-Client-Secret`), which Access turns into the same kind of assertion.
 *
 * Anything else gets a 401 problem that does not say which part was wrong.
 * @see https://developers.cloudflare.com/cloudflare-one/identity/authorization-cookie/validating-json/
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import { verifyWithJwks } from "hono/jwt";
import { encodeUnpaddedBase64Url } from "../../shared/base64url.ts";
import * as z from "../../shared/zod.ts";
import { settings } from "../common/config.ts";
import { ADMIN_SESSION_COOKIE } from "../common/cookies.ts";
import { placed } from "../common/placement.ts";
import { Problem } from "../common/problem.ts";
import { isAdminBearer, MIN_ADMIN_TOKEN_LENGTH, secretsEqual } from "../common/secrets.ts";
import { refuseCrossSite } from "./security.ts";

export interface AdminVariables {
  /** Who is acting, for the audit log: "admin-token", an Access e-mail, or the editor's name. */
  actor: string;
  /** The CSRF token for pages rendered for a cookie session. */
  csrf: string;
}

type AdminContext = Context<{ Bindings: Env; Variables: AdminVariables }>;

const SESSION_HOURS = 12;

/** Whether a sign-in form's token is the admin token (compared in constant time). */
export async function isAdminToken(candidate: string | undefined, token: string | undefined): Promise<boolean> {
  if (token === undefined || token.length < MIN_ADMIN_TOKEN_LENGTH || candidate === undefined) return false;
  return secretsEqual(candidate, token);
}

/**
 * The key a purpose's values are signed with, derived from the admin token: rotating the token
 * ends every session and every CSRF token at once. Null when the token is too short to admit anyone.
 */
function signingSecret(token: string | undefined, purpose: "session" | "csrf"): string | null {
  return token === undefined || token.length < MIN_ADMIN_TOKEN_LENGTH ? null : `tailor-${purpose}:${token}`;
}

/** What a session cookie says, once `getSignedCookie` has checked its signature. */
const SessionPayload = z.object({
  sid: z.string().check(z.minLength(16), z.maxLength(64)),
  actor: z.string().check(z.minLength(1), z.maxLength(100)),
  exp: z.number(),
});
type SessionPayload = z.infer<typeof SessionPayload>;

/**
 * Opens an editor session: a random id listed in the `RulesRegistry` (so sign-out can end it) and
 * a cookie naming it, signed by `hono/cookie` with a key derived from the admin token.
 */
export async function openSession(context: AdminContext, actor: string, now: number): Promise<void> {
  const { env } = context;
  const secret = signingSecret(env.ADMIN_TOKEN, "session");
  if (secret === null) throw new Error("ADMIN_TOKEN is too short to sign sessions");
  const session: SessionPayload = { sid: crypto.randomUUID(), actor: actor.slice(0, 100), exp: now + SESSION_HOURS * 3_600_000 };
  await placed(env.RULES_REGISTRY, env)
    .getByName("registry")
    .openSession({ id: session.sid, actor: session.actor, expiresAt: session.exp });
  await setSignedCookie(context, ADMIN_SESSION_COOKIE, JSON.stringify(session), secret, {
    path: "/admin",
    maxAge: SESSION_HOURS * 3_600,
    httpOnly: true,
    sameSite: "Strict",
    secure: new URL(context.req.url).protocol === "https:",
  });
}

/**
 * The session the request's cookie names, if its signature holds and it has not expired; not yet
 * checked against the registry. A cookie in the format used before `hono/cookie` signed them (or
 * anything else unsigned or tampered with) reads as no session: the editor signs in again.
 */
async function readSessionCookie(context: AdminContext, now: number): Promise<SessionPayload | null> {
  const secret = signingSecret(context.env.ADMIN_TOKEN, "session");
  if (secret === null) return null;
  const value = await getSignedCookie(context, secret, ADMIN_SESSION_COOKIE);
  if (typeof value !== "string" || value.length > 1_024) return null;
  try {
    const session = SessionPayload.safeParse(JSON.parse(value));
    return session.success && session.data.exp > now ? session.data : null;
  } catch {
    return null;
  }
}

/** The open session behind the request's cookie: signed by us, unexpired, and not signed out. */
async function readSession(context: AdminContext, now: number): Promise<SessionPayload | null> {
  const session = await readSessionCookie(context, now);
  if (session === null) return null;
  const { env } = context;
  return (await placed(env.RULES_REGISTRY, env).getByName("registry").isSessionOpen(session.sid)) ? session : null;
}

/** Ends the session the request's cookie names, server-side, and removes the cookie (no-op for anything that is not one of our sessions). */
export async function closeSession(context: AdminContext, now: number): Promise<void> {
  const session = await readSessionCookie(context, now);
  const { env } = context;
  if (session !== null) await placed(env.RULES_REGISTRY, env).getByName("registry").closeSession(session.sid);
  deleteCookie(context, ADMIN_SESSION_COOKIE, { path: "/admin" });
}

/**
 * The CSRF token for a session: only a page rendered for that session knows it. `hono/csrf`
 * already refuses changes from other origins; the token is a second lock for the cookie session.
 */
async function csrfToken(sessionId: string, secret: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return encodeUnpaddedBase64Url(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(sessionId)));
}

/** One signing key from the Access certs document; only RSA keys are kept (Access signs with RS256). */
const AccessKey = z.object({
  kid: z.string().check(z.minLength(1)),
  kty: z.literal("RSA"),
  n: z.string().check(z.minLength(1)),
  e: z.string().check(z.minLength(1)),
  alg: z.optional(z.string()),
});
type AccessKey = z.infer<typeof AccessKey>;
const AccessCerts = z.object({ keys: z.catch(z.array(z.unknown()), () => []) });

const keySets = new Map<string, { keys: AccessKey[]; fetchedAt: number }>();

/** The team's signing keys, cached for ten minutes per isolate (`verifyWithJwks` would fetch them per request). */
async function accessKeys(env: Env): Promise<AccessKey[]> {
  const { ACCESS_CERTS_URL, ACCESS_TEAM_DOMAIN } = settings(env);
  const url = ACCESS_CERTS_URL || `https://${ACCESS_TEAM_DOMAIN}/cdn-cgi/access/certs`;
  const cached = keySets.get(url);
  if (cached !== undefined && Date.now() - cached.fetchedAt < 10 * 60_000) return cached.keys;
  const response = await fetch(url);
  const certs = AccessCerts.safeParse(await response.json());
  const keys = (certs.success ? certs.data.keys : []).flatMap((key) => {
    const parsed = AccessKey.safeParse(key);
    return parsed.success ? [parsed.data] : [];
  });
  keySets.set(url, { keys, fetchedAt: Date.now() });
  return keys;
}

/** The e-mail of a valid Cloudflare Access assertion, or null. */
async function verifyAccessJwt(assertion: string, env: Env, now: number): Promise<string | null> {
  const { ACCESS_TEAM_DOMAIN, ACCESS_AUD } = settings(env);
  if (!ACCESS_TEAM_DOMAIN || !ACCESS_AUD) return null;
  try {
    // Hono checks the signature (RS256 only, key by `kid`), the issuer and the audience. Time
    // claims are checked here against the caller's clock: `exp` is required, and `nbf` gets a
    // minute's leeway for clock skew.
    const claims = await verifyWithJwks(assertion, {
      keys: await accessKeys(env),
      allowedAlgorithms: ["RS256"],
      verification: { iss: `https://${ACCESS_TEAM_DOMAIN}`, aud: ACCESS_AUD, exp: false, nbf: false, iat: false },
    });
    if (typeof claims.exp !== "number" || claims.exp * 1_000 <= now) return null;
    if (typeof claims.nbf === "number" && claims.nbf * 1_000 > now + 60_000) return null;
    if (typeof claims.email === "string") return claims.email;
    // A service token's assertion names the token by its client id instead of a person.
    if (typeof claims.common_name === "string") return `service-token ${claims.common_name.slice(0, 80)}`;
    return "access-user";
  } catch {
    return null;
  }
}

/** True when only Cloudflare Access may open `/admin` (`ADMIN_AUTH = "access-only"`). */
export function isAccessOnly(env: object): boolean {
  return settings(env).ADMIN_AUTH === "access-only";
}

function accessRequired(): Problem {
  return new Problem(401, {
    slug: "unauthorized",
    title: "Unauthorized",
    detail: "This Tailor accepts only Cloudflare Access: sign in through Access, or send an Access service token.",
  });
}

function unauthorized(): Problem {
  return new Problem(401, {
    slug: "unauthorized",
    title: "Unauthorized",
    detail: "Send the admin token as Authorization: Bearer <token>, sign in at /admin/login, or come through Cloudflare Access.",
    headers: { "www-authenticate": 'Bearer realm="tailor-admin"' },
  });
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The CSRF token a change from a cookie session carries: the `x-csrf-token` header, or the `csrf` field of a form. */
async function presentedCsrf(context: Context<{ Bindings: Env; Variables: AdminVariables }>): Promise<string> {
  const header = context.req.header("x-csrf-token");
  if (header !== undefined) return header;
  const type = (context.req.header("content-type") ?? "").toLowerCase();
  if (!type.startsWith("application/x-www-form-urlencoded") && !type.startsWith("multipart/form-data")) return "";
  const form = await context.req.parseBody().catch(() => ({}) as Record<string, unknown>);
  return typeof form.csrf === "string" ? form.csrf : "";
}

/** Who is asking, or a thrown 401 (unknown) or 403 (cross-site change, missing CSRF token) problem. */
export async function authenticate(context: Context<{ Bindings: Env; Variables: AdminVariables }>): Promise<void> {
  const { env } = context;
  const now = Date.now();
  const changes = !SAFE_METHODS.has(context.req.method);
  const accessOnly = isAccessOnly(env);
  if (!accessOnly && (await isAdminBearer(context.req.header("authorization"), env.ADMIN_TOKEN))) {
    const named = context.req
      .header("x-tailor-actor")
      ?.replace(/[^\w .@-]/g, "")
      .slice(0, 100);
    context.set("actor", named ? `${named} (admin token)` : "admin-token");
    context.set("csrf", "");
    return;
  }
  const assertion = context.req.header("cf-access-jwt-assertion");
  if (assertion !== undefined) {
    const email = await verifyAccessJwt(assertion, env, now);
    if (email !== null) {
      // Access adds the assertion to every request the browser makes with its CF_Authorization
      // cookie, including one forged by another site: a change must come from our own pages.
      if (changes) await refuseCrossSite(context);
      context.set("actor", email);
      context.set("csrf", "");
      return;
    }
  }
  if (accessOnly) throw accessRequired();
  const session = await readSession(context, now);
  const csrfSecret = signingSecret(env.ADMIN_TOKEN, "csrf");
  if (session !== null && csrfSecret !== null) {
    const csrf = await csrfToken(session.sid, csrfSecret);
    if (changes) {
      await refuseCrossSite(context);
      // A cookie alone does not authorize a change: the page's CSRF token must come with it.
      if (!(await secretsEqual(await presentedCsrf(context), csrf))) {
        throw new Problem(403, {
          slug: "csrf",
          title: "Missing CSRF token",
          detail: "Changes from the editor must carry its CSRF token (x-csrf-token header or csrf form field).",
        });
      }
    }
    context.set("actor", session.actor);
    context.set("csrf", csrf);
    return;
  }
  throw unauthorized();
}

/** Requires one of the three ways in for every route it guards; people at a browser are sent to sign in. */
export function requireAdmin(): MiddlewareHandler<{ Bindings: Env; Variables: AdminVariables }> {
  return async function requireAdminAccess(context, next) {
    try {
      await authenticate(context);
    } catch (error) {
      const isPage =
        context.req.method === "GET" &&
        !context.req.path.startsWith("/admin/api") &&
        (context.req.header("accept") ?? "").includes("text/html");
      if (isPage && !isAccessOnly(context.env) && error instanceof Problem && error.status === 401)
        return context.redirect("/admin/login", 303);
      throw error;
    }
    await next();
  };
}

/** Closes the sign-in page and form when only Cloudflare Access may open `/admin`. */
export function refuseSignInWhenAccessOnly(): MiddlewareHandler<{ Bindings: Env; Variables: AdminVariables }> {
  return async function refuseSignIn(context, next) {
    if (isAccessOnly(context.env)) {
      throw new Problem(404, {
        slug: "sign-in-disabled",
        title: "Sign-in is turned off",
        detail: "This Tailor accepts only Cloudflare Access; there is no token sign-in.",
      });
    }
    await next();
  };
}
