/**
 * Who may use `/admin`, and as whom. Three ways in:
 *
 * 1. `Authorization: Bearer <ADMIN_TOKEN>` — the API, the command line, CI;
 * 2. Cloudflare Access, when `ACCESS_TEAM_DOMAIN` and `ACCESS_AUD` are set: the
 *    `Cf-Access-Jwt-Assertion` JWT is verified (RS256) against the team's published keys;
 * 3. the web editor's session cookie, issued after signing in with the token and listed in the
 *    `RulesRegistry` until sign-out or expiry. Requests that change something with only the cookie
 *    must also carry the page's CSRF token (`x-csrf-token`, or a form's `csrf` field).
 *
 * Changes made with an Access assertion or a cookie are refused when a browser says they come
 * from another site (`isCrossSite`).
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
import { getCookie } from "hono/cookie";
import { verifyWithJwks } from "hono/jwt";
import { decodeBase64Url, encodeBase64Url } from "hono/utils/encode";
import * as z from "../../shared/zod.ts";
import { settings } from "../common/config.ts";
import { ADMIN_SESSION_COOKIE } from "../common/cookies.ts";
import { placed } from "../common/placement.ts";
import { Problem } from "../common/problem.ts";
import { isAdminBearer, MIN_ADMIN_TOKEN_LENGTH, secretsEqual } from "../common/secrets.ts";

export interface AdminVariables {
  /** Who is acting, for the audit log: "admin-token", an Access e-mail, or the editor's name. */
  actor: string;
  /** The CSRF token for pages rendered for a cookie session. */
  csrf: string;
}

const SESSION_HOURS = 12;
const encoder = new TextEncoder();

/** base64url without padding, as JWTs write it (tokens travel in URLs and cookies). */
function unpadded(bytes: ArrayBuffer): string {
  return encodeBase64Url(bytes).replace(/=+$/, "");
}

/** Whether a sign-in form's token is the admin token (compared in constant time). */
export async function isAdminToken(candidate: string | undefined, token: string | undefined): Promise<boolean> {
  if (token === undefined || token.length < MIN_ADMIN_TOKEN_LENGTH || candidate === undefined) return false;
  return secretsEqual(candidate, token);
}

async function sign(secret: string, purpose: string, payload: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(`tailor-${purpose}:${secret}`),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return unpadded(await crypto.subtle.sign("HMAC", key, encoder.encode(payload)));
}

/** What a session cookie says, once its signature is checked. */
const SessionPayload = z.object({
  sid: z.string().check(z.minLength(16), z.maxLength(64)),
  actor: z.string().check(z.minLength(1), z.maxLength(100)),
  exp: z.number(),
});

/**
 * Opens an editor session: a random id listed in the `RulesRegistry` (so sign-out can end it) and
 * a cookie value naming it, signed with a key derived from the admin token.
 */
export async function createSession(env: Env, actor: string, now: number): Promise<string> {
  const sid = crypto.randomUUID();
  const exp = now + SESSION_HOURS * 3_600_000;
  await placed(env.RULES_REGISTRY, env)
    .getByName("registry")
    .openSession({ id: sid, actor: actor.slice(0, 100), expiresAt: exp });
  const payload = unpadded(encoder.encode(JSON.stringify({ sid, actor: actor.slice(0, 100), exp })).buffer as ArrayBuffer);
  return `${payload}.${await sign(env.ADMIN_TOKEN, "session", payload)}`;
}

export function sessionCookie(value: string, requestUrl: string): string {
  const secure = new URL(requestUrl).protocol === "https:" ? "; Secure" : "";
  return `${ADMIN_SESSION_COOKIE}=${value}; Path=/admin; Max-Age=${SESSION_HOURS * 3_600}; HttpOnly; SameSite=Strict${secure}`;
}

/** The session a cookie value names, if its signature holds and it has not expired; not yet checked against the registry. */
async function readSessionCookie(value: string | undefined, token: string | undefined, now: number): Promise<SessionPayload | null> {
  if (value === undefined || token === undefined || token.length < MIN_ADMIN_TOKEN_LENGTH || value.length > 1_024) return null;
  const [payload, signature, extra] = value.split(".");
  if (payload === undefined || signature === undefined || extra !== undefined) return null;
  if (!(await secretsEqual(signature, await sign(token, "session", payload)))) return null;
  try {
    const session = SessionPayload.safeParse(JSON.parse(new TextDecoder().decode(decodeBase64Url(payload))));
    return session.success && session.data.exp > now ? session.data : null;
  } catch {
    return null;
  }
}
type SessionPayload = z.infer<typeof SessionPayload>;

/** The open session behind a cookie value: signed by us, unexpired, and not signed out. */
async function readSession(value: string | undefined, env: Env, now: number): Promise<SessionPayload | null> {
  const session = await readSessionCookie(value, env.ADMIN_TOKEN, now);
  if (session === null) return null;
  return (await placed(env.RULES_REGISTRY, env).getByName("registry").isSessionOpen(session.sid)) ? session : null;
}

/** Ends the session a cookie names, server-side (no-op for anything that is not one of our sessions). */
export async function endSession(value: string | undefined, env: Env, now: number): Promise<void> {
  const session = await readSessionCookie(value, env.ADMIN_TOKEN, now);
  if (session !== null) await placed(env.RULES_REGISTRY, env).getByName("registry").closeSession(session.sid);
}

/**
 * Whether a browser sent this request from another site. Browsers say where a request came from
 * in `Sec-Fetch-Site`; where it is missing (older browsers, command-line clients) a present
 * `Origin` must name this host. `Origin` is "null" under our no-referrer policy, so it only
 * decides when `Sec-Fetch-Site` is absent.
 * @see https://www.w3.org/TR/fetch-metadata/
 */
export function isCrossSite(request: Request): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null) return site !== "same-origin" && site !== "none";
  const origin = request.headers.get("origin");
  if (origin === null || origin === "null") return false;
  try {
    return new URL(origin).host !== new URL(request.url).host;
  } catch {
    return true;
  }
}

function crossSiteProblem(): Problem {
  return new Problem(403, { slug: "cross-site", title: "Cross-site request", detail: "Changes must come from Tailor's own pages." });
}

/** The CSRF token for a session: only a page rendered for that session knows it. */
function csrfToken(session: string, token: string): Promise<string> {
  return sign(token, "csrf", session);
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
      if (changes && isCrossSite(context.req.raw)) throw crossSiteProblem();
      context.set("actor", email);
      context.set("csrf", "");
      return;
    }
  }
  if (accessOnly) throw accessRequired();
  const cookie = getCookie(context, ADMIN_SESSION_COOKIE);
  const session = await readSession(cookie, env, now);
  if (session !== null && cookie !== undefined) {
    const csrf = await csrfToken(cookie, env.ADMIN_TOKEN);
    if (changes) {
      if (isCrossSite(context.req.raw)) throw crossSiteProblem();
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

/** Security headers for every admin response. */
export function adminSecurityHeaders(): MiddlewareHandler<{ Bindings: Env; Variables: AdminVariables }> {
  return async function setAdminSecurityHeaders(context, next) {
    await next();
    const headers = context.res.headers;
    headers.set(
      "content-security-policy",
      // Inline styles only for the previewed shop page inside a sandboxed frame; no inline script anywhere.
      "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    headers.set("x-frame-options", "DENY");
    headers.set("x-content-type-options", "nosniff");
    headers.set("referrer-policy", "no-referrer");
    headers.set("cross-origin-opener-policy", "same-origin");
    headers.set("cache-control", "no-store");
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
