/**
 * Visitor identity. A first-party cookie holds a random id; everywhere else (Durable Object names,
 * queues, Kafka, logs) the visitor is known only by an HMAC of that id under `VISITOR_ID_SECRET`,
 * so nothing downstream can be joined back to the cookie without the secret.
 * @module
 */

import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { type CookieOptions, serialize } from "hono/utils/cookie";
import { encodeUnpaddedBase64Url } from "../../shared/base64url.ts";
import { LruCache } from "../../shared/lru.ts";
import { VISITOR_COOKIE } from "./cookies.ts";

const VISITOR_ID = /^[A-Za-z0-9_-]{22}$/;
/** One year; the Durable Object's own retention decides how long state is kept. */
const COOKIE_MAX_AGE_SECONDS = 365 * 24 * 60 * 60;

export interface Visitor {
  /** The cookie value. Never log it or send it anywhere but the visitor's own browser. */
  id: string;
  /** HMAC-SHA-256 of the id, base64url: the name of the visitor's Durable Object. */
  pseudonym: string;
  /** True when this request carried no valid cookie and a new id was issued. */
  isNew: boolean;
}

function newVisitorId(): string {
  return encodeUnpaddedBase64Url(crypto.getRandomValues(new Uint8Array(16)));
}

const keys = new Map<string, Promise<CryptoKey>>();
const MIN_SECRET_LENGTH = 32;

/** Thrown when `VISITOR_ID_SECRET` is missing or too short to key the pseudonyms safely. */
export class MissingSecretError extends Error {
  constructor() {
    super(`VISITOR_ID_SECRET must be set to at least ${MIN_SECRET_LENGTH} characters (see .dev.vars.example)`);
    this.name = "MissingSecretError";
  }
}

function hmacKey(secret: string | undefined): Promise<CryptoKey> {
  if (secret === undefined || secret.length < MIN_SECRET_LENGTH) throw new MissingSecretError();
  let key = keys.get(secret);
  if (key === undefined) {
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keys.set(secret, key);
  }
  return key;
}

/** Recently derived pseudonyms per secret, so a returning visitor's page costs no HMAC. */
const recent = new Map<string, LruCache<string, string>>();

/** The pseudonym for a visitor (or user) id under the given secret. */
export async function pseudonymFor(id: string, secret: string | undefined): Promise<string> {
  const key = hmacKey(secret);
  let cache = recent.get(secret ?? "");
  if (cache === undefined) {
    cache = new LruCache(10_000);
    recent.set(secret ?? "", cache);
  }
  const known = cache.get(id);
  if (known !== undefined) return known;
  const signature = await crypto.subtle.sign("HMAC", await key, new TextEncoder().encode(id));
  const pseudonym = encodeUnpaddedBase64Url(signature).slice(0, 32);
  cache.set(id, pseudonym);
  return pseudonym;
}

/** Reads the visitor cookie, or issues a new id when it is missing or malformed. */
export async function identifyVisitor(context: Context, secret: string | undefined): Promise<Visitor> {
  const known = await readVisitor(context, secret);
  if (known !== null) return known;
  const id = newVisitorId();
  return { id, pseudonym: await pseudonymFor(id, secret), isNew: true };
}

/** The visitor named by a valid cookie, or null when there is none. */
export async function readVisitor(context: Context, secret: string | undefined): Promise<Visitor | null> {
  const cookie = getCookie(context, VISITOR_COOKIE);
  if (cookie === undefined || !VISITOR_ID.test(cookie)) return null;
  return { id: cookie, pseudonym: await pseudonymFor(cookie, secret), isNew: false };
}

/**
 * The visitor cookie's attributes: first-party, HttpOnly, SameSite=Lax, Secure over HTTPS. Written
 * with Hono's serializer rather than `setCookie` because the page path sets it on a streamed
 * response it builds itself, outside Hono's context.
 */
function visitorCookieOptions(requestUrl: string, maxAge: number): CookieOptions {
  return { path: "/", maxAge, httpOnly: true, sameSite: "Lax", secure: new URL(requestUrl).protocol === "https:" };
}

/** The `Set-Cookie` value that stores a visitor id. */
export function visitorCookie(id: string, requestUrl: string): string {
  return serialize(VISITOR_COOKIE, id, visitorCookieOptions(requestUrl, COOKIE_MAX_AGE_SECONDS));
}

/** The `Set-Cookie` value that removes the visitor cookie from the browser. */
export function expiredVisitorCookie(requestUrl: string): string {
  return serialize(VISITOR_COOKIE, "", visitorCookieOptions(requestUrl, 0));
}
