/**
 * The admin's browser-facing defences, taken from Hono rather than written here: `hono/csrf`
 * refuses changes a browser sends from another origin, and `hono/secure-headers` sets the
 * security headers on every `/admin` response. The shop's proxied pages never pass through this
 * app, so they keep the headers the shop chose.
 * @see https://hono.dev/docs/middleware/builtin/csrf
 * @see https://hono.dev/docs/middleware/builtin/secure-headers
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import { Problem } from "../common/problem.ts";

/**
 * Hono's defaults are what the admin needs: a change with a body a page on another site can send
 * without a CORS preflight (form, multipart, plain text, or no type) must say `Sec-Fetch-Site:
 * same-origin` or carry an `Origin` equal to this request's origin (scheme, host and port). Other
 * bodies (JSON) cannot be sent cross-site at all without a preflight, which `/admin` never grants.
 */
const sameOriginOnly = csrf();

async function nothingNext(): Promise<void> {}

function crossSiteProblem(detail: string): Problem {
  return new Problem(403, { slug: "cross-site", title: "Cross-site request", detail });
}

/**
 * Throws a 403 `cross-site` problem when a browser sent this change from another origin. Hono
 * answers a plain-text 403; the admin speaks `application/problem+json`, so its refusal is
 * translated here.
 */
export async function refuseCrossSite(context: Context, detail = "Changes must come from Tailor's own pages."): Promise<void> {
  try {
    await sameOriginOnly(context, nothingNext);
  } catch (error) {
    if (error instanceof HTTPException && error.status === 403) throw crossSiteProblem(detail);
    throw error;
  }
  if (saysCrossSite(context.req.raw)) throw crossSiteProblem(detail);
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * A change whose browser says it comes from elsewhere, whatever its body type. Hono checks only the
 * bodies a page can send without a CORS preflight; a JSON change from another site is stopped by
 * the preflight today, but would not be if Access were set to answer preflights itself. Clients
 * that are not browsers (the CLI, CI) send neither header and are not affected.
 */
function saysCrossSite(request: Request): boolean {
  if (SAFE_METHODS.has(request.method)) return false;
  // Sec-Fetch-Site is set by the browser and says it best (Chromium sends Origin: null on
  // same-origin requests under no-referrer); Origin speaks for older browsers without it.
  const site = request.headers.get("sec-fetch-site");
  if (site !== null) return site !== "same-origin";
  const origin = request.headers.get("origin");
  return origin !== null && origin !== new URL(request.url).origin;
}

/** Middleware form of `refuseCrossSite`, for routes open without credentials (the sign-in form). */
export function refuseCrossSiteChanges(detail?: string): MiddlewareHandler {
  return async function refuseCrossSiteChange(context, next) {
    await refuseCrossSite(context, detail);
    await next();
  };
}

/**
 * Security headers for every admin response (pages, API, problems, assets). Strict-Transport-Security
 * is left off: it would bind the whole host, i.e. the shop Tailor fronts, and its subdomains, to
 * HTTPS — the shop owner's decision, not the admin's.
 */
const adminHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    // Inline styles only for the previewed shop page inside a sandboxed frame; no inline script anywhere.
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", "data:"],
    connectSrc: ["'self'"],
    frameSrc: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
  },
  xFrameOptions: "DENY",
  referrerPolicy: "no-referrer",
  strictTransportSecurity: false,
});

/** Security headers plus `Cache-Control: no-store` (admin answers name people and rules; no cache may keep them). */
export function adminSecurityHeaders(): MiddlewareHandler {
  return async function setAdminSecurityHeaders(context, next) {
    await adminHeaders(context, next);
    context.res.headers.set("cache-control", "no-store");
  };
}
