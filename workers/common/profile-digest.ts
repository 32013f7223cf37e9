/**
 * The profile digest cookie (`tailor_pd`): the digest the visitor's object made after their last
 * accepted batch (or the empty one a new visitor starts with), HMAC-signed together with the
 * visitor's pseudonym under a key derived from `VISITOR_ID_SECRET`. A page that finds a digest
 * which verifies for this visitor, has not expired and covers what the rules read decides from it
 * without calling the object; anything else (missing, altered, another visitor's, expired, made for
 * other rules) is a normal read. See docs/decisions/0018-profile-digest.md.
 *
 * The key is held per isolate and the signature checked with `crypto.subtle.verify`, which compares
 * in constant time: the cookie is read on every page, so it must cost far less than the call it saves.
 * @module
 */

import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { decodeBase64Url, encodeBase64Url } from "hono/utils/encode";
import { LruCache } from "../../shared/lru.ts";
import { DIGEST_VERSION, type ProfileDigest } from "../../shared/profile/digest.ts";
import { DIGEST_COOKIE } from "./cookies.ts";

/** The longest cookie value set; a digest that would be longer is not kept (the pages read instead). */
export const MAX_DIGEST_COOKIE_BYTES = 1_024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const keys = new Map<string, Promise<CryptoKey>>();

/**
 * Cookie values that verified in this isolate, by secret, pseudonym and value: a visitor's next
 * pages send the same value until their next batch, and skip the HMAC and the decoding. Expiry is
 * still checked on every use. Bounded by count (a value is at most 1 KB).
 */
const verified = new Map<string, LruCache<string, ProfileDigest>>();

function digestKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (key === undefined) {
    // A label of its own, so a digest's signature is never valid as any other token's.
    key = crypto.subtle.importKey("raw", encoder.encode(`tailor-profile-digest:${secret}`), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    keys.set(secret, key);
  }
  return key;
}

/** base64url without padding. */
function unpadded(bytes: ArrayBuffer): string {
  return encodeBase64Url(bytes).replace(/=+$/, "");
}

/** What is signed: the payload bound to the visitor it was made for. */
function signedText(pseudonym: string, payload: string): Uint8Array {
  return encoder.encode(`${pseudonym}.${payload}`);
}

/**
 * The cookie value for a digest (a `ProfileDigest` as JSON text), bound to `pseudonym`; null when it
 * would exceed `MAX_DIGEST_COOKIE_BYTES`.
 */
export async function sealDigest(json: string, pseudonym: string, secret: string): Promise<string | null> {
  const payload = unpadded(encoder.encode(json).buffer as ArrayBuffer);
  // 43 characters of signature and the dot.
  if (payload.length + 44 > MAX_DIGEST_COOKIE_BYTES) return null;
  const signature = await crypto.subtle.sign("HMAC", await digestKey(secret), signedText(pseudonym, payload));
  return `${payload}.${unpadded(signature)}`;
}

/** The digest in a cookie value, if it was signed for `pseudonym` under `secret` and has not expired at `now`. */
export async function openDigest(value: string, pseudonym: string, secret: string, now: number): Promise<ProfileDigest | null> {
  if (value.length > MAX_DIGEST_COOKIE_BYTES) return null;
  const dot = value.indexOf(".");
  if (dot === -1) return null;
  const payload = value.slice(0, dot);
  let cache = verified.get(secret);
  if (cache === undefined) {
    cache = new LruCache(2_048);
    verified.set(secret, cache);
  }
  const cacheKey = `${pseudonym}.${value}`;
  const known = cache.get(cacheKey);
  if (known !== undefined) return known.e > now ? known : null;
  try {
    const valid = await crypto.subtle.verify(
      "HMAC",
      await digestKey(secret),
      decodeBase64Url(value.slice(dot + 1)),
      signedText(pseudonym, payload),
    );
    if (!valid) return null;
    // Signed by this deployment, so it is Tailor's own output: no schema parse on the page's path.
    const digest = JSON.parse(decoder.decode(decodeBase64Url(payload))) as ProfileDigest;
    if (digest.v !== DIGEST_VERSION) return null;
    cache.set(cacheKey, digest);
    return digest.e > now ? digest : null;
  } catch {
    return null;
  }
}

/** The digest the request carries for `pseudonym`, if any is valid. */
export function requestDigest(
  context: Context,
  pseudonym: string,
  secret: string | undefined,
  now: number,
): Promise<ProfileDigest | null> | null {
  const value = getCookie(context, DIGEST_COOKIE);
  if (value === undefined || value === "" || secret === undefined) return null;
  return openDigest(value, pseudonym, secret, now);
}

function secureFlag(requestUrl: string): string {
  return new URL(requestUrl).protocol === "https:" ? "; Secure" : "";
}

/** The `Set-Cookie` value that stores a sealed digest until it expires. */
export function digestCookie(sealed: string, expires: number, now: number, requestUrl: string): string {
  const maxAge = Math.max(0, Math.floor((expires - now) / 1_000));
  return `${DIGEST_COOKIE}=${sealed}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secureFlag(requestUrl)}`;
}

/** The `Set-Cookie` value that removes the digest (the next page reads the object). */
export function expiredDigestCookie(requestUrl: string): string {
  return `${DIGEST_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secureFlag(requestUrl)}`;
}
