/**
 * Talking to the origin: the only host the page proxy ever contacts, reached with the visitor's
 * request minus Tailor's own credentials, under a timeout.
 *
 * The target is built by `originTarget` (`workers/common/origin-target.ts`), which cannot leave the
 * origin's host whatever the path.
 *
 * When the origin cannot be reached, refuses the connection, answers something that is not HTTP or
 * does not answer within `ORIGIN_TIMEOUT_MS`, the visitor gets a short 502/504 page (or a problem
 * for clients that ask for JSON) and the failure is counted; Tailor itself never answers 500 for it.
 * @module
 */
import { recordFallback } from "../common/analytics.ts";
import { settings } from "../common/config.ts";
import { ACCESS_COOKIES, ADMIN_SESSION_COOKIE, DIGEST_COOKIE, VISITOR_COOKIE } from "../common/cookies.ts";
import { originTarget } from "../common/origin-target.ts";
import { PREVIEW_PARAMETER } from "../common/preview.ts";
import { Problem, problemResponse } from "../common/problem.ts";
import { secretsEqual } from "../common/secrets.ts";

const ACCESS_HEADERS = ["cf-access-jwt-assertion", "cf-access-client-id", "cf-access-client-secret", "cf-access-token"];
/** Cookies that belong to Tailor (compared case-sensitively, as cookie names are). */
const TAILOR_COOKIES = new Set([VISITOR_COOKIE, DIGEST_COOKIE, ADMIN_SESSION_COOKIE, ...ACCESS_COOKIES]);

/** More pieces than any real credential has: such a header is stripped rather than searched further. */
const MAX_CREDENTIAL_CANDIDATES = 16;

/** The user and password of a Basic credential (`base64(user:password)`), or nothing when it is not base64. */
function basicParts(piece: string): string[] {
  try {
    const decoded = atob(piece);
    const colon = decoded.indexOf(":");
    return colon === -1 ? [decoded] : [decoded, decoded.slice(0, colon), decoded.slice(colon + 1)];
  } catch {
    return [];
  }
}

/**
 * Every string in an `Authorization` header that could be a credential: the whole value, each piece
 * between commas, whitespace and quotes (any scheme, quoted values, several headers joined by
 * commas), and the decoded user and password of anything that reads as base64. Null when there
 * are more than `MAX_CREDENTIAL_CANDIDATES`.
 */
function credentialCandidates(authorization: string): string[] | null {
  const pieces = authorization.split(/[\s,"']+/).filter((piece) => piece !== "");
  const candidates = [authorization.trim(), ...pieces];
  for (const piece of pieces) {
    candidates.push(...basicParts(piece));
    if (candidates.length > MAX_CREDENTIAL_CANDIDATES) return null;
  }
  return candidates;
}

/**
 * Whether `authorization` carries the admin token anywhere (any scheme, quoted, inside Basic
 * credentials, in one of several joined headers), each candidate compared in constant time. A
 * header with too many pieces to check counts as carrying it: no shop credential looks like that.
 */
async function carriesAdminToken(authorization: string, adminToken: string | undefined): Promise<boolean> {
  if (adminToken === undefined || adminToken === "") return false;
  const candidates = credentialCandidates(authorization);
  if (candidates === null) return true;
  const matches = await Promise.all(candidates.map((candidate) => secretsEqual(candidate, adminToken)));
  return matches.includes(true);
}

/** The cookie header without Tailor's cookies; null when nothing is left. */
function withoutTailorCookies(cookies: string): string | null {
  const kept = cookies
    .split(";")
    .map((part) => part.trim())
    .filter((part) => {
      if (part === "") return false;
      const equals = part.indexOf("=");
      return !TAILOR_COOKIES.has((equals === -1 ? part : part.slice(0, equals)).trim());
    });
  return kept.length > 0 ? kept.join("; ") : null;
}

/** A Referer without a preview token: following a link from a preview would otherwise hand the token on. */
function withoutPreviewToken(referer: string): string | null {
  try {
    const url = new URL(referer);
    if (!url.searchParams.has(PREVIEW_PARAMETER)) return referer;
    url.searchParams.delete(PREVIEW_PARAMETER);
    return url.href;
  } catch {
    return null;
  }
}

/**
 * The origin request: same method, path, query, headers and body, minus Tailor's credentials — the
 * visitor and admin session cookies, Cloudflare Access assertions and cookies, the preview token
 * (in the query and in the Referer) and an `Authorization` carrying the admin token. Any other
 * `Authorization` is the shop's own (for example HTTP authentication on a staging site) and is kept.
 */
async function originRequest(request: Request, incoming: URL, env: Pick<Env, "ADMIN_TOKEN">): Promise<Request> {
  let search = incoming.search;
  // Only touched when present: deleting re-encodes the query, which the origin should get as sent.
  if (incoming.searchParams.has(PREVIEW_PARAMETER)) {
    const query = new URLSearchParams(search);
    query.delete(PREVIEW_PARAMETER);
    const rest = query.toString();
    search = rest === "" ? "" : `?${rest}`;
  }
  const target = originTarget(settings(env).ORIGIN_URL, incoming.pathname, search);
  // The new request's headers are its own copy (the only one made), edited in place.
  const forwarded = new Request(target, { method: request.method, headers: request.headers, body: request.body, redirect: "manual" });
  const { headers } = forwarded;
  const cookies = headers.get("cookie");
  if (cookies !== null) {
    const kept = withoutTailorCookies(cookies);
    if (kept === null) headers.delete("cookie");
    else if (kept !== cookies) headers.set("cookie", kept);
  }
  for (const name of ACCESS_HEADERS) headers.delete(name);
  const referer = headers.get("referer");
  if (referer !== null) {
    const kept = withoutPreviewToken(referer);
    if (kept === null) headers.delete("referer");
    else if (kept !== referer) headers.set("referer", kept);
  }
  const authorization = headers.get("authorization");
  if (authorization !== null && (await carriesAdminToken(authorization, env.ADMIN_TOKEN))) headers.delete("authorization");
  return forwarded;
}

/** Whether the client wants a machine-readable answer rather than a page. */
function wantsJson(request: Request): boolean {
  const accept = (request.headers.get("accept") ?? "").toLowerCase();
  return accept.includes("json") && !accept.includes("text/html");
}

/** What the visitor gets when the origin did not answer: a short page, or a problem for JSON clients. */
function originFailure(request: Request, timedOut: boolean): Response {
  const status = timedOut ? 504 : 502;
  const title = timedOut ? "The shop is taking too long" : "The shop cannot be reached";
  if (wantsJson(request)) {
    return problemResponse(
      new Problem(status, {
        slug: timedOut ? "origin-timeout" : "origin-unavailable",
        title,
        detail: "The site behind Tailor did not answer; try again in a moment.",
      }),
    );
  }
  const page = `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title><h1>${title}</h1><p>Please try again in a moment.</p></html>`;
  return new Response(page, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "retry-after": "5" },
  });
}

