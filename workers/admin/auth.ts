/**
 * Who may use `/admin`, and as whom. Three ways in:
 *
 * 1. `Authorization: Bearer <ADMIN_TOKEN>` — the API, the command line, CI;
 * 2. Cloudflare Access, when `ACCESS_TEAM_DOMAIN` and `ACCESS_AUD` are set: the
 *    `Cf-Access-Jwt-Assertion` JWT is verified (RS256) against the team's published keys;
 * 3. the web editor's session cookie, issued after signing in with the token. Requests that change
 *    something with only the cookie must also carry the page's CSRF token (`x-csrf-token`).
 *
 * Anything else gets a 401 problem that does not say which part was wrong.
 * @see https://developers.cloudflare.com/cloudflare-one/identity/authorization-cookie/validating-json/
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { Problem } from "../common/problem.ts";

export interface AdminVariables {
  /** Who is acting, for the audit log: "admin-token", an Access e-mail, or the editor's name. */
  actor: string;
  /** The CSRF token for pages rendered for a cookie session. */
  csrf: string;
}

const MIN_TOKEN_LENGTH = 16;
export const SESSION_COOKIE = "tailor_admin";
const SESSION_HOURS = 12;
const encoder = new TextEncoder();

/** Compares in time independent of where the strings differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  let difference = left.length ^ right.length;
  for (let index = 0; index < Math.max(left.length, right.length); index++) difference |= (left[index] ?? 0) ^ (right[index] ?? 0);
  return difference === 0;
}

export function isAdminToken(candidate: string | undefined, token: string | undefined): boolean {
  if (token === undefined || token.length < MIN_TOKEN_LENGTH || candidate === undefined) return false;
  return constantTimeEqual(candidate, token);
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array {
  return Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (character) => character.charCodeAt(0));
}

async function sign(secret: string, purpose: string, payload: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(`tailor-${purpose}:${secret}`),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return base64url(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(payload))));
}

/** A session cookie value for the editor: who, until when, signed with a key derived from the admin token. */
export async function createSession(actor: string, token: string, now: number): Promise<string> {
  const payload = base64url(encoder.encode(JSON.stringify({ actor: actor.slice(0, 100), exp: now + SESSION_HOURS * 3_600_000 })));
  return `${payload}.${await sign(token, "session", payload)}`;
}

export function sessionCookie(value: string, requestUrl: string): string {
  const secure = new URL(requestUrl).protocol === "https:" ? "; Secure" : "";
  return `${SESSION_COOKIE}=${value}; Path=/admin; Max-Age=${SESSION_HOURS * 3_600}; HttpOnly; SameSite=Strict${secure}`;
}

async function readSession(value: string | undefined, token: string | undefined, now: number): Promise<string | null> {
  if (value === undefined || token === undefined || token.length < MIN_TOKEN_LENGTH) return null;
  const [payload, signature] = value.split(".");
  if (payload === undefined || signature === undefined || !constantTimeEqual(signature, await sign(token, "session", payload))) return null;
  try {
    const session = JSON.parse(new TextDecoder().decode(fromBase64url(payload))) as { actor?: unknown; exp?: unknown };
    return typeof session.actor === "string" && typeof session.exp === "number" && session.exp > now ? session.actor : null;
  } catch {
    return null;
  }
}

/** The CSRF token for a session: only a page rendered for that session knows it. */
export function csrfToken(session: string, token: string): Promise<string> {
  return sign(token, "csrf", session);
}

interface Jwk {
  kid: string;
  kty: string;
  n: string;
  e: string;
  alg?: string;
}

const keySets = new Map<string, { keys: Jwk[]; fetchedAt: number }>();

async function accessKeys(env: Env): Promise<Jwk[]> {
  const url = env.ACCESS_CERTS_URL || `https://${env.ACCESS_TEAM_DOMAIN}/cdn-cgi/access/certs`;
  const cached = keySets.get(url);
  if (cached !== undefined && Date.now() - cached.fetchedAt < 10 * 60_000) return cached.keys;
  const response = await fetch(url);
  const body = (await response.json()) as { keys?: Jwk[] };
  const keys = (body.keys ?? []).filter((key) => key.kty === "RSA");
  keySets.set(url, { keys, fetchedAt: Date.now() });
  return keys;
}

/** The e-mail of a valid Cloudflare Access assertion, or null. */
export async function verifyAccessJwt(assertion: string, env: Env, now: number): Promise<string | null> {
  if (!env.ACCESS_TEAM_DOMAIN || !env.ACCESS_AUD) return null;
  const [header, payload, signature, extra] = assertion.split(".");
  if (header === undefined || payload === undefined || signature === undefined || extra !== undefined) return null;
  try {
    const { kid, alg } = JSON.parse(new TextDecoder().decode(fromBase64url(header))) as { kid?: string; alg?: string };
    if (alg !== "RS256") return null;
    const jwk = (await accessKeys(env)).find((key) => key.kid === kid);
    if (jwk === undefined) return null;
    const key = await crypto.subtle.importKey(
      "jwk",
      { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RS256", ext: true },
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["verify"],
    );
    if (!(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, fromBase64url(signature), encoder.encode(`${header}.${payload}`))))
      return null;
    const claims = JSON.parse(new TextDecoder().decode(fromBase64url(payload))) as {
      aud?: string | string[];
      iss?: string;
      exp?: number;
      nbf?: number;
      email?: string;
    };
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audiences.includes(env.ACCESS_AUD)) return null;
    if (claims.iss !== `https://${env.ACCESS_TEAM_DOMAIN}`) return null;
    if (typeof claims.exp !== "number" || claims.exp * 1_000 <= now) return null;
    if (typeof claims.nbf === "number" && claims.nbf * 1_000 > now + 60_000) return null;
    return typeof claims.email === "string" ? claims.email : "access-user";
  } catch {
    return null;
  }
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

/** Who is asking, or a thrown 401 problem. */
export async function authenticate(context: Context<{ Bindings: Env; Variables: AdminVariables }>): Promise<void> {
  const { env } = context;
  const now = Date.now();
  const authorization = context.req.header("authorization");
  if (authorization?.startsWith("Bearer ") && isAdminToken(authorization.slice("Bearer ".length), env.ADMIN_TOKEN)) {
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
      context.set("actor", email);
      context.set("csrf", "");
      return;
    }
  }
  const session = getCookie(context, SESSION_COOKIE);
  const actor = await readSession(session, env.ADMIN_TOKEN, now);
  if (actor !== null && session !== undefined) {
    const csrf = await csrfToken(session, env.ADMIN_TOKEN);
    // A cookie alone does not authorize a change: the page's CSRF token must come with it.
    if (!SAFE_METHODS.has(context.req.method) && !constantTimeEqual(context.req.header("x-csrf-token") ?? "", csrf)) {
      throw new Problem(403, {
        slug: "csrf",
        title: "Missing CSRF token",
        detail: "Changes from the editor must carry its x-csrf-token header.",
      });
    }
    context.set("actor", actor);
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
      if (isPage && error instanceof Problem && error.status === 401) return context.redirect("/admin/login", 303);
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