/**
 * Fetches `request` from the origin. Never rejects: a failure to get the origin's headers within
 * `ORIGIN_TIMEOUT_MS` becomes a 502/504 for the visitor and an `origin-unavailable` /
 * `origin-timeout` fallback in Analytics Engine.
 *
 * The same deadline, counted from the request's start, bounds the body. A fetch signal alone does
 * not: once a handler returns the origin's own body, workerd streams it natively after the
 * handler's context has ended, so the signal's timer never fires and a stalled origin holds the
 * visitor's connection open. The body is therefore piped (natively, no JavaScript per chunk) into
 * an `IdentityTransformStream` under the deadline's signal, and the pipe is kept alive with
 * `waitUntil`: at the deadline the pipe is aborted, the visitor's body ends with an error and the
 * origin's connection is cancelled. One timer per origin request, cleared when the body completes.
 */
export async function fetchOrigin(
  request: Request,
  env: Env,
  waitUntil: (promise: Promise<unknown>) => void,
  /** The request's URL, when the caller has parsed it already. */
  url = new URL(request.url),
): Promise<Response> {
  const path = url.pathname;
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new DOMException("origin deadline", "TimeoutError")), settings(env).ORIGIN_TIMEOUT_MS);
  let response: Response;
  try {
    const forwarded = await originRequest(request, url, env);
    response = await fetch(forwarded, { signal: deadline.signal });
  } catch (error) {
    clearTimeout(timer);
    const timedOut = typeof error === "object" && error !== null && "name" in error && error.name === "TimeoutError";
    // The error text names the origin, never the visitor; no request data is logged.
    console.error(JSON.stringify({ message: "origin did not answer", timedOut, error: String(error) }));
    recordFallback(env.ANALYTICS, timedOut ? "origin-timeout" : "origin-unavailable", path);
    return originFailure(request, timedOut);
  }
  if (response.body === null) {
    clearTimeout(timer);
    return response;
  }
  const { readable, writable } = new IdentityTransformStream();
  waitUntil(
    response.body
      .pipeTo(writable, { signal: deadline.signal })
      // Also rejects when the visitor goes away; only a body cut at the deadline is the origin's failure.
      .catch(() => {
        if (deadline.signal.aborted) recordFallback(env.ANALYTICS, "origin-timeout", path);
      })
      .finally(() => clearTimeout(timer)),
  );
  return new Response(readable, response);
}
